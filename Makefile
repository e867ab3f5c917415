# vsseg developer entry points. Everything installs into .venv/ at the repository root.
#   make demo   set everything up, then run the main job (see README)
#   make test   set everything up, then run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vsseg-installed
DEMO_DIR := out/demo

.PHONY: setup demo test typecheck bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-ros.txt requirements-typing.txt setup.py package.xml CMakeLists.txt \
		$(wildcard msg/*.msg) $(wildcard launch/*.py) $(wildcard config/*)
	@$(PYTHON) -c 'import sys; sys.exit("vsseg needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-ros.txt
	rm -rf $(VENV)/typing && $(PY) -m pip install --quiet --disable-pip-version-check --no-deps \
		--target $(VENV)/typing -r requirements-typing.txt
	bash tools/build_interfaces.sh $(VENV)
	touch $(STAMP)

demo: setup
	$(VENV)/bin/vsseg synth --out $(DEMO_DIR)/synth --sequences 4 --frames 30 --size 256x512 \
		--seed 2026 --profile mixed --overwrite --preview $(DEMO_DIR)/synth_preview.png
	$(VENV)/bin/vsseg segment --input $(DEMO_DIR)/synth --out $(DEMO_DIR)/segment --overwrite --policy adaptive \
		--preview $(DEMO_DIR)/segment_preview.png
	rm -rf $(DEMO_DIR)/synth.bag $(DEMO_DIR)/replay.bag
	$(VENV)/bin/vsseg bag from-cityscapes --data $(DEMO_DIR)/synth --out $(DEMO_DIR)/synth.bag \
		--with-labels --quiet
	$(VENV)/bin/vsseg bag replay --in $(DEMO_DIR)/synth.bag --out $(DEMO_DIR)/replay.bag \
		--overlay $(DEMO_DIR)/node_overlay.png
	$(VENV)/bin/vsseg bench --data $(DEMO_DIR)/synth --split train --quiet \
		--policies per_frame,fixed:5,adaptive --plot $(DEMO_DIR)/policy_curve.png

test: setup
	$(PY) -m pytest

typecheck: setup
	$(PY) tools/typecheck_tensorrt.py

bench: setup
	$(PY) benchmarks/synth_bench.py
	$(PY) benchmarks/model_bench.py
	$(PY) benchmarks/train_step_bench.py

clean:
	rm -rf $(VENV) out build *.egg-info
