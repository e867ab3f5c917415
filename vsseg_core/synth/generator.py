"""Generate a Cityscapes-layout synthetic dataset: sequences of frames with labels."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vsseg_core import __version__
from vsseg_core.data.layout import (
    ANNOTATED_INDEX,
    SNIPPET_LENGTH,
    FrameId,
    image_path,
    label_path,
)
from vsseg_core.image_io import write_png
from vsseg_core.staging import staged_directory
from vsseg_core.synth.config import SynthConfig
from vsseg_core.synth.effects import Conditions
from vsseg_core.synth.frame import FrameRenderer
from vsseg_core.synth.scene import Scene
from vsseg_core.synth.seeding import rng_for
from vsseg_core.synth.speed import sequence_profile

MANIFEST = "synth.json"


@dataclass(frozen=True)
class SynthFrame:
    """One generated frame: RGB (H, W, 3) uint8 and Cityscapes labelIds (H, W) uint8."""

    fid: FrameId
    rgb: np.ndarray
    label_ids: np.ndarray
    scene_cut: bool
    ego_speed: float
    """Ego speed at this frame, m/s."""
    profile: str
    """The sequence's ego speed profile (one of ``speed.PROFILES``)."""


def iter_sequence(config: SynthConfig, seq: int, renderer: FrameRenderer | None = None
                  ) -> Iterator[SynthFrame]:
    """Frames of sequence ``seq`` in order; deterministic in (config, seq). A scene cut keeps
    the sequence's speed profile (for ``mixed``: the one drawn for ``seq``)."""
    renderer = renderer or FrameRenderer(config.height, config.width)
    duration = config.frames / config.fps
    cond = Conditions.random(rng_for(config.seed, seq, 5), config)
    cuts = rng_for(config.seed, seq, 7).random(config.frames) < config.cut_rate
    cuts[0] = False
    scene_index, scene_start = 0, 0
    profile = sequence_profile(config.profile, config.seed, seq)

    def make_scene(index: int) -> Scene:
        return Scene(config.seed, seq * 10_000 + index, turn=config.turn, max_speed=config.speed,
                     lighting=config.lighting, duration_s=duration, profile=profile)

    scene = make_scene(0)
    for frame in range(config.frames):
        if cuts[frame]:
            scene_index, scene_start = scene_index + 1, frame
            scene = make_scene(scene_index)
        t = (frame - scene_start) / config.fps
        rgb, label_ids = renderer.render(scene, t, cond, rng_for(config.seed, seq, 4, frame),
                                         fps=config.fps, jpeg=config.jpeg)
        yield SynthFrame(FrameId(config.city, seq, frame), rgb, label_ids, bool(cuts[frame]),
                         scene.track.pose(t).speed, profile)


def generate(config: SynthConfig, out_dir: str | Path, *, overwrite: bool = False,
             on_frame: Callable[[SynthFrame], None] | None = None) -> dict:
    """Write the dataset to ``out_dir`` and return its manifest (also saved as synth.json).

    Frames are written to a staging directory beside ``out_dir`` that replaces it only when
    every frame is written, so an error or Ctrl-C never leaves a partial dataset behind.
    ``on_frame`` is called after each frame (progress bars, previews). The manifest's
    ``sequences`` lists each sequence's speed profile and ego speed per frame (m/s).
    """
    started = time.perf_counter()
    pixel_counts = np.zeros(256, np.int64)
    with staged_directory(out_dir, overwrite=overwrite) as staging:
        renderer = FrameRenderer(config.height, config.width)
        cuts = 0
        motion: list[dict] = []
        for seq in range(config.sequences):
            speeds: list[float] = []
            motion.append({"seq": seq, "profile": sequence_profile(config.profile, config.seed, seq),
                           "ego_speed_mps": speeds})
            for item in iter_sequence(config, seq, renderer):
                speeds.append(round(item.ego_speed, 3))
                write_png(image_path(staging, "leftImg8bit_sequence", config.split, item.fid), item.rgb)
                write_png(label_path(staging, "gtFine_sequence", config.split, item.fid), item.label_ids)
                if item.fid.frame % SNIPPET_LENGTH == ANNOTATED_INDEX:
                    write_png(label_path(staging, "gtFine", config.split, item.fid), item.label_ids)
                pixel_counts += np.bincount(item.label_ids.ravel(), minlength=256)
                cuts += item.scene_cut
                if on_frame is not None:
                    on_frame(item)
        manifest = {
            "generator": f"vsseg_core.synth {__version__}",
            "config": asdict(config),
            "frames": config.sequences * config.frames,
            "scene_cuts": int(cuts),
            "sequences": motion,
            "label_pixels": {str(i): int(c) for i, c in enumerate(pixel_counts) if c},
            "seconds": round(time.perf_counter() - started, 2),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
