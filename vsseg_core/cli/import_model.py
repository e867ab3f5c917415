"""Import a network trained elsewhere as a vsseg bundle (low/high/full graphs, weights,
model.json naming the source and its sha256), after which segment, eval, build-engine, the node
and train-propagation use it like any bundle.

  vsseg import mmseg --checkpoint FILE.pth --config CONFIG --out BUNDLE
      an OpenMMLab mmsegmentation PSPNet checkpoint (0.x or 1.x), logits identical to mmseg's
  vsseg import onnx MODEL.onnx --low TENSOR --deep TENSOR --mean R,G,B --std R,G,B --out BUNDLE
      any ONNX segmentation network, split at two of its tensors (per-frame use; the torch
      backend and train-propagation need a PyTorch network)

examples (the parity fixtures; a Cityscapes checkpoint needs only --checkpoint, --config, --out):
  vsseg import mmseg --checkpoint test/fixtures/mmseg/pspnet_r18-d8_tiny.pth \\
      --config pspnet_r18-d8 --base-channels 8 --channels 32 --input-size 64x128 --out bundles/r18
  vsseg import onnx test/fixtures/mmseg/pspnet_r18-d8_tiny_96x192.onnx \\
      --low /backbone/layer1/layer1.1/relu_1/Relu_output_0 --deep /bottleneck/activate/Relu_output_0 \\
      --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 --out bundles/r18_onnx
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from vsseg_core.bundle import sha256_file
from vsseg_core.cli.args import size_arg
from vsseg_core.export import export_bundle, sample_frames
from vsseg_core.importers import mmseg, onnx_split
from vsseg_core.runtime.processing import Preprocessor
from vsseg_core.staging import check_output_directory

NAME = "import"
HELP = "import an mmsegmentation PSPNet checkpoint or an ONNX network as a bundle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="import_command", metavar="SOURCE", required=True,
                                parser_class=type(parser))
    _add_mmseg(sub)
    _add_onnx(sub)


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, metavar="BUNDLE", help="bundle directory to write")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--data", help="Cityscapes-layout root whose first frames join the parity check")
    parser.add_argument("--split", default="val", help="split of --data (default %(default)s)")


def _add_mmseg(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "mmseg", help="an OpenMMLab mmsegmentation PSPNet checkpoint",
        description="Convert an mmsegmentation PSPNet checkpoint (ckpt['state_dict'], mmseg 0.x "
                    "or 1.x key names) into a bundle with the same logits. Supported configs: "
                    f"{', '.join(mmseg.MMSEG_CONFIGS)}.")
    parser.add_argument("--checkpoint", required=True, type=Path, metavar="FILE.pth")
    parser.add_argument("--config", required=True, metavar="CONFIG",
                        help="mmseg config name or file name, e.g. pspnet_r18-d8 or "
                             "pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py")
    parser.add_argument("--input-size", type=size_arg, default=mmseg.DEFAULT_INPUT_SIZE,
                        metavar="HxW", help="network input in pixels (default 1024x2048, what "
                                            "mmseg's Cityscapes test pipeline runs; smaller is "
                                            "faster and less accurate)")
    parser.add_argument("--base-channels", type=int, default=mmseg.BASE_CHANNELS,
                        help="the config's backbone base_channels = stem_channels (default %(default)s)")
    parser.add_argument("--channels", type=int, default=None,
                        help="the config's decode_head channels (default: the config's, 128 "
                             "for R18, 512 for R50/R101)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="unpickle Python objects besides tensors (runs code from the file)")
    _add_output(parser)
    parser.set_defaults(import_run=_mmseg)


def _three_numbers(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: give three comma-separated numbers (R,G,B)")
    return values  # type: ignore[return-value]


def _add_onnx(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "onnx", help="any ONNX segmentation network, split at two named tensors",
        description="Split an ONNX network (one float image input (1, 3, H, W) of fixed size, one "
                    "logits output (1, 19, h, w)) at --low and --deep into the bundle's low, high "
                    "and full graphs, with the declared normalisation in front, and check that "
                    "the halves chain to the original's logits. Tensor names are node outputs "
                    "(Netron shows them).")
    parser.add_argument("model", type=Path, metavar="MODEL.onnx")
    parser.add_argument("--low", required=True, metavar="TENSOR",
                        help="end of the cheap stage, e.g. the first backbone stage's output")
    parser.add_argument("--deep", required=True, metavar="TENSOR",
                        help="the features the classifier reads (propagated on non-keyframes)")
    parser.add_argument("--mean", required=True, type=_three_numbers, metavar="R,G,B",
                        help="subtracted from 0..255 pixels (ImageNet: 123.675,116.28,103.53; "
                             "none: 0,0,0)")
    parser.add_argument("--std", required=True, type=_three_numbers, metavar="R,G,B",
                        help="divides after the mean (ImageNet: 58.395,57.12,57.375; 0..1 "
                             "input: 255,255,255)")
    parser.add_argument("--bgr", action="store_true", help="the network takes BGR channel order")
    _add_output(parser)
    parser.set_defaults(import_run=_onnx)


def run(args: argparse.Namespace) -> int:
    return args.import_run(args)


def _command() -> str:
    return "vsseg " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""


def _mmseg(args: argparse.Namespace) -> int:
    check_output_directory(args.out, overwrite=args.overwrite)  # refused before the work
    config = mmseg.config_name(args.config)
    model, meta = mmseg.import_mmseg(args.checkpoint, config, input_size=args.input_size,
                                     base_channels=args.base_channels, channels=args.channels,
                                     trust=args.trust_checkpoint)
    source_meta = {k: meta[k] for k in ("mmseg_version", "mmengine_version", "experiment_name",
                                        "time", "config") if isinstance(meta.get(k), str)
                   and len(meta[k]) < 200}
    provenance = {"imported": {
        "source": "mmsegmentation", "config": config, "checkpoint": str(args.checkpoint),
        "checkpoint_sha256": sha256_file(args.checkpoint), "checkpoint_meta": source_meta,
        "base_channels": args.base_channels, "channels": model.config.head_channels,
        "command": _command()}}
    frames = sample_frames(args.data, args.split) if args.data else []
    bundle = export_bundle(model, args.out, provenance=provenance, parity_frames=frames,
                           overwrite=args.overwrite)
    cfg = model.config
    print(f"imported {config} ({cfg.backbone}, {cfg.input_size[0]}x{cfg.input_size[1]}, "
          f"{bundle.meta['parameters'] / 1e6:.2f} M parameters) to {bundle.root}: ONNX graphs "
          f"match PyTorch to {bundle.meta['parity']['max_logit_diff']:.1e}")
    return 0


def _onnx(args: argparse.Namespace) -> int:
    check_output_directory(args.out, overwrite=args.overwrite)
    normalisation = onnx_split.Normalisation(args.mean, args.std, args.bgr)
    provenance = {"imported": {"source": "onnx", "model": str(args.model),
                               "model_sha256": sha256_file(args.model) if args.model.is_file() else None,
                               "command": _command()}}
    frames = sample_frames(args.data, args.split) if args.data else []
    if frames:
        size = onnx_split.network_io(onnx_split.load_network(args.model))[1]
        frames = [Preprocessor(size)(frame)[0] for frame in frames]
    bundle = onnx_split.import_onnx(args.model, args.low, args.deep, args.out,
                                    normalisation=normalisation, provenance=provenance,
                                    overwrite=args.overwrite, frames=frames)
    parity = bundle.meta["parity"]
    print(f"imported {args.model.name} ({bundle.input_size[0]}x{bundle.input_size[1]}, low "
          f"{bundle.graph('low').outputs['low'][1:]}, deep {bundle.graph('high').outputs['deep'][1:]}) "
          f"to {bundle.root}: low -> high logits match the network to "
          f"{parity['max_logit_diff']:.1e} on {parity['frames']} images")
    return 0
