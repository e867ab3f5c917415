"""One place along a road: its layout, static props (built lazily per chunk) and traffic."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vsseg_core.synth import props as P
from vsseg_core.synth.actors import VehicleLook, vehicle_parts
from vsseg_core.synth.palette import Color, material
from vsseg_core.synth.parts import label as label_id
from vsseg_core.synth.road import EgoTrack, Road
from vsseg_core.synth.seeding import rng_for
from vsseg_core.synth.traffic import LIFETIME_S, SLOT_S, Agent, TrafficLayout, spawn_slot

CHUNK_M = 24.0
LANE_M = 3.3
VIEW_M = 140.0
"""Objects further ahead than this are not drawn (the backdrop stands in for them)."""
EGO_PROFILE_PURPOSE = 8
"""rng_for purpose of the ego speed profile (1-3 and 6 are the scene's, 4, 5, 7 and 9 the
generator's and the profile choice's)."""


@dataclass(frozen=True)
class ChunkSide:
    """Ground layout of one side (-1 left, +1 right) of one chunk, beyond the sidewalk."""

    terrain: float
    """Width (m) of the terrain strip beyond the sidewalk."""
    beyond_is_sidewalk: bool
    """What lies beyond the terrain strip: paved (urban) or more terrain."""


@dataclass(frozen=True)
class Chunk:
    sides: dict[int, ChunkSide]
    props: tuple[P.Prop, ...]
    shadows: tuple[tuple[float, float, int, float], ...]
    """Building shadows on the ground: (s0, s1, side, lateral face position)."""
    crosswalk: tuple[float, float] | None


@dataclass(frozen=True)
class Look:
    """Scene-wide appearance: ground materials, sky, sun."""

    road: Color
    sidewalk: Color
    terrain: Color
    marking: Color
    edge_marking: Color
    sky_top: Color
    sky_horizon: Color
    cloudiness: float
    sun: bool
    shadow_len: float
    shadow_strength: float


class Scene:
    """A stretch of road with everything on it, identified by (seed, scene index)."""

    def __init__(self, seed: int, index: int, *, turn: float, max_speed: float, lighting: float,
                 duration_s: float, profile: str = "cruise") -> None:
        """``max_speed`` m/s, ``duration_s`` s; ``profile`` is the ego speed profile (one of
        ``speed.PROFILES``), drawn from its own stream so the place itself does not change."""
        rng = rng_for(seed, index, 1)
        self.key = (seed, index)
        self.kind = str(rng.choice(["urban", "suburban", "rural"], p=[0.5, 0.3, 0.2]))
        self.road = Road.random(rng, turn)
        lanes = int(rng.choice([1, 2], p=[0.55, 0.45]))
        oncoming = int(rng.choice([1, 2], p=[0.6, 0.4])) if lanes == 2 else 1
        self.parking = float(rng.uniform(2.0, 2.5)) if self.kind != "rural" and rng.random() < 0.6 else 0.0
        self.road_half_right = lanes * LANE_M + self.parking
        self.road_half_left = oncoming * LANE_M + (self.parking if rng.random() < 0.5 else 0.0)
        self.lanes, self.oncoming = lanes, oncoming
        self.sidewalk = 0.0 if self.kind == "rural" else float(rng.uniform(1.8, 5.0))
        ego_lanes = tuple((k + 0.5) * LANE_M for k in range(lanes))
        self.ego_lane = float(rng.choice(ego_lanes))
        self.profile = profile
        self.track = EgoTrack(rng, duration_s=duration_s, max_speed=max_speed,
                              lane_lat=self.ego_lane, road=self.road, profile=profile,
                              profile_rng=rng_for(seed, index, EGO_PROFILE_PURPOSE))
        sunny = lighting > 0 and rng.random() < 0.55 * lighting + 0.2
        overcast = not sunny and rng.random() < 0.6
        sky_top = material(rng, "sky_overcast" if overcast else "sky_clear")
        self.look = Look(
            road=material(rng, "road"), sidewalk=material(rng, "sidewalk"),
            terrain=material(rng, "terrain"), marking=material(rng, "marking"),
            edge_marking=material(rng, "marking"), sky_top=sky_top,
            sky_horizon=tuple(float(c) for c in np.clip(np.asarray(sky_top) * 1.15 + 25, 0, 250)),
            cloudiness=float(rng.uniform(0.0, 0.6) if not overcast else rng.uniform(0.1, 0.3)),
            sun=bool(sunny), shadow_len=float(rng.uniform(4, 18)),
            shadow_strength=float(rng.uniform(0.4, 0.65) if sunny else 1.0),
        )
        self.traffic = TrafficLayout(
            ego_lanes=ego_lanes, oncoming_lanes=tuple(-(k + 0.5) * LANE_M for k in range(oncoming)),
            ego_lane=self.ego_lane, road_half=self.road_half_right, sidewalk=self.sidewalk,
            max_speed=max_speed,
        )
        self.sun_side = int(rng.choice([-1, 1]))
        self.backdrop = _backdrop(rng, self.kind, self.look.sky_horizon)
        self.chunk = lru_cache(maxsize=64)(self._build_chunk)
        self._slots: dict[int, list[Agent]] = {}

    def road_half(self, side: int) -> float:
        return self.road_half_right if side > 0 else self.road_half_left

    # -- static content ------------------------------------------------------------------
    def _build_chunk(self, index: int) -> Chunk:
        rng = rng_for(*self.key, 2, index + 1_000_000)
        s0 = index * CHUNK_M
        sides: dict[int, ChunkSide] = {}
        props: list[P.Prop] = []
        shadows = []
        for side in (-1, 1):
            kerb = side * (self.road_half(side) + self.sidewalk)
            urban = self.kind == "urban" and rng.random() < 0.85
            terrain = 0.0 if urban and rng.random() < 0.7 else float(rng.uniform(1.0, 10.0))
            sides[side] = ChunkSide(terrain, self.kind == "urban")
            back = kerb + side * (terrain + rng.uniform(0.0, 1.0))
            s = s0
            while s < s0 + CHUNK_M:
                length = float(rng.uniform(5, 22))
                roll = rng.random()
                if urban and roll < 0.75:
                    props += P.building(rng, s, s + length, back, side)
                    shadows.append((s, s + length, side, back))
                elif roll < 0.85 and self.kind != "rural":
                    props += P.wall(rng, s, s + length, kerb + side * rng.uniform(0.1, 0.6))
                elif roll < 0.93:
                    props += P.fence(rng, s, s + length, kerb + side * rng.uniform(0.1, 1.5))
                else:
                    props += P.hedge(rng, s, s + length, kerb + side * rng.uniform(0.3, 2.0), side)
                s += length + rng.uniform(0, 8)
            for _ in range(rng.poisson(2.5 if not urban else 1.0)):
                props += P.tree(rng, s0 + rng.uniform(0, CHUNK_M),
                                kerb + side * rng.uniform(0.5, max(1.0, terrain + 6)))
            edge = side * (self.road_half(side) + 0.4)
            if rng.random() < 0.7:
                props += P.pole(rng, s0 + rng.uniform(0, CHUNK_M), edge, side)
            if rng.random() < 0.45:
                props += P.traffic_sign(rng, s0 + rng.uniform(0, CHUNK_M), edge + side * 0.2)
            has_parking = self.road_half(side) > (self.lanes if side > 0 else self.oncoming) * LANE_M
            for _ in range(rng.poisson(1.2) if has_parking else 0):
                props.append(_parked_car(VehicleLook.random(rng, "car"), s0 + rng.uniform(0, CHUNK_M),
                                         side * (self.road_half(side) - 1.1)))
        crosswalk = None
        if self.kind != "rural" and rng.random() < 0.3:
            s_light = s0 + rng.uniform(4, CHUNK_M - 4)
            crosswalk = (s_light - 5.0, s_light - 1.0)
            for side in (-1, 1):
                props += P.traffic_light(rng, s_light, side * (self.road_half(side) + 0.6), side)
        return Chunk(sides, tuple(props), tuple(shadows), crosswalk)

    # -- traffic -------------------------------------------------------------------------
    def agents_at(self, t: float) -> list[Agent]:
        """Agents alive at time t (s)."""
        first = int(np.floor((t - LIFETIME_S) / SLOT_S))
        last = int(np.floor(t / SLOT_S))
        alive: list[Agent] = []
        for slot in range(first, last + 1):
            if slot not in self._slots:
                t0 = slot * SLOT_S
                pose = self.track.pose(t0)
                self._slots[slot] = spawn_slot(rng_for(*self.key, 3, slot + 1_000_000), self.traffic,
                                               t0, pose.s, pose.speed)
            alive += self._slots[slot]
        for old in [k for k in self._slots if k < first]:
            del self._slots[old]
        return alive

    def props_at(self, t: float) -> list[P.Prop]:
        """Every static and moving prop within view at time t."""
        pose = self.track.pose(t)
        first = int(np.floor((pose.s - 20.0) / CHUNK_M))
        last = int(np.floor((pose.s + VIEW_M) / CHUNK_M))
        found = [p for i in range(first, last + 1) for p in self.chunk(i).props]
        found += [a.prop_at(t, pose.lat) for a in self.agents_at(t)]
        return [p for p in found if -10.0 < p.s - pose.s < VIEW_M]


def _parked_car(look: VehicleLook, s: float, lat: float) -> P.Prop:
    # parked cars are seen from the camera's lane; their visible side is fixed
    camera_side_lat = lat - np.sign(lat) * 3.0
    return P.Prop(s + look.length / 2, lat,
                  tuple(vehicle_parts(look, s, lat, camera_side_lat, oncoming=lat < 0)))


BACKDROP_BINS = 4096


def _backdrop(rng: np.random.Generator, kind: str, haze: Color
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skyline around the horizon: per angle bin (full turn) its height (m at the backdrop
    distance), labelId and hazy colour."""
    heights = np.zeros(BACKDROP_BINS)
    labels = np.full(BACKDROP_BINS, label_id("vegetation"), np.uint8)
    colors = np.zeros((BACKDROP_BINS, 3), np.float32)
    start = 0
    while start < BACKDROP_BINS:
        width = int(rng.integers(20, 160))
        end = min(BACKDROP_BINS, start + width)
        is_building = kind != "rural" and rng.random() < (0.7 if kind == "urban" else 0.3)
        if is_building:
            heights[start:end] = rng.uniform(12, 60)
            labels[start:end] = label_id("building")
            base = material(rng, "building")
        else:
            bumps = np.cumsum(rng.normal(0, 0.8, end - start))
            heights[start:end] = np.clip(rng.uniform(8, 25) + bumps, 3, 40)
            base = material(rng, "vegetation")
        colors[start:end] = 0.55 * np.asarray(base) + 0.45 * np.asarray(haze)
        start = end
    return heights, labels, colors
