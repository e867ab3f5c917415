"""Independent, reproducible random streams keyed by integers."""

from __future__ import annotations

import numpy as np


def rng_for(*key: int) -> np.random.Generator:
    """A generator determined only by ``key`` (e.g. seed, sequence, purpose, index), so every
    frame, chunk and spawn slot can be drawn on its own, in any order."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))
