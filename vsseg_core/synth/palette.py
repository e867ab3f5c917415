"""Material colours. Deliberately overlapping between classes (grey road, grey wall, grey car,
green fence vs vegetation, grey sky vs white facade) so that colour alone cannot segment."""

from __future__ import annotations

import numpy as np

Color = tuple[float, float, float]

# (weight, RGB centre, per-channel spread) per material family
_FAMILIES: dict[str, list[tuple[float, Color, float]]] = {
    "road": [(4, (95, 95, 100), 25), (1, (110, 100, 90), 20), (1, (70, 72, 78), 15)],
    "sidewalk": [(3, (140, 138, 135), 25), (1, (150, 110, 100), 20), (1, (110, 110, 115), 20)],
    "terrain": [(2, (120, 130, 70), 25), (2, (130, 110, 80), 25), (1, (105, 105, 95), 20)],
    "vegetation": [(4, (60, 100, 40), 25), (1, (90, 110, 50), 25), (1, (110, 95, 45), 20),
                   (1, (45, 60, 40), 15)],
    "building": [(3, (150, 145, 140), 40), (2, (170, 150, 120), 30), (1, (150, 80, 60), 25),
                 (1, (205, 205, 200), 20), (1, (90, 90, 95), 20)],
    "wall": [(3, (135, 135, 130), 30), (1, (160, 150, 130), 25), (1, (100, 100, 105), 20)],
    "fence": [(2, (110, 110, 110), 30), (1, (60, 90, 60), 20), (1, (120, 90, 60), 20)],
    "pole": [(3, (125, 125, 125), 30), (1, (50, 65, 55), 15), (1, (40, 40, 40), 10)],
    "vehicle": [(3, (210, 210, 210), 20), (3, (40, 40, 45), 15), (3, (130, 130, 135), 25),
                (1, (30, 50, 120), 20), (1, (150, 30, 30), 25), (1, (40, 90, 60), 20),
                (1, (190, 160, 60), 25)],
    "clothes": [(3, (50, 50, 55), 20), (2, (120, 120, 125), 30), (1, (40, 60, 120), 25),
                (1, (150, 40, 40), 30), (1, (200, 200, 190), 20), (1, (110, 90, 60), 20),
                (1, (60, 100, 60), 20)],
    "skin": [(1, (220, 180, 150), 20), (1, (150, 105, 75), 20), (1, (90, 60, 45), 15)],
    "glass": [(1, (50, 60, 70), 20), (1, (110, 130, 150), 30)],
    "dark": [(1, (25, 25, 28), 8)],
    "sign": [(2, (190, 30, 30), 25), (2, (30, 70, 160), 25), (1, (225, 225, 225), 15),
             (1, (230, 190, 30), 20)],
    "light_box": [(3, (40, 40, 40), 10), (1, (200, 170, 40), 20)],
    "sky_clear": [(3, (110, 150, 200), 30), (1, (150, 170, 195), 25)],
    "sky_overcast": [(2, (175, 178, 182), 30), (1, (140, 142, 148), 20)],
    "marking": [(4, (215, 215, 210), 20), (1, (220, 180, 60), 15)],
}


def material(rng: np.random.Generator, family: str) -> Color:
    """Draw a colour (RGB, 0..255 floats) from a material family."""
    options = _FAMILIES[family]
    weights = np.array([w for w, _, _ in options], dtype=float)
    _, centre, spread = options[rng.choice(len(options), p=weights / weights.sum())]
    shift = rng.normal(0, spread / 2.5)  # shared brightness shift keeps the hue
    rgb = np.asarray(centre) + shift + rng.normal(0, spread / 5, 3)
    r, g, b = np.clip(rgb, 5, 250)
    return float(r), float(g), float(b)


def scale(color: Color, factor: float) -> Color:
    """Brighten (factor > 1) or darken a colour, clipped to 0..255."""
    r, g, b = np.clip(np.asarray(color) * factor, 0, 255)
    return float(r), float(g), float(b)
