"""Generate synthetic Cityscapes-style driving video with a label for every frame.

Writes leftImg8bit_sequence/, gtFine_sequence/ (labelIds for every frame), gtFine/ (frame 19
of every 30-frame snippet, as in Cityscapes) and synth.json (the exact options, and each
sequence's speed profile and ego speed per frame) under --out.
Same options and --seed give byte-identical files. Output appears only when complete.

example:
  vsseg synth --out data/synth --sequences 2 --frames 30 --size 256x512 --seed 7 \\
      --preview out/synth_preview.png
  vsseg synth --out data/synth_mixed --sequences 10 --size 256x512 --profile mixed
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from vsseg_core.cli.args import png_arg, size_arg
from vsseg_core.image_io import write_png_atomic
from vsseg_core.labels import colorize, label_ids_to_train_ids
from vsseg_core.synth.config import SynthConfig
from vsseg_core.synth.generator import SynthFrame, generate
from vsseg_core.synth.speed import PROFILE_CHOICES
from vsseg_core.visualize import contact_sheet, overlay

NAME = "synth"
HELP = "generate synthetic Cityscapes-style driving video with labels"
PREVIEW_FRAMES = 4
"""Frames per sequence shown in the preview contact sheet."""
PREVIEW_SEQUENCES = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = SynthConfig()
    parser.add_argument("--out", required=True, type=Path, help="output dataset directory")
    parser.add_argument("--sequences", type=int, default=d.sequences, help="number of sequences (default %(default)s)")
    parser.add_argument("--frames", type=int, default=d.frames, help="frames per sequence (default %(default)s)")
    parser.add_argument("--size", type=size_arg, default=(d.height, d.width), metavar="HxW",
                        help="frame size, H:W = 1:2, H a multiple of 32 (default 1024x2048)")
    parser.add_argument("--split", default=d.split, help="split folder name (default %(default)s)")
    parser.add_argument("--city", default=d.city, help="city name used in file names (default %(default)s)")
    parser.add_argument("--seed", type=int, default=d.seed, help="random seed (default %(default)s)")
    parser.add_argument("--fps", type=float, default=d.fps, help="frame rate in Hz (default %(default)s)")
    knobs = parser.add_argument_group("conditions (upper bounds; each sequence draws its own)")
    knobs.add_argument("--speed", type=float, default=d.speed, help="max ego speed, m/s (default %(default)s)")
    knobs.add_argument("--turn", type=float, default=d.turn, help="road bends and steering, 0..3 (default %(default)s)")
    knobs.add_argument("--lighting", type=float, default=d.lighting,
                       help="sun/shade/exposure variation, 0..1 (default %(default)s)")
    knobs.add_argument("--weather", type=float, default=d.weather,
                       help="haze, rain streaks, sensor noise, 0..1 (default %(default)s)")
    knobs.add_argument("--cut-rate", type=float, default=d.cut_rate,
                       help="probability per frame of an abrupt scene cut, 0..1 (default %(default)s)")
    knobs.add_argument("--profile", choices=PROFILE_CHOICES, default=d.profile,
                       help="ego speed profile: cruise (random speed targets, rare stops), "
                            "stop_and_go (stands 1-4 s, pulls away, brakes to a stop, again), "
                            "varying (speed swings smoothly from 0.1 to 1 of --speed, slow turns), "
                            "parked (ego stands still, traffic moves), mixed (each sequence draws "
                            "one of the others) (default %(default)s)")
    knobs.add_argument("--no-jpeg", action="store_true", help="skip simulated compression artefacts")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--preview", type=png_arg, metavar="FILE.png",
                        help="also write a contact sheet (frames beside coloured labels)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    height, width = args.size
    config = SynthConfig(
        sequences=args.sequences, frames=args.frames, height=height, width=width,
        split=args.split, city=args.city, seed=args.seed, fps=args.fps, speed=args.speed,
        turn=args.turn, lighting=args.lighting, weather=args.weather, cut_rate=args.cut_rate,
        jpeg=not args.no_jpeg, profile=args.profile,
    )
    picks = {round(i * (config.frames - 1) / max(1, PREVIEW_FRAMES - 1)) for i in range(PREVIEW_FRAMES)}
    shown: list[tuple[str, list]] = []
    bars: list[tqdm] = []  # opened at the first frame, after the output directory was accepted

    def on_frame(item: SynthFrame) -> None:
        if not bars:
            bars.append(tqdm(total=config.sequences * config.frames, unit="frame",
                             disable=args.quiet, desc="vsseg synth", mininterval=1.0))
        bars[0].update(1)
        if args.preview is not None and item.fid.seq < PREVIEW_SEQUENCES and item.fid.frame in picks:
            train_ids = label_ids_to_train_ids(item.label_ids)
            caption = item.fid.stem + (" (cut)" if item.scene_cut else "")
            shown.append((caption, [item.rgb, colorize(train_ids), overlay(item.rgb, train_ids)]))

    try:
        manifest = generate(config, args.out, overwrite=args.overwrite, on_frame=on_frame)
    finally:
        for bar in bars:
            bar.close()
    print(f"wrote {manifest['frames']} frames ({config.sequences} sequences, {height}x{width}) "
          f"to {args.out} in {manifest['seconds']:.1f} s "
          f"({manifest['frames'] / max(manifest['seconds'], 1e-6):.2f} frames/s)")
    if args.preview is not None:
        write_png_atomic(args.preview, contact_sheet(shown))
        print(f"preview: {args.preview}")
    return 0
