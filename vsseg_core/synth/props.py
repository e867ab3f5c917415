"""Static street furniture and buildings along one side of one road chunk."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsseg_core.synth.palette import material, scale
from vsseg_core.synth.parts import (
    Part, bar, ellipse_across, label, quad_across, quad_along,
)

SEGMENT_M = 4.0
"""Long objects are cut into pieces of at most this length so depth sorting stays right."""


@dataclass(frozen=True)
class Prop:
    """Something drawn as one unit, sorted by the distance of (s, lat) from the camera."""

    s: float
    lat: float
    parts: tuple[Part, ...]


def _pieces(s0: float, s1: float) -> list[tuple[float, float]]:
    edges = np.linspace(s0, s1, max(1, int(np.ceil((s1 - s0) / SEGMENT_M))) + 1)
    return list(zip(edges[:-1], edges[1:]))


def building(rng: np.random.Generator, s0: float, s1: float, lat: float, side: int) -> list[Prop]:
    """A facade at ``lat`` from s0 to s1 with windows, and its front wall facing the camera."""
    lid = label("building")
    height = rng.uniform(6.0, 24.0)
    wall = material(rng, "building")
    glass = material(rng, "glass")
    trim = scale(wall, rng.uniform(0.6, 0.85))
    floor_h = rng.uniform(2.8, 3.6)
    win_w, win_h = rng.uniform(0.8, 1.6), rng.uniform(1.0, 1.8)
    pitch = win_w + rng.uniform(0.8, 2.0)
    shop = rng.random() < 0.5
    props = []
    for a, b in _pieces(s0, s1):
        parts = [Part(quad_along(a, b, lat, 0.0, height), lid, wall, 0.2)]
        for h0 in np.arange(floor_h * 0.35 + (floor_h if shop else 0.0), height - win_h, floor_h):
            for w0 in np.arange(a + 0.4, b - win_w, pitch):
                parts.append(Part(quad_along(w0, w0 + win_w, lat, h0, h0 + win_h), lid, glass, 0.1))
        if shop:
            parts.append(Part(quad_along(a + 0.3, b - 0.3, lat, 0.3, floor_h * 0.8), lid,
                              scale(glass, 1.3), 0.1))
            parts.append(Part(quad_along(a, b, lat, floor_h * 0.85, floor_h), lid, trim, 0.1))
        props.append(Prop((a + b) / 2, lat, tuple(parts)))
    depth = side * rng.uniform(8.0, 15.0)
    front = [Part(quad_across(s0, lat, lat + depth, 0.0, height), lid, scale(wall, 0.8), 0.2)]
    props.append(Prop(s0, lat + depth / 2, tuple(front)))
    return props


def wall(rng: np.random.Generator, s0: float, s1: float, lat: float) -> list[Prop]:
    """A low concrete/brick wall along the road."""
    lid = label("wall")
    height = rng.uniform(0.8, 2.6)
    color = material(rng, "wall")
    cap = scale(color, 0.75)
    return [
        Prop((a + b) / 2, lat, (Part(quad_along(a, b, lat, 0.0, height), lid, color, 0.25),
                                Part(quad_along(a, b, lat, height - 0.12, height), lid, cap, 0.1)))
        for a, b in _pieces(s0, s1)
    ]


def fence(rng: np.random.Generator, s0: float, s1: float, lat: float) -> list[Prop]:
    """A see-through fence: posts, two rails and thin bars."""
    lid = label("fence")
    height = rng.uniform(1.0, 2.0)
    color = material(rng, "fence")
    gap = rng.uniform(0.15, 0.4)
    props = []
    for a, b in _pieces(s0, s1):
        parts = [Part(bar(a, lat, 0.0, a, lat, height, 0.08), lid, scale(color, 0.8), 0.05)]
        parts += [Part(bar(a, lat, h, b, lat, h, 0.06), lid, color, 0.05) for h in (0.15, height - 0.05)]
        parts += [Part(bar(s, lat, 0.15, s, lat, height - 0.05, 0.025), lid, color, 0.02)
                  for s in np.arange(a + gap, b, gap)]
        props.append(Prop((a + b) / 2, lat, tuple(parts)))
    return props


def hedge(rng: np.random.Generator, s0: float, s1: float, lat: float, side: int) -> list[Prop]:
    """A hedge: vegetation box along the road."""
    lid = label("vegetation")
    height = rng.uniform(0.7, 1.8)
    color = material(rng, "vegetation")
    props = [Prop((a + b) / 2, lat, (Part(quad_along(a, b, lat, 0.0, height), lid, color, 0.45),))
             for a, b in _pieces(s0, s1)]
    props.append(Prop(s0, lat, (Part(quad_across(s0, lat, lat + side * 1.0, 0.0, height), lid,
                                     scale(color, 0.8), 0.45),)))
    return props


def tree(rng: np.random.Generator, s: float, lat: float) -> list[Prop]:
    """Trunk and a ragged canopy (both 'vegetation', as in Cityscapes)."""
    lid = label("vegetation")
    trunk_h = rng.uniform(1.5, 3.5)
    radius = rng.uniform(1.2, 3.2)
    leaves = material(rng, "vegetation")
    parts = [Part(bar(s, lat, 0.0, s, lat, trunk_h + radius, rng.uniform(0.2, 0.4)), lid,
                  material(rng, "fence"), 0.2)]
    for k in range(3):
        jitter = rng.uniform(0.65, 1.15, 14)
        centre = (lat + rng.normal(0, radius * 0.25), trunk_h + radius * rng.uniform(0.7, 1.1))
        parts.append(Part(ellipse_across(s - 0.1 * k, centre[0], centre[1], radius * (1 - 0.2 * k),
                                         radius * (0.9 - 0.15 * k), 14, jitter),
                          lid, scale(leaves, rng.uniform(0.75, 1.2)), 0.5))
    return [Prop(s, lat, tuple(parts))]


def pole(rng: np.random.Generator, s: float, lat: float, side: int) -> list[Prop]:
    """A street-light pole, sometimes with an arm over the road."""
    lid = label("pole")
    height = rng.uniform(4.5, 9.0)
    color = material(rng, "pole")
    parts = [Part(bar(s, lat, 0.0, s, lat, height, rng.uniform(0.12, 0.25)), lid, color, 0.1)]
    if rng.random() < 0.5:
        parts.append(Part(bar(s, lat, height, s, lat - side * 1.8, height + 0.3, 0.1), lid, color, 0.1))
    return [Prop(s, lat, tuple(parts))]


def traffic_light(rng: np.random.Generator, s: float, lat: float, side: int) -> list[Prop]:
    """A pole carrying one or two signal heads facing the ego car."""
    pole_color = material(rng, "pole")
    box_color = material(rng, "light_box")
    height = rng.uniform(3.0, 5.5)
    parts = [Part(bar(s, lat, 0.0, s, lat, height + 0.3, 0.16), label("pole"), pole_color, 0.1)]
    heads = [lat]
    if rng.random() < 0.5:
        arm = lat - side * rng.uniform(3.0, 6.0)
        parts.append(Part(bar(s, lat, height + 0.3, s, arm, height + 0.3, 0.12), label("pole"),
                          pole_color, 0.1))
        heads.append(arm)
    lit = rng.integers(0, 3)
    lamps = [(230.0, 40.0, 30.0), (240.0, 170.0, 40.0), (60.0, 220.0, 120.0)]
    for head in heads:
        lid = label("traffic light")
        parts.append(Part(quad_across(s - 0.15, head - 0.18, head + 0.18, height - 0.7, height + 0.3),
                          lid, box_color, 0.05))
        for k, color in enumerate(lamps):
            glow = color if k == lit else scale(color, 0.3)
            parts.append(Part(ellipse_across(s - 0.17, head, height + 0.05 - 0.3 * k, 0.1, 0.1, 8),
                              lid, glow, 0.02))
    return [Prop(s, lat, tuple(parts))]


def traffic_sign(rng: np.random.Generator, s: float, lat: float) -> list[Prop]:
    """A sign plate (circle, triangle or rectangle) on a thin pole."""
    height = rng.uniform(2.0, 3.0)
    size = rng.uniform(0.5, 0.9)
    parts = [Part(bar(s, lat, 0.0, s, lat, height, 0.07), label("pole"), material(rng, "pole"), 0.1)]
    shape = rng.integers(0, 3)
    centre = height + size / 2
    if shape == 0:
        plate = ellipse_across(s - 0.05, lat, centre, size / 2, size / 2, 14)
    elif shape == 1:
        plate = np.array([[s - 0.05, lat - size / 2, centre - size / 3],
                          [s - 0.05, lat + size / 2, centre - size / 3],
                          [s - 0.05, lat, centre + size / 2]])
    else:
        plate = quad_across(s - 0.05, lat - size / 2, lat + size / 2, height, height + size * 0.8)
    parts.append(Part(plate, label("traffic sign"), material(rng, "sign"), 0.05))
    return [Prop(s, lat, tuple(parts))]
