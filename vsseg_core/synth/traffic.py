"""Moving road users: cars, trucks, buses, pedestrians and two-wheelers.

Agents are spawned in fixed time slots from seeded generators, so the traffic at time t does
not depend on how many frames were rendered before (long sequences stay cheap and exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsseg_core.synth.actors import (
    PersonLook, VehicleLook, person_parts, two_wheeler_parts, vehicle_parts,
)
from vsseg_core.synth.palette import Color, material
from vsseg_core.synth.props import Prop

SLOT_S = 0.5
"""Seconds between spawn slots."""
LIFETIME_S = 16.0
"""Seconds an agent exists after spawning."""


@dataclass(frozen=True)
class Agent:
    """A road user moving at constant velocity (v_s along the road, v_lat across), m/s."""

    kind: str  # car | truck | bus | person | bicycle | motorcycle
    t0: float
    s0: float
    lat0: float
    v_s: float
    v_lat: float
    vehicle: VehicleLook | None
    person: PersonLook | None
    frame_color: Color

    def prop_at(self, t: float, camera_lat: float) -> Prop:
        """The agent's parts at time t (s)."""
        dt = t - self.t0
        s, lat = self.s0 + self.v_s * dt, self.lat0 + self.v_lat * dt
        if self.vehicle is not None:
            parts = vehicle_parts(self.vehicle, s, lat, camera_lat, oncoming=self.v_s < 0)
            return Prop(s + self.vehicle.length / 2, lat, tuple(parts))
        assert self.person is not None
        phase = 2 * np.pi * 0.9 * dt
        if self.kind == "person":
            stride = 0.25 if abs(self.v_lat) > 0.1 else 0.06
            return Prop(s, lat, tuple(person_parts(self.person, s, lat, phase, stride)))
        return Prop(s, lat, tuple(two_wheeler_parts(
            self.person, self.frame_color, s, lat, self.kind == "motorcycle", phase)))


@dataclass(frozen=True)
class TrafficLayout:
    """Where agents may go: lane centres (m) per direction and sidewalk bands per side."""

    ego_lanes: tuple[float, ...]
    oncoming_lanes: tuple[float, ...]
    ego_lane: float
    road_half: float
    sidewalk: float
    max_speed: float


def spawn_slot(rng: np.random.Generator, layout: TrafficLayout, t0: float, s_ego: float,
               ego_speed: float) -> list[Agent]:
    """Agents born in one spawn slot at time t0 (ego at s_ego)."""
    agents: list[Agent] = []
    vmax = max(layout.max_speed, 3.0)

    def vehicle_kind() -> str:
        return str(rng.choice(["car", "truck", "bus"], p=[0.78, 0.12, 0.10]))

    if rng.random() < 0.3:  # same direction: ahead in the ego lane, or anywhere in other lanes
        lane = float(rng.choice(layout.ego_lanes))
        kind = vehicle_kind()
        if lane == layout.ego_lane:
            s0, v = s_ego + rng.uniform(20, 90), vmax * rng.uniform(1.0, 1.25)
        else:
            s0, v = s_ego + rng.uniform(-30, 100), vmax * rng.uniform(0.3, 1.2)
        agents.append(Agent(kind, t0, s0, lane + rng.normal(0, 0.15), v, 0.0,
                            VehicleLook.random(rng, kind), None, (0, 0, 0)))
    if rng.random() < 0.3:
        lane = float(rng.choice(layout.oncoming_lanes))
        kind = vehicle_kind()
        agents.append(Agent(kind, t0, s_ego + rng.uniform(80, 200), lane + rng.normal(0, 0.15),
                            -vmax * rng.uniform(0.4, 1.1), 0.0, VehicleLook.random(rng, kind),
                            None, (0, 0, 0)))
    if layout.sidewalk > 0 and rng.random() < 0.7:
        side = rng.choice([-1, 1])
        lat = side * (layout.road_half + rng.uniform(0.4, max(0.5, layout.sidewalk - 0.3)))
        agents.append(Agent("person", t0, s_ego + rng.uniform(5, 90), lat,
                            rng.choice([-1, 1]) * rng.uniform(0.6, 1.6), 0.0, None,
                            PersonLook.random(rng), (0, 0, 0)))
    if rng.random() < 0.06:  # crossing the road
        side = rng.choice([-1, 1])
        speed = rng.uniform(1.0, 1.8)
        agents.append(Agent("person", t0, s_ego + ego_speed * 2.0 + rng.uniform(12, 50),
                            side * (layout.road_half + 0.5), 0.0, -side * speed, None,
                            PersonLook.random(rng), (0, 0, 0)))
    if rng.random() < 0.12:
        kind = "motorcycle" if rng.random() < 0.35 else "bicycle"
        v = rng.uniform(3, 7) if kind == "bicycle" else vmax * rng.uniform(0.6, 1.1)
        lat = layout.ego_lanes[-1] + 1.0 if kind == "bicycle" else float(rng.choice(layout.ego_lanes))
        agents.append(Agent(kind, t0, s_ego + rng.uniform(-10, 80), lat, v, 0.0, None,
                            PersonLook.random(rng), material(rng, "vehicle")))
    return agents
