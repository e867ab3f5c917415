#!/usr/bin/env bash
# Build the ROS 2 interfaces in msg/ against the ROS Jazzy wheels installed in a venv and install
# them into that venv, so that `<venv>/bin/python -c "from vsseg.msg import SegmentationInfo"`
# works with no extra environment. The vsseg Python packages are not installed here (they come
# from `pip install -e .`).
#
#   usage: tools/build_interfaces.sh [VENV]     (default: .venv)
#
# Needs cmake, make and a C/C++ compiler, and `pip install -r requirements-ros.txt` done first.
# Re-running is incremental. Nothing is copied into the venv unless configure, build and a
# staged install all succeed. Log: build/interfaces/build.log.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv_arg="${1:-.venv}"
build="$repo/build/interfaces"
log="$build/build.log"

die() { echo "build_interfaces: error: $*" >&2; exit 1; }

[[ -x "$venv_arg/bin/python" ]] || die "no Python at $venv_arg/bin/python: pass the venv path (default .venv)"
venv="$(cd "$venv_arg" && pwd)"
python="$venv/bin/python"
for tool in cmake make cc c++; do
  command -v "$tool" >/dev/null || die "'$tool' not found: install cmake, make and a C/C++ compiler"
done
[[ -f "$venv/share/rosidl_default_generators/cmake/rosidl_default_generators-config.cmake" ||
   -f "$venv/share/rosidl_default_generators/cmake/rosidl_default_generatorsConfig.cmake" ]] ||
  die "ROS wheels missing in $venv: run $python -m pip install -r $repo/requirements-ros.txt"

# A build directory configured for another venv is useless here: start it afresh.
mkdir -p "$build"
if [[ -f "$build/venv" && "$(cat "$build/venv")" != "$venv" ]]; then
  rm -rf "$build"
  mkdir -p "$build"
fi
echo "$venv" >"$build/venv"

# The venv is the only ROS prefix: never mix in a sourced /opt/ros setup.
export AMENT_PREFIX_PATH="$venv"
export CMAKE_PREFIX_PATH="$venv"
export PATH="$venv/bin:$PATH"

run() {  # run STEP COMMAND...: log the output, show its tail and stop if the step fails
  local step="$1"; shift
  echo "build_interfaces: $step" >&2
  if ! "$@" >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "$step failed (full log: $log); $venv was not changed"
  fi
}

: >"$log"
start=$SECONDS
run "configure" cmake -S "$repo" -B "$build/cmake" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$venv" \
  -DCMAKE_PREFIX_PATH="$venv" \
  -DPython3_EXECUTABLE="$python" \
  -DPython3_FIND_VIRTUALENV=ONLY \
  -DBUILD_TESTING=OFF \
  -DVSSEG_INSTALL_PYTHON_PACKAGES=OFF
run "build" cmake --build "$build/cmake" --parallel "$(nproc)"
rm -rf "$build/stage"
run "staged install" env DESTDIR="$build/stage" cmake --install "$build/cmake"
# rosidl registers the generated `vsseg` package as a distribution named vsseg, the name that
# `pip install -e .` uses too: pip would then uninstall the generated package along with it.
rm -rf "$build/stage$venv"/lib/python*/site-packages/vsseg-*.egg-info
run "copy into $venv" cp -a "$build/stage$venv/." "$venv/"
run "import check" "$python" -c "from vsseg.msg import ClassMap, SegmentationInfo, SemanticClass"
echo "build_interfaces: vsseg interfaces installed into $venv ($((SECONDS - start)) s)" >&2
