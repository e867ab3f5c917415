"""GPU latency per backend: every bundle graph, and keyframes vs propagated frames end to end.

Run once on a machine with a CUDA GPU, from the repository root:

    .venv/bin/python benchmarks/gpu_bench.py --json out/gpu_bench.json > out/gpu_bench.md
    .venv/bin/python benchmarks/gpu_bench.py --skip-full-res --deployment resnet18,resnet50 \
        --json out/gpu_bench_deployment.json

Progress and device details go to stderr; the Markdown section (stdout, also written beside the
JSON) goes into docs/benchmarks.md with its date and machine; the JSON keeps every number.

Backends: torch fp16 and fp32 on CUDA, onnxruntime with CUDAExecutionProvider, tensorrt fp16
(one that cannot be created is listed as skipped, with the reason). Measured for each:
1. graph latency (low, high, full, prop): median and p95 ms of ``--runs`` calls after warm-ups,
   batch 1, at the bundle's input size (shipped model: 256x512) and for the same architecture
   exported for a 1024x2048 network input with random weights and an untrained (zero-init)
   propagation head, as latency does not depend on the weights;
2. ``VideoSegmenter.step`` on ``--frames`` synthetic 1024x2048 driving frames, policy fixed:5:
   mean/median total ms of keyframes and of propagated frames, and per-stage medians;
3. both of the above for the deployment PSPNets of ``benchmarks/deployment_bench.py`` (width
   1.0, output stride 8, random weights) at 1024x2048, for every ``--deployment`` backbone and
   ``--deployment-propagation`` mode: the GPU side of that script's CPU table.
Backends return numpy arrays (host copies), so a ``run`` has finished on the GPU when it
returns: all times include the host->device input and device->host output copies.
``--device cpu`` is a dry run on the CPU (torch fp32, onnxruntime) to test this script.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.util
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from tqdm import tqdm

from vsseg_core.bundle import Bundle
from vsseg_core.errors import VssegError
from vsseg_core.export import export_bundle
from vsseg_core.model.graphs import build_propagation
from vsseg_core.model.pspnet import PSPNet
from vsseg_core.model.resnet import SPECS as RESNETS
from vsseg_core.runtime.base import Backend
from vsseg_core.runtime.engine_cache import EngineOptions
from vsseg_core.runtime.factory import create_backend, tensorrt_unavailable
from vsseg_core.runtime.onnxruntime_backend import OnnxRuntimeBackend
from vsseg_core.synth.config import SynthConfig
from vsseg_core.synth.generator import iter_sequence
from vsseg_core.temporal.video import STAGES, VideoSegmenter


def _sibling_script(name: str):
    """benchmarks/<name>.py as a module (benchmarks/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


timed = _sibling_script("model_bench").timed
"""(median, p95) ms of a call: the same measurement as benchmarks/model_bench.py's tables."""
deployment = _sibling_script("deployment_bench")
"""benchmarks/deployment_bench.py: its deployment PSPNet configurations, timed here on the GPU."""

GRAPHS = ("low", "high", "full", "prop")
FULL_RES = (1024, 2048)
"""Network input (H, W) of the random-weights bundle, and (H, W) of the synthetic frames."""
POLICY = "fixed:5"
FPS = 17.0
"""Frame rate of the synthetic sequence (as Cityscapes), Hz."""
BACKENDS = {"cuda": (("torch", "fp16"), ("torch", "fp32"), ("onnxruntime", "fp32"), ("tensorrt", "fp16")),
            "cpu": (("torch", "fp32"), ("onnxruntime", "fp32"))}
DEPLOYMENT_BACKBONES = tuple(RESNETS)
"""Backbones ``--deployment`` accepts (those ``ModelConfig`` builds)."""
WARMUPS = {"cuda": 10, "cpu": 2}
"""Untimed calls per graph before the timed ones."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def tensorrt_version() -> str | None:
    """TensorRT's version; None where the tensorrt backend cannot run (see the factory)."""
    if tensorrt_unavailable() is not None:
        return None
    import tensorrt

    return tensorrt.__version__


def device_info(device: str) -> dict:
    """Date, host, library versions and, on CUDA, the GPU (memory in GiB) and driver."""
    info: dict = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "host": platform.node(), "cpu": platform.processor() or platform.machine(),
                  "cpu_cores": os.cpu_count(), "python": platform.python_version(),
                  "torch": torch.__version__, "onnxruntime": ort.__version__,
                  "onnxruntime_providers": ort.get_available_providers(),
                  "tensorrt": tensorrt_version(), "dry_run": device == "cpu"}
    if device == "cuda":
        smi = shutil.which("nvidia-smi")
        query = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                               capture_output=True, text=True, check=False).stdout if smi else ""
        info.update(gpu=torch.cuda.get_device_name(0),
                    compute_capability="{}.{}".format(*torch.cuda.get_device_capability(0)),
                    gpu_memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    driver=(query.split() or ["unknown"])[0])
    return info


