"""Export a training checkpoint to a model bundle (low/high/full ONNX graphs, weights,
model.json), checked against PyTorch before anything is written.

The provenance recorded by `vsseg train` (provenance.json next to the checkpoint) goes into
model.json. --data adds real frames to the parity check.

example:
  vsseg export --checkpoint runs/default/checkpoint.pt --out bundles/mine --data data/val
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import torch

from vsseg_core.cli.train import PROVENANCE
from vsseg_core.errors import VssegError
from vsseg_core.export import OPSET, export_bundle, sample_frames
from vsseg_core.model.pspnet import ModelConfig, PSPNet

NAME = "export"
HELP = "export a checkpoint to an ONNX model bundle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint.pt from vsseg train")
    parser.add_argument("--out", required=True, type=Path, help="bundle directory to write")
    parser.add_argument("--data", help="Cityscapes-layout root whose first frames join the parity check")
    parser.add_argument("--split", default="val", help="split of --data (default %(default)s)")
    parser.add_argument("--opset", type=int, default=OPSET, help="ONNX opset, 11..21 (default %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")


def load_checkpoint(path: Path) -> PSPNet:
    """Rebuild the network stored in a `vsseg train` checkpoint (eval mode, CPU)."""
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise VssegError(f"checkpoint {path} {problem}; pass the checkpoint.pt written by vsseg train")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        model = PSPNet(ModelConfig.from_json(state["config"]["model"]))  # no training-only aux head
        model.load_state_dict({k: v for k, v in state["model"].items() if not k.startswith("aux.")})
    except (OSError, RuntimeError, KeyError, TypeError, EOFError, ValueError, AttributeError,
            ImportError, pickle.UnpicklingError) as exc:
        raise VssegError(f"{path} is not a readable vsseg checkpoint ({exc}); re-run vsseg train") from exc
    return model.eval()


def run(args: argparse.Namespace) -> int:
    model = load_checkpoint(args.checkpoint)
    provenance_file = args.checkpoint.parent / PROVENANCE
    provenance = json.loads(provenance_file.read_text()) if provenance_file.is_file() else {
        "checkpoint": str(args.checkpoint)}
    frames = sample_frames(args.data, args.split) if args.data else []
    bundle = export_bundle(model, args.out, provenance=provenance, parity_frames=frames,
                           opset=args.opset, overwrite=args.overwrite)
    parity = bundle.meta["parity"]
    print(f"exported {', '.join(sorted(bundle.graphs))} to {bundle.root}: max |logit diff| "
          f"{parity['max_logit_diff']:.1e}, argmax agreement {100 * parity['min_argmax_agreement']:.2f}% "
          f"on {parity['frames']} inputs")
    return 0
