"""Inputs for INT8 calibration and for checking an engine: the tensors each graph really sees,
and the comparison of a candidate backend with a reference on them (`vsseg build-engine`).

Every bundle graph has different inputs (``low`` and ``full`` take the image, ``high`` the low
features of keyframes, ``prop`` a keyframe's features, the current low features and a flow
field). Rather than invent them, ``record_graph_inputs`` runs short clips of real frames
through ``VideoSegmenter`` on a reference backend (ONNX Runtime) with a fixed keyframe interval
and records what each graph is called with, so calibration and ``vsseg build-engine --check``
use exactly the pipeline's inputs.

    clips = sample_clips("data/synth_train", frames=64)        # or a rosbag2 directory
    inputs = record_graph_inputs(reference, clips)             # {graph: [ {name: array} ]}
    batches = CalibrationBatches(bundle.graph("high"), inputs["high"])

``CalibrationBatches`` (``vsseg_core.runtime.int8_batches``) batches them for TensorRT.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vsseg_core.bags.convert import DEFAULT_TOPIC
from vsseg_core.bags.io import open_reader, require_topic
from vsseg_core.bags.types import IMAGE, image_pixels, typestore
from vsseg_core.data.sources import open_frames
from vsseg_core.runtime.base import Backend
from vsseg_core.runtime.int8_batches import CalibrationError
from vsseg_core.temporal.video import VideoSegmenter

CLIP_LENGTH = 4
"""Frames per clip: one keyframe and three propagated frames (policy fixed:4)."""
FRAME_PERIOD_S = 1 / 17
"""Stamps given to calibration frames (Cityscapes' 17 Hz)."""


def _clip_frames(total: int, frames: int, clip_length: int) -> dict[int, int]:
    """{frame index: clip number} for ``ceil(frames / clip_length)`` clips of ``clip_length``
    consecutive frames spread evenly over ``total`` frames."""
    clips = -(-frames // clip_length)
    starts = sorted({int(round(s)) for s in np.linspace(0, max(0, total - clip_length), num=clips)})
    return {i: clip for clip, start in enumerate(starts)
            for i in range(start, min(total, start + clip_length))}


def _is_bag(path: Path) -> bool:
    return path.is_dir() and (path / "metadata.yaml").is_file()


def sample_clips(path: str | Path, *, frames: int, clip_length: int = CLIP_LENGTH,
                 topic: str = DEFAULT_TOPIC) -> list[list[np.ndarray]]:
    """About ``frames`` frames of ``path`` as clips of up to ``clip_length`` consecutive frames
    spread evenly over it (a clip ends where its sequence ends). ``path``: a Cityscapes-layout
    root, image folder or video (see ``vsseg_core.data.sources``), or a rosbag2 directory
    (images on ``topic``). Frames are
    (h, w, 3) uint8 RGB or (h, w) uint8 mono. Raises CalibrationError if nothing is found."""
    if frames < 1 or clip_length < 1:
        raise CalibrationError(f"need at least one frame and clip length >= 1, got {frames} frames, "
                               f"clip length {clip_length}")
    path = Path(path)
    clips: dict[int, list[np.ndarray]] = {}
    if _is_bag(path):
        store = typestore()
        with open_reader(path) as reader:
            require_topic(reader, topic, IMAGE)
            connections = [c for c in reader.connections if c.topic == topic]
            wanted = _clip_frames(sum(c.msgcount for c in connections), frames, clip_length)
            for index, (_, _, raw) in enumerate(reader.messages(connections)):
                if index in wanted:
                    clips.setdefault(wanted[index], []).append(
                        image_pixels(store.deserialize_cdr(raw, IMAGE)))
                if index >= max(wanted, default=-1):
                    break
    else:
        source = open_frames(path)
        wanted = _clip_frames(len(source), frames, clip_length)
        sequences: dict[int, str] = {}
        for frame in source:
            number = wanted.get(frame.index)
            if number is not None and sequences.setdefault(number, frame.sequence) == frame.sequence:
                clips.setdefault(number, []).append(frame.rgb)  # a clip ends with its sequence
            if frame.index >= max(wanted, default=-1):
                break
    if not clips:
        raise CalibrationError(f"no frames found in {path} for calibration; pass a Cityscapes-"
                               "layout directory, an image folder, a video or a bag with images "
                               f"on {topic}")
    return [clips[k] for k in sorted(clips)]


class _Recorder(Backend):
    """Runs another backend and keeps a copy of every input it is given, per graph."""

    name = "recorder"

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner.bundle, device=inner.device, precision=inner.precision)
        self.inner = inner
        self.recorded: dict[str, list[dict[str, np.ndarray]]] = {}

    def _run(self, graph: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.recorded.setdefault(graph, []).append({k: v.copy() for k, v in inputs.items()})
        return self.inner.run(graph, inputs)

    def _release(self) -> None:
        """The inner backend belongs to the caller."""


def record_graph_inputs(reference: Backend, clips: Sequence[Sequence[np.ndarray]]
                        ) -> dict[str, list[dict[str, np.ndarray]]]:
    """Run each clip through ``VideoSegmenter`` on ``reference`` and its bundle (a new stream
    per clip, a keyframe every ``len(clip)`` frames; per_frame when the bundle has no ``prop``)
    and return
    {graph: [inputs of each call, in order]} for ``low``, ``high``, ``prop`` and ``full`` (the
    images given to ``low``). Arrays are float32 of the bundle's shapes."""
    bundle, recorder = reference.bundle, _Recorder(reference)
    longest = max((len(clip) for clip in clips), default=0)
    policy = f"fixed:{longest}" if "prop" in bundle.graphs and longest > 1 else "per_frame"
    with VideoSegmenter(bundle, recorder, policy) as segmenter:
        for clip in clips:
            segmenter.reset()
            for index, frame in enumerate(clip):
                segmenter.step(frame, index * FRAME_PERIOD_S)
    recorded = recorder.recorded
    if "full" in bundle.graphs:
        recorded["full"] = [{"image": inputs["image"]} for inputs in recorded.get("low", [])]
    return recorded


def compare_backends(reference: Backend, candidate: Backend,
                     recorded: dict[str, list[dict[str, np.ndarray]]],
                     graphs: Sequence[str]) -> dict[str, dict[str, float | int]]:
    """Run ``graphs`` on both backends with the recorded inputs and return, per graph,
    ``samples``, ``max_abs_diff`` over every output and, for graphs with ``logits``,
    ``argmax_agreement`` (fraction of pixels whose class is the same, 0..1)."""
    report: dict[str, dict[str, float | int]] = {}
    for graph in graphs:
        samples = recorded.get(graph, [])
        if not samples:
            raise CalibrationError(f"no recorded inputs for graph {graph!r} to compare with")
        worst, agree, pixels = 0.0, 0, 0
        for inputs in samples:
            expected = reference.run(graph, inputs)
            got = candidate.run(graph, inputs)
            for name, value in expected.items():
                worst = max(worst, float(np.max(np.abs(got[name] - value))))
            if "logits" in expected:
                same = got["logits"].argmax(1) == expected["logits"].argmax(1)
                agree, pixels = agree + int(same.sum()), pixels + same.size
        report[graph] = {"samples": len(samples), "max_abs_diff": worst}
        if pixels:
            report[graph]["argmax_agreement"] = agree / pixels
    return report