def full_res_bundle(source: Bundle, out: Path, size: tuple[int, int] = FULL_RES) -> Bundle:
    """``source``'s architecture and propagation mode exported for a ``size`` (default
    1024x2048) network input: random weights and an untrained propagation module (its last
    layer starts at zero)."""
    torch.manual_seed(0)
    model = PSPNet(dataclasses.replace(source.config, input_size=size)).eval()
    settings = source.propagation or {"mode": "flow"}
    propagation = build_propagation(model, settings["mode"],
                                    **{k: v for k, v in settings.items() if k != "mode"})
    # deployment_bench's block: no scene cuts (random features must not force keyframes)
    temporal = {**deployment.temporal_block(settings["mode"]), "propagation": settings}
    if settings["mode"] == "flow":
        temporal["flow_scale"] = source.temporal["flow_scale"] if source.temporal else 0.5
    return export_bundle(model, out, provenance={"benchmark": "random weights"},
                         propagation=propagation.eval(), temporal=temporal)


def deployment_bundle(backbone: str, mode: str, out: Path, size: tuple[int, int] = FULL_RES) -> Bundle:
    """deployment_bench's PSPNet of ``backbone`` (width 1.0, OS8) with propagation ``mode``,
    exported for a ``size`` network input: random weights, untrained propagation."""
    torch.manual_seed(0)
    model = PSPNet(deployment.deployment_config(backbone, size)).eval()
    return export_bundle(model, out, provenance={"benchmark": "random weights"},
                         propagation=deployment.make_propagation(model, mode),
                         temporal=deployment.temporal_block(mode))


def ort_fallback(backend: Backend) -> list[str]:
    """Graphs that onnxruntime, asked for CUDA, runs on the CPU provider (it falls back silently
    when the CUDA libraries cannot be loaded)."""
    if not isinstance(backend, OnnxRuntimeBackend) or not backend.device.startswith("cuda"):
        return []
    return [g for g in GRAPHS if g in backend.bundle.graphs
            and backend.provider(g) != "CUDAExecutionProvider"]


def graph_latency(backend: Backend, bundle: Bundle, runs: int, warmups: int) -> list[dict]:
    """Median and p95 ms of ``backend.run`` per graph over ``runs`` calls after ``warmups``;
    inputs: images uniform in 0..255, features and flow standard normal."""
    rows, rng = [], np.random.default_rng(0)
    for graph in (g for g in GRAPHS if g in bundle.graphs):
        inputs = {k: (rng.uniform(0, 255, s) if k == "image" else rng.standard_normal(s))
                  .astype(np.float32) for k, s in bundle.graph(graph).inputs.items()}
        for _ in range(warmups - 2):  # timed() makes two more
            backend.run(graph, inputs)
        median, p95 = timed(lambda: backend.run(graph, inputs), runs)
        rows.append({"graph": graph, "runs": runs, "median_ms": median, "p95_ms": p95})
        log(f"    {graph:5s} median {median:8.2f} ms  p95 {p95:8.2f} ms")
    return rows


