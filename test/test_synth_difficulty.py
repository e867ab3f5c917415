"""The synthetic data must need spatial context: colour alone scores <= 50% mIoU."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vsseg_core.labels import NUM_CLASSES, label_ids_to_train_ids
from vsseg_core.synth.config import SynthConfig
from vsseg_core.synth.difficulty import ColorBaseline, color_baseline_miou
from vsseg_core.synth.generator import iter_sequence

SIZE = dict(height=128, width=256)


def _frames(seed: int, sequences: int, frames: int, every: int = 1
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    config = SynthConfig(sequences=sequences, frames=frames, seed=seed, **SIZE)
    for seq in range(sequences):
        for item in iter_sequence(config, seq):
            if item.fid.frame % every == 0:
                yield item.rgb, label_ids_to_train_ids(item.label_ids)


def test_color_baseline_separates_colour_separable_data() -> None:
    """The baseline works: where colour does decide the class, it scores 100%."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (32, 64)).astype(np.uint8)
    palette = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]], np.uint8)
    rgb = palette[labels]
    confusion = color_baseline_miou([(rgb, labels)], [(rgb, labels)])
    assert confusion.miou() == 1.0


def test_colour_alone_scores_at_most_half_miou() -> None:
    """Fit on one set of sequences (seed 101), score on another (seed 202)."""
    confusion = color_baseline_miou(_frames(101, 4, 12, every=3), _frames(202, 4, 12, every=3))
    miou = confusion.miou()
    print(f"colour baseline mIoU on held-out synthetic sequences: {miou:.3f}")
    assert 0.0 < miou <= 0.5


def test_default_sequences_cover_at_least_14_classes() -> None:
    """10 default sequences (frames 0, 15 and 29 checked) show >= 14 of the 19 trainIds."""
    counts = np.zeros(256, np.int64)
    config = SynthConfig(sequences=10, frames=30, **SIZE)
    for seq in range(10):
        for item in iter_sequence(config, seq):
            if item.fid.frame in (0, 15, 29):
                counts += np.bincount(label_ids_to_train_ids(item.label_ids).ravel(), minlength=256)
    present = int((counts[:NUM_CLASSES] > 0).sum())
    assert present >= 14, counts[:NUM_CLASSES]


def test_baseline_rejects_predict_before_fit() -> None:
    try:
        ColorBaseline().predict(np.zeros((2, 2, 3), np.uint8))
    except ValueError as exc:
        assert "before fit" in str(exc)
    else:
        raise AssertionError("predict before fit must raise")
