"""The shipped default model: complete, reproducible on paper, and actually segments."""

from __future__ import annotations

import numpy as np

from vsseg_core.bundle import DEFAULT_BUNDLE, Bundle
from vsseg_core.labels import label_ids_to_train_ids
from vsseg_core.metrics import ConfusionMatrix
from vsseg_core.runtime.factory import create_backend
from vsseg_core.synth.config import SynthConfig
from vsseg_core.synth.generator import iter_sequence
from vsseg_core.temporal.video import VideoSegmenter


def test_bundle_is_complete_small_and_documented() -> None:
    bundle = Bundle.load()  # verifies every sha256
    assert bundle.root == DEFAULT_BUNDLE
    assert sum(p.stat().st_size for p in DEFAULT_BUNDLE.iterdir()) <= 25 * 1024 * 1024
    provenance = bundle.meta["provenance"]
    assert provenance["command"].startswith("vsseg train ")
    assert provenance["data"]["synth"]["config"]["seed"] != provenance["val"]["data"]["synth"]["config"]["seed"]
    assert 0.0 < provenance["val"]["miou"] <= 1.0
    assert bundle.meta["parity"]["max_logit_diff"] <= 1e-3


def test_backends_agree_and_the_model_segments_unseen_frames() -> None:
    """On frames of a seed never used for training or validation, both backends give the same
    labels and clearly beat the colour baseline (~12% mIoU, docs/benchmarks.md)."""
    bundle = Bundle.load()
    config = SynthConfig(sequences=1, frames=3, height=256, width=512, seed=424242)
    frames = list(iter_sequence(config, 0))
    scores = ConfusionMatrix()
    with create_backend("onnxruntime", bundle, device="cpu") as ort_backend, \
            create_backend("torch", bundle, device="cpu") as torch_backend:
        ort_seg = VideoSegmenter(bundle, ort_backend, "per_frame")
        torch_seg = VideoSegmenter(bundle, torch_backend, "per_frame")
        for index, item in enumerate(frames):
            a, b = ort_seg.step(item.rgb, index / config.fps), torch_seg.step(item.rgb, index / config.fps)
            assert (a.labels == b.labels).mean() >= 0.999
            assert np.isfinite(a.confidence).all()
            scores.update(a.labels, label_ids_to_train_ids(item.label_ids))
    assert scores.miou() > 0.25, scores.miou()


def test_shipped_model_propagates() -> None:
    """The shipped bundle carries prop.onnx and the calibrated keyframe rules, and adaptive
    streaming stays close to per-frame segmentation on unseen frames."""
    bundle = Bundle.load()
    temporal = bundle.temporal
    assert temporal is not None and "prop" in bundle.graphs
    assert temporal["default_threshold"] > 0 and temporal["calibration"]["pairs"] >= 100
    assert bundle.meta["provenance"]["propagation"]["command"].startswith("vsseg train-propagation")
    config = SynthConfig(sequences=1, frames=6, height=256, width=512, seed=434343)
    frames = list(iter_sequence(config, 0))
    with create_backend("onnxruntime", bundle, device="cpu") as backend, \
            VideoSegmenter(bundle, backend, "fixed:3") as video, \
            VideoSegmenter(bundle, backend, "per_frame") as single:
        for index, item in enumerate(frames):
            result = video.step(item.rgb, index / config.fps)
            reference = single.step(item.rgb, index / config.fps).labels
            agreement = (result.labels == reference).mean()
            if result.keyframe:
                assert agreement >= 0.999
            else:  # propagated one or two frames: most pixels keep the full network's label
                assert agreement >= 0.7, agreement