def video_timing(backend: Backend, bundle: Bundle, frames: list[np.ndarray]) -> list[dict]:
    """Per frame kind (keyframe, propagated): frame count, mean and median total ms and the
    median ms of every stage of ``VideoSegmenter.step`` over ``frames`` (after a warm-up)."""
    with VideoSegmenter(bundle, backend, POLICY) as segmenter:
        segmenter.warmup()
        for i, frame in enumerate(frames[:2]):  # first-frame costs (resize, DIS) untimed
            segmenter.step(frame, i / FPS)
        segmenter.reset()
        results = [segmenter.step(frame, i / FPS) for i, frame in enumerate(frames)]
    rows = []
    for kind, keyframe in (("keyframe", True), ("propagated", False)):
        timings = [r.timings_ms for r in results if r.keyframe == keyframe]
        if timings:
            totals = [t["total"] for t in timings]
            rows.append({"kind": kind, "frames": len(timings), "mean_total_ms": statistics.fmean(totals),
                         "median_total_ms": statistics.median(totals),
                         "stages_median_ms": {s: statistics.median(t[s] for t in timings)
                                              for s in STAGES if s != "total"}})
            log(f"    {kind:10s} {len(timings):3d} frames, median total "
                f"{rows[-1]['median_total_ms']:8.2f} ms")
    return rows


def measure(bundle: Bundle, device: str, runs: int, frames: list[np.ndarray], report: dict,
            engines: Path, model: str = "shipped model") -> None:
    """Append the graph latency and video rows of every backend for ``bundle`` (named ``model``
    in the rows) to ``report``; TensorRT builds its engines into ``engines``."""
    size = "{}x{}".format(*bundle.input_size)
    for name, precision in BACKENDS[device]:
        key = {"model": model, "backend": name, "precision": precision, "network_input": size}
        log(f"  {name} {precision} @ {size}")
        created = False
        try:
            with create_backend(name, bundle, device=device, precision=precision,
                                engine=EngineOptions(cache_dir=engines), log=log) as backend:
                created, key["device"] = True, backend.device
                latency = graph_latency(backend, bundle, runs, WARMUPS[device])
                report["latency"] += [{**key, **row} for row in latency]
                if "prop" in bundle.graphs:
                    report["video"] += [{**key, **row} for row in video_timing(backend, bundle, frames)]
                else:
                    note(report, "skipped", key, "no prop graph, so no keyframe/propagated rows")
                if cpu_graphs := ort_fallback(backend):
                    note(report, "failed", key, f"fell back to the CPU for {', '.join(cpu_graphs)}")
        except (VssegError, ImportError) as exc:
            note(report, "failed" if created else "skipped", key, str(exc))
        except Exception as exc:  # the one GPU run must still produce everything else
            traceback.print_exc()
            note(report, "failed", key, f"{type(exc).__name__}: {exc}")


def note(report: dict, kind: str, key: dict, reason: str) -> None:
    """Record (and show) a backend that was skipped or failed."""
    log(f"    {kind}: {reason}")
    report[kind].append({**key, "reason": f"{kind}: {reason}"})


