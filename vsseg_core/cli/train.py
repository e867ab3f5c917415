"""Train the segmentation network on a Cityscapes-layout dataset (synthetic or real).

Random scale/crop/flip and colour jitter, cross-entropy with ignore 255 (+ auxiliary loss),
AdamW with warm-up and poly learning rate, a checkpoint every --checkpoint-every iterations
(--resume continues exactly), a progress bar with the loss, and the validation mIoU at the end.
Deterministic for a given --seed on the same machine. Uses CUDA when present.

example (how the shipped model was trained, see docs/benchmarks.md):
  vsseg train --data data/synth_scenes --val-data data/synth_heldout --out runs/default \\
      --width 0.375 --head-channels 96 --output-stride 16 --decoder-channels 48 \\
      --iterations 3600 --export runs/default_bundle
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from vsseg_core.cli.args import size_arg
from vsseg_core.export import export_bundle, sample_frames
from vsseg_core.errors import VssegError
from vsseg_core.model.pspnet import ModelConfig, PSPNet
from vsseg_core.staging import check_output_directory
from vsseg_core.train.loop import TrainConfig, train
from vsseg_core.train.memory import keep_freed_memory

NAME = "train"
HELP = "train the network on a Cityscapes-layout dataset"
PROVENANCE = "provenance.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, m = TrainConfig(data=""), ModelConfig()
    parser.add_argument("--data", required=True, help="Cityscapes-layout root with labels")
    parser.add_argument("--split", default=d.split, help="training split (default %(default)s)")
    parser.add_argument("--val-data", help="validation root (default: none, no val mIoU)")
    parser.add_argument("--val-split", default=d.val_split, help="validation split (default %(default)s)")
    parser.add_argument("--out", required=True, type=Path, help="run directory (checkpoint, log)")
    parser.add_argument("--iterations", type=int, default=d.iterations, help="default %(default)s")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="default %(default)s")
    parser.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (default %(default)s)")
    parser.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="default %(default)s")
    parser.add_argument("--seed", type=int, default=d.seed, help="default %(default)s")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="data-loading processes; they change the speed, never the weights "
                             "(default: 0 on CPU, up to 8 with CUDA)")
    arch = parser.add_argument_group("architecture")
    arch.add_argument("--backbone", default=m.backbone, choices=["resnet18", "resnet34", "resnet50"])
    arch.add_argument("--width", type=float, default=m.width, help="channel width multiplier (default %(default)s)")
    arch.add_argument("--head-channels", type=int, default=m.head_channels, help="default %(default)s")
    arch.add_argument("--output-stride", type=int, default=m.output_stride, choices=[8, 16])
    arch.add_argument("--decoder-channels", type=int, default=m.decoder_channels,
                      help="channels of the stride-4 decoder that fuses deep and low-level "
                           "features (0 = plain PSPNet classifier; default %(default)s)")
    arch.add_argument("--size", type=size_arg, default=m.input_size, metavar="HxW",
                      help="network input size (default 256x512)")
    parser.add_argument("--init", metavar="BUNDLE", help="start from a bundle's weights (fine-tuning, "
                        "e.g. a stride-16 model continued at --output-stride 8); default: "
                        "from scratch")
    parser.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    parser.add_argument("--stop-after", type=int, metavar="N",
                        help="stop after iteration N with a checkpoint (continue later with --resume)")
    parser.add_argument("--export", type=Path, metavar="BUNDLE", help="export a bundle when done")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --export")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _architecture(args: argparse.Namespace) -> ModelConfig:
    """The model options, checked by building the network once (a bad value is a user error)."""
    try:
        model = ModelConfig(backbone=args.backbone, width=args.width,
                            output_stride=args.output_stride, head_channels=args.head_channels,
                            input_size=args.size, decoder_channels=args.decoder_channels)
        PSPNet(model)
    except ValueError as exc:
        raise VssegError(f"bad architecture option: {exc}") from None
    return model


def run(args: argparse.Namespace) -> int:
    config = TrainConfig(
        data=args.data, split=args.split, val_data=args.val_data, val_split=args.val_split,
        model=_architecture(args),
        iterations=args.iterations, batch_size=args.batch_size, lr=args.lr,
        checkpoint_every=args.checkpoint_every, seed=args.seed, init=args.init,
    )
    if args.export is not None:  # refused now, not after the training
        check_output_directory(args.export, overwrite=args.overwrite)
    command = "vsseg " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""
    keep_freed_memory()
    model, provenance = train(config, args.out, resume=args.resume, stop_after=args.stop_after,
                              progress=not args.quiet, command=command, workers=args.workers)
    if provenance is None:
        print(f"stopped after iteration {args.stop_after}; continue with the same options and --resume")
        return 0
    (args.out / PROVENANCE).write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"trained {config.iterations} iterations in {provenance['training_seconds']:.0f} s "
          f"on {provenance['machine']}")
    if "val" in provenance:
        print(f"validation mIoU: {100 * provenance['val']['miou']:.1f}%")
    if args.export is not None:
        frames = sample_frames(config.val_data or config.data,
                               config.val_split if config.val_data else config.split)
        bundle = export_bundle(model, args.export, provenance=provenance, parity_frames=frames,
                               overwrite=args.overwrite)
        print(f"exported bundle to {bundle.root} (parity: max |logit diff| "
              f"{bundle.meta['parity']['max_logit_diff']:.1e})")
    return 0

