"""Vehicles, people and two-wheelers as lists of Parts (road coordinates, metres).

Each builder takes the object's position and the camera's lateral position (which side of a box
is visible) and returns parts in drawing order (back to front within the object).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsseg_core.synth.palette import Color, material, scale
from vsseg_core.synth.parts import (
    Part, bar, ellipse_across, ellipse_along, label, quad_across, quad_along,
)

_DARK = (22.0, 22.0, 24.0)
"""Colour of tyres and bumpers."""


@dataclass(frozen=True)
class VehicleLook:
    """Shape and colours of a vehicle, drawn once per vehicle."""

    kind: str  # 'car' | 'truck' | 'bus'
    length: float
    width: float
    height: float
    body: Color
    glass: Color
    cargo: Color

    @classmethod
    def random(cls, rng: np.random.Generator, kind: str) -> "VehicleLook":
        dims = {"car": ((3.8, 5.0), (1.7, 1.95), (1.35, 1.7)),
                "truck": ((6.5, 9.0), (2.3, 2.55), (3.0, 3.8)),
                "bus": ((10.5, 13.0), (2.5, 2.55), (2.9, 3.3))}[kind]
        length, width, height = (rng.uniform(*d) for d in dims)
        return cls(kind, length, width, height, material(rng, "vehicle"),
                   material(rng, "glass"), material(rng, "vehicle"))


def vehicle_parts(look: VehicleLook, s_near: float, lat: float, camera_lat: float,
                  oncoming: bool) -> list[Part]:
    """A vehicle whose nearest face is at ``s_near`` and centre at ``lat`` (m): the side the
    camera at ``camera_lat`` sees, its wheels, then the nearest face (drawn last: it hides the
    side where they overlap in the image)."""
    lid = label(look.kind)
    s_far = s_near + look.length
    side_lat = lat - look.width / 2 if lat > camera_lat else lat + look.width / 2
    if look.kind == "car":
        parts = _car_side(look, lid, s_near, s_far, side_lat, oncoming)
    else:
        parts = _truck_or_bus_side(look, lid, s_near, s_far, side_lat, oncoming)
    for s_wheel in (s_near + 0.18 * look.length, s_far - 0.18 * look.length):
        parts.append(Part(ellipse_along(s_wheel, side_lat, 0.33, 0.33, 0.33), lid, _DARK, 0.05))
    return parts + _nearest_face(look, lid, s_near, lat, oncoming)


def _car_side(look: VehicleLook, lid: int, s_near: float, s_far: float, side_lat: float,
              oncoming: bool) -> list[Part]:
    """A car's visible side in the plane ``side_lat``: body below the belt line, cabin, window."""
    belt = 0.55 * look.height
    inset = 0.2 * look.length
    cabin_near, cabin_far = (s_near + inset, s_far - 0.8 * inset) if not oncoming else (
        s_near + 0.8 * inset, s_far - inset)
    parts = [Part(quad_along(s_near, s_far, side_lat, 0.25, belt), lid, scale(look.body, 0.85))]
    cabin = np.array([[s_near + 0.1, side_lat, belt], [s_far - 0.1, side_lat, belt],
                      [cabin_far, side_lat, look.height], [cabin_near, side_lat, look.height]])
    parts.append(Part(cabin, lid, scale(look.body, 0.8)))
    win = np.array([[cabin_near - 0.25, side_lat, belt + 0.05], [cabin_far + 0.2, side_lat, belt + 0.05],
                    [cabin_far, side_lat, look.height - 0.07], [cabin_near + 0.05, side_lat, look.height - 0.07]])
    parts.append(Part(win, lid, look.glass, 0.05))
    return parts


def _truck_or_bus_side(look: VehicleLook, lid: int, s_near: float, s_far: float,
                       side_lat: float, oncoming: bool) -> list[Part]:
    """A truck's or bus's visible side in the plane ``side_lat``: the box, then a bus's row of
    windows or a truck's cab (at the front) with its window."""
    cab_len = 2.2
    cab_near = s_far - cab_len if not oncoming else s_near
    parts = [Part(quad_along(s_near, s_far, side_lat, 0.35, look.height), lid, scale(look.cargo, 0.85))]
    if look.kind == "bus":
        for s0 in np.arange(s_near + 0.6, s_far - 1.0, 1.6):
            parts.append(Part(quad_along(s0, s0 + 1.3, side_lat, 1.2, look.height - 0.35), lid, look.glass, 0.05))
    else:
        parts.append(Part(quad_along(cab_near, cab_near + cab_len, side_lat, 0.35, 2.6), lid, scale(look.body, 0.85)))
        parts.append(Part(quad_along(cab_near + 0.3, cab_near + 1.4, side_lat, 1.6, 2.4), lid, look.glass, 0.05))
    return parts