def markdown(report: dict) -> str:
    """The section for docs/benchmarks.md."""
    d = report["device"]
    if d["dry_run"]:
        machine = f"**CPU DRY RUN, not GPU numbers**: {d['cpu']}, {d['cpu_cores']} cores"
    else:
        machine = (f"{d['gpu']} (compute capability {d['compute_capability']}, "
                   f"{d['gpu_memory_gib']} GiB), driver {d['driver']}, CUDA {d['cuda']}, "
                   f"cuDNN {d['cudnn']}")
    runs = f"{report['runs']} calls" + (f" ({report['runs_full_res']} at 1024x2048)"
                                         if report["runs_full_res"] != report["runs"] else "")
    copies = "" if d["dry_run"] else ("; every call includes the host->device copies of its inputs "
                                      "and the device->host copies of its outputs")
    lines = [f"## GPU latency ({d['date'][:10]}, host {d['host']})", "",
             f"Machine: {machine}; torch {d['torch']}, ONNX Runtime {d['onnxruntime']}, "
             f"TensorRT {d['tensorrt'] or 'not installed'}.", "",
             f"Command: `.venv/bin/python benchmarks/gpu_bench.py {report['command']}`".rstrip(), "",
             f"Median and p95 of {runs} after {report['warmups']} warm-ups, batch 1{copies}. "
             "Rows other than the shipped model's: random weights and untrained propagation "
             "(latency does not depend on the weights); \"shipped architecture\" is the shipped "
             "network exported for a 1024x2048 input, \"resnet*-d8\" the deployment PSPNets of "
             "benchmarks/deployment_bench.py (width 1.0, output stride 8, head 512, stride-4 "
             "decoder 128) at 1024x2048.", "",
             "| model | backend | precision | graph | network input | median ms | p95 ms |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['backend']} ({r['device']}) | {r['precision']} | {r['graph']} | "
              f"{r['network_input']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} |"
              for r in report["latency"]]
    stages = [s for s in STAGES if s != "total"]
    lines += ["", f"End to end (`VideoSegmenter.step`, policy {POLICY}, {report['frames']} synthetic "
              f"{FULL_RES[0]}x{FULL_RES[1]} frames; mean/median of total, stage medians; ms):", "",
              "| model | backend | precision | network input | frame kind | frames | median total | "
              "mean total | " + " | ".join(stages) + " |", "|---" * (8 + len(stages)) + "|"]
    lines += [f"| {r['model']} | {r['backend']} ({r['device']}) | {r['precision']} | {r['network_input']} | "
              f"{r['kind']} | {r['frames']} | {r['median_total_ms']:.2f} | {r['mean_total_ms']:.2f} | "
              + " | ".join(f"{r['stages_median_ms'][s]:.2f}" for s in stages) + " |"
              for r in report["video"]]
    notes = report["skipped"] + report["failed"]
    lines += [""] + [f"- {r['model']}, {r['backend']} {r['precision']} @ {r['network_input']}: {r['reason']}"
                     for r in notes]
    return "\n".join(lines).rstrip() + "\n"


def measure_deployment(backbone: str, mode: str, device: str, frames: list[np.ndarray],
                       report: dict, tmp: Path) -> None:
    """Export deployment_bench's PSPNet of ``backbone`` with propagation ``mode`` at 1024x2048
    into ``tmp`` and append its rows to ``report`` (an export failure becomes a failed note)."""
    name = f"{backbone}-d8 {mode}"
    log(f"exporting the deployment PSPNet {name} at 1024x2048 (parity check on the CPU)")
    try:
        bundle = deployment_bundle(backbone, mode, tmp / name.replace(" ", "_"))
    except Exception as exc:  # keep the numbers measured so far
        traceback.print_exc()
        note(report, "failed", {"model": name, "backend": "export", "precision": "-",
                                "network_input": "1024x2048"}, f"{type(exc).__name__}: {exc}")
        return
    measure(bundle, device, report["runs_full_res"], frames, report, tmp / "engines", model=name)
    shutil.rmtree(bundle.root)


def write_report(report: dict, path: Path) -> str:
    """Write ``report`` to ``path`` (JSON) and its Markdown beside it; returns the Markdown."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    path.with_suffix(".md").write_text(text := markdown(report))
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="bundle (default: the shipped model)")
    parser.add_argument("--runs", type=int, default=50, help="timed calls per graph (default 50)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cuda (default), or cpu for a dry run of this script")
    parser.add_argument("--skip-full-res", action="store_true", help="skip the 1024x2048 network input")
    parser.add_argument("--deployment", default="",
                        help="also time deployment PSPNets at 1024x2048 with these backbones, "
                             f"comma-separated, of: {', '.join(DEPLOYMENT_BACKBONES)} (e.g. "
                             "resnet18,resnet50; default none: each adds a CPU export of minutes "
                             "and a TensorRT build)")
    parser.add_argument("--deployment-propagation", default="flow,kernel",
                        help="their propagation modes, comma-separated (default flow,kernel)")
    parser.add_argument("--frames", type=int, default=30, help="synthetic frames (default 30)")
    parser.add_argument("--json", type=Path, default=Path("out/gpu_bench.json"),
                        help="results (default out/gpu_bench.json; the Markdown goes beside it)")
    args = parser.parse_args()
    if args.runs < 1 or args.frames < 2:
        parser.error("--runs must be >= 1 and --frames >= 2")
    backbones = [b for b in args.deployment.split(",") if b]
    modes = [m for m in args.deployment_propagation.split(",") if m]
    if unknown := sorted(set(backbones) - set(DEPLOYMENT_BACKBONES)):
        parser.error(f"--deployment: unknown backbone {unknown[0]!r}; choose from {', '.join(DEPLOYMENT_BACKBONES)}")
    if unknown := sorted(set(modes) - set(deployment.PROPAGATIONS)):
        parser.error(f"--deployment-propagation: unknown mode {unknown[0]!r}; choose from "
                     f"{', '.join(deployment.PROPAGATIONS)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"error: no CUDA GPU visible to PyTorch (torch {torch.__version__}, CUDA build "
              f"{torch.version.cuda}); run this on a machine with an NVIDIA GPU, its driver and a "
              "CUDA build of torch, or use --device cpu for a dry run", file=sys.stderr)
        return 1
    info = device_info(args.device)
    log("\n".join(f"{k}: {v}" for k, v in info.items()))
    report: dict = {"device": info, "command": shlex.join(sys.argv[1:]), "runs": args.runs,
                    # a CPU dry run times fewer calls at 1024x2048 (about 1 s each)
                    "runs_full_res": args.runs if args.device == "cuda" else min(args.runs, 5),
                    "warmups": WARMUPS[args.device], "frames": args.frames, "policy": POLICY,
                    "latency": [], "video": [], "skipped": [], "failed": []}
    config = SynthConfig(sequences=1, frames=args.frames, height=FULL_RES[0], width=FULL_RES[1], seed=11)
    frames = [item.rgb for item in tqdm(iter_sequence(config, 0), total=args.frames,
                                        desc="synthetic frames", unit="frame")]
    bundle = Bundle.load(args.model)
    log(f"bundle {bundle.root} (graphs {', '.join(bundle.graphs)})")
    with tempfile.TemporaryDirectory() as tmp:
        engines = Path(tmp) / "engines"  # this run's own TensorRT engines, not the user's cache
        measure(bundle, args.device, args.runs, frames, report, engines)
        if not args.skip_full_res:
            log("exporting the 1024x2048 random-weights bundle (parity check on the CPU)")
            try:
                big = full_res_bundle(bundle, Path(tmp) / "full_res")
            except Exception as exc:  # keep the numbers measured so far
                traceback.print_exc()
                note(report, "failed", {"model": "shipped architecture", "backend": "export",
                                        "precision": "-", "network_input": "1024x2048"}, f"{type(exc).__name__}: {exc}")
            else:
                measure(big, args.device, report["runs_full_res"], frames, report, engines,
                        model="shipped architecture")
        write_report(report, args.json)
        for backbone in backbones:
            for mode in modes:
                measure_deployment(backbone, mode, args.device, frames, report, Path(tmp))
                write_report(report, args.json)  # each configuration takes minutes: keep it
    text = write_report(report, args.json)
    log(f"wrote {args.json} and {args.json.with_suffix('.md')}\n")
    print(text, end="", flush=True)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