def _nearest_face(look: VehicleLook, lid: int, s_near: float, lat: float,
                  oncoming: bool) -> list[Part]:
    """The face across the road at ``s_near``: body, windscreen (or rear window), lamps
    (red tail lamps, or headlamps when ``oncoming``) and bumper."""
    lat0, lat1 = lat - look.width / 2, lat + look.width / 2
    top = look.height if look.kind != "car" else 0.55 * look.height
    parts = [Part(quad_across(s_near, lat0, lat1, 0.2, top), lid, look.body if look.kind != "bus" else look.cargo)]
    if look.kind == "car":
        parts.append(Part(quad_across(s_near + 0.45, lat0 + 0.12, lat1 - 0.12, top, look.height), lid,
                          scale(look.body, 0.95)))
        parts.append(Part(quad_across(s_near + 0.4, lat0 + 0.2, lat1 - 0.2, top + 0.05, look.height - 0.08),
                          lid, look.glass, 0.05))
    else:
        parts.append(Part(quad_across(s_near - 0.01, lat0 + 0.15, lat1 - 0.15, 0.55 * look.height,
                                      look.height - 0.3), lid, look.glass, 0.05))
    lamp = (200.0, 30.0, 25.0) if not oncoming else (235.0, 235.0, 215.0)
    for lamp_lat in (lat0 + 0.12, lat1 - 0.32):
        parts.append(Part(quad_across(s_near - 0.02, lamp_lat, lamp_lat + 0.2, 0.75, 0.9), lid, lamp, 0.02))
    parts.append(Part(quad_across(s_near - 0.03, lat0, lat1, 0.2, 0.38), lid, _DARK, 0.05))
    return parts


@dataclass(frozen=True)
class PersonLook:
    """Body size and clothing of a person or rider."""

    height: float
    shirt: Color
    trousers: Color
    skin: Color
    hair: Color

    @classmethod
    def random(cls, rng: np.random.Generator) -> "PersonLook":
        return cls(rng.uniform(1.5, 1.95), material(rng, "clothes"), material(rng, "clothes"),
                   material(rng, "skin"), material(rng, "dark"))


def person_parts(look: PersonLook, s: float, lat: float, phase: float, stride: float,
                 name: str = "person", base: float = 0.0, seated: bool = False) -> list[Part]:
    """A person facing the camera plane at (s, lat); ``phase`` animates the legs (rad),
    ``stride`` their lateral swing (m). ``base`` lifts the whole body (riders)."""
    lid = label(name)
    hgt = look.height
    hip, shoulder, head = base + 0.52 * hgt, base + 0.82 * hgt, base + 0.92 * hgt
    half = 0.19 * hgt / 1.75
    parts = []
    swing = stride * np.sin(phase)
    foot = 0.3 if seated else base  # seated riders put their feet on the pedals
    for side, sw in ((-1, swing), (1, -swing)):
        parts.append(Part(bar(s, lat + side * 0.08, hip, s, lat + side * 0.1 + sw, foot, 0.13),
                          lid, look.trousers))
    parts.append(Part(quad_across(s, lat - half, lat + half, hip - 0.05, shoulder), lid, look.shirt))
    for side, sw in ((-1, -swing), (1, swing)):
        parts.append(Part(bar(s, lat + side * (half + 0.03), shoulder - 0.02,
                              s, lat + side * (half + 0.06) + 0.5 * sw, hip, 0.09), lid, look.shirt))
    parts.append(Part(ellipse_across(s, lat, head, 0.1, 0.12), lid, look.skin, 0.05))
    parts.append(Part(ellipse_across(s + 0.01, lat, head + 0.06, 0.1, 0.07), lid, look.hair, 0.05))
    return parts


def two_wheeler_parts(look: PersonLook, frame_color: Color, s: float, lat: float,
                      motor: bool, pedal_phase: float) -> list[Part]:
    """A bicycle or motorcycle (side plane at ``lat``, ridden along +s) with its rider."""
    lid = label("motorcycle" if motor else "bicycle")
    radius = 0.31 if motor else 0.34
    rear, front = s - 0.55, s + 0.55
    parts: list[Part] = []
    for sw in (rear, front):
        if motor:
            parts.append(Part(ellipse_along(sw, lat, radius, radius, radius), lid, (25.0, 25.0, 25.0), 0.05))
        else:
            ring = ellipse_along(sw, lat, radius, radius, radius, n=10)
            for a, b in zip(ring, np.roll(ring, -1, axis=0)):
                parts.append(Part(bar(*a, *b, 0.045), lid, (30.0, 30.0, 30.0), 0.02))
    if motor:
        body = np.array([[rear + 0.2, lat, 0.35], [front - 0.1, lat, 0.4], [front, lat, 0.85],
                         [rear + 0.3, lat, 0.85]])
        parts.append(Part(body, lid, frame_color))
    else:
        crank = (s - 0.05, lat, 0.3)
        parts.append(Part(bar(rear, lat, radius, *crank, 0.05), lid, frame_color))
        parts.append(Part(bar(*crank, front - 0.1, lat, 0.85, 0.05), lid, frame_color))
        parts.append(Part(bar(rear + 0.1, lat, 0.8, front - 0.1, lat, 0.85, 0.05), lid, frame_color))
        parts.append(Part(bar(front, lat, radius, front - 0.1, lat, 1.0, 0.05), lid, frame_color))
    saddle = 0.85 if motor else 0.95
    parts += person_parts(look, s - 0.1, lat, pedal_phase, 0.08, name="rider",
                          base=saddle - 0.52 * look.height, seated=True)
    return parts
