"""Ground (road, sidewalk, terrain, markings, shadows), sky and far backdrop, per pixel."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vsseg_core.synth.camera import Camera
from vsseg_core.synth.parts import label
from vsseg_core.synth.road import EgoPose
from vsseg_core.synth.scene import CHUNK_M, LANE_M, Scene
from vsseg_core.synth.textures import TEXTURE_SIZE

GROUND_MAX_M = 400.0
BACKDROP_M = 450.0
"""Virtual distance (m) of the skyline silhouette drawn above the horizon."""
_MASK = TEXTURE_SIZE - 1
ROAD, SIDEWALK, TERRAIN, SKY = label("road"), label("sidewalk"), label("terrain"), label("sky")


def world_yaw(scene: Scene, pose: EgoPose) -> float:
    """Camera yaw (rad) in a world frame fixed to the scene; used by sky and backdrop."""
    return float(scene.road.heading(pose.s)) + pose.heading


def paint_sky(camera: Camera, scene: Scene, pose: EgoPose, tex: np.ndarray,
              rgb: np.ndarray, labels: np.ndarray, rows: int) -> None:
    """Fill the top ``rows`` rows with sky: vertical gradient plus clouds that turn with the
    camera (computed at quarter resolution: clouds are smooth)."""
    if rows <= 0:
        return
    look = scene.look
    v_h = camera.horizon_row(pose)
    row_ids = np.arange(rows, dtype=np.float32)
    mix = np.clip(row_ids / max(v_h, 1.0), 0, 1)[:, None] ** 0.7
    gradient = (1 - mix) * np.float32(look.sky_top) + mix * np.float32(look.sky_horizon)
    sky = np.broadcast_to(gradient[:, None, :], (rows, camera.width, 3))
    if look.cloudiness > 0:
        k = 512.0 / camera.height
        shift = camera.focal * world_yaw(scene, pose)
        cols = (((np.arange(0, camera.width, 4) + shift) * k * 0.5).astype(np.int64)) & _MASK
        rws = ((np.arange(0, rows, 4) * k).astype(np.int64)) & _MASK
        cloud = np.clip(tex[np.ix_(rws, cols)] * 1.8 + look.cloudiness * 2 - 0.6, 0, 1)
        cloud = cv2.resize(cloud * look.cloudiness, (camera.width, rows),
                           interpolation=cv2.INTER_LINEAR)
        sky = sky + cloud[..., None] * (np.float32(225.0) - sky)
    rgb[:rows] = sky
    labels[:rows] = SKY


def paint_backdrop(camera: Camera, scene: Scene, pose: EgoPose, rgb: np.ndarray,
                   labels: np.ndarray, first_ground_row: int) -> None:
    """Distant trees and buildings as a silhouette between its skyline and the ground."""
    profile_h, profile_label, profile_color = scene.backdrop
    bins = profile_h.size
    angle = (np.arange(camera.width) - camera.cx) / camera.focal + world_yaw(scene, pose)
    idx = (np.floor(angle / (2 * np.pi) * bins).astype(np.int64)) % bins
    v_h = camera.horizon_row(pose)
    top = np.floor(v_h - camera.focal * profile_h[idx] / BACKDROP_M).astype(np.int64)
    rows = np.arange(first_ground_row)[:, None]
    mask = rows >= top[None, :]
    labels[:first_ground_row][mask] = np.broadcast_to(profile_label[idx], mask.shape)[mask]
    colors = profile_color[idx]
    rgb[:first_ground_row][mask] = np.broadcast_to(colors, mask.shape + (3,))[mask]


def paint_ground(camera: Camera, scene: Scene, pose: EgoPose, tex: np.ndarray,
                 rgb: np.ndarray, labels: np.ndarray, depth: np.ndarray) -> int:
    """Paint every ground pixel of ``rgb`` (H, W, 3) float32, ``labels`` (H, W) uint8 labelIds
    and ``depth`` (H, W) float32 (metres ahead); returns the first ground row (H when none)."""
    rows, z = camera.ground_rows(pose, GROUND_MAX_M)
    if rows.size == 0:
        return camera.height
    cols = np.arange(camera.width, dtype=np.float64) - camera.cx
    x_cam = cols[None, :] * (z / camera.focal)[:, None]
    # road coordinates of the R ground rows: lat (R, W) m from the road centre, s (R, 1) m along
    lat = x_cam - (scene.road.centre_offset(pose.s, z) - pose.lat - pose.heading * z)[:, None]
    s = (pose.s + z)[:, None]
    past_road = _past_road(scene, lat)
    layout = _roadside_layout(scene, s[:, 0], lat)
    ground_label = _ground_labels(scene, lat, past_road, layout)
    rgb[rows] = _ground_colors(scene, tex, s, lat, past_road, ground_label, layout)
    labels[rows] = ground_label
    depth[rows] = z[:, None].astype(np.float32)
    return int(rows[0])


@dataclass(frozen=True)
class _RoadsideLayout:
    """Per ground row (R,) or pixel (R, W) of a ground patch: the scene chunks' side layout."""

    terrain_w: np.ndarray  # (R, 2) float32: terrain width (m) beyond the sidewalk, left and right
    paved_beyond: np.ndarray  # (R, 2) bool: paved (sidewalk) beyond the terrain, left and right
    crossing: np.ndarray  # (R,) bool: the row is on a zebra crossing
    shadow: np.ndarray  # (R, W) bool: the pixel lies in a building's shadow


def _roadside_layout(scene: Scene, s: np.ndarray, lat: np.ndarray) -> _RoadsideLayout:
    """What the scene chunks say about ground rows at ``s`` (R,) m along the road, with pixels
    at ``lat`` (R, W) m from the road centre: side widths, crossings and shadows."""
    chunk_ids = np.floor(s / CHUNK_M).astype(np.int64)
    terrain_w = np.zeros((s.size, 2), np.float32)
    paved_beyond = np.zeros((s.size, 2), bool)
    crossing = np.zeros(s.size, bool)
    shadow = np.zeros(lat.shape, bool)
    for cid in np.unique(chunk_ids):
        chunk = scene.chunk(int(cid))
        in_chunk = chunk_ids == cid
        for j, side in enumerate((-1, 1)):
            terrain_w[in_chunk, j] = chunk.sides[side].terrain
            paved_beyond[in_chunk, j] = chunk.sides[side].beyond_is_sidewalk
        if chunk.crosswalk is not None:
            crossing |= in_chunk & (s >= chunk.crosswalk[0]) & (s < chunk.crosswalk[1])
        if scene.look.sun:
            _add_shadows(scene, chunk.shadows, s, lat, shadow)
    return _RoadsideLayout(terrain_w, paved_beyond, crossing, shadow)


def _add_shadows(scene: Scene, shadows: tuple[tuple[float, float, int, float], ...],
                 s: np.ndarray, lat: np.ndarray, shadow: np.ndarray) -> None:
    """Mark in ``shadow`` (R, W) bool the pixels of a chunk's building shadows (s0, s1, side,
    face) on the sun side: rows at ``s`` (R,) between s0 and s1 m, pixels at ``lat`` (R, W)
    up to ``look.shadow_len`` m in front of the face (on its road side)."""
    for s0, s1, side, face in shadows:
        if side != scene.sun_side:
            continue
        band = (s >= s0) & (s < s1)
        if band.any():
            d = side * lat[band] - side * face
            shadow[band] |= (d <= 0) & (d > -scene.look.shadow_len)


def _past_road(scene: Scene, lat: np.ndarray) -> np.ndarray:
    """Metres (R, W) beyond the road edge on each pixel's side (negative on the road)."""
    road_half = np.where(lat > 0, scene.road_half_right, scene.road_half_left)
    return np.abs(lat) - road_half


def _ground_labels(scene: Scene, lat: np.ndarray, past_road: np.ndarray,
                   layout: _RoadsideLayout) -> np.ndarray:
    """labelIds (R, W) uint8: road, then sidewalk (and paved beyond the terrain), else terrain."""
    right = lat > 0
    terrain_here = np.where(right, layout.terrain_w[:, 1:2], layout.terrain_w[:, 0:1])
    paved_here = np.where(right, layout.paved_beyond[:, 1:2], layout.paved_beyond[:, 0:1])
    beyond_sidewalk = past_road - scene.sidewalk
    is_sidewalk = (past_road >= 0) & (
        (beyond_sidewalk < 0) | ((beyond_sidewalk >= terrain_here) & paved_here))
    is_road = past_road < 0
    return np.where(is_road, ROAD, np.where(is_sidewalk, SIDEWALK, TERRAIN)).astype(np.uint8)


def _ground_colors(scene: Scene, tex: np.ndarray, s: np.ndarray, lat: np.ndarray,
                   past_road: np.ndarray, ground_label: np.ndarray,
                   layout: _RoadsideLayout) -> np.ndarray:
    """RGB (R, W, 3) float32 0..255 of the ground pixels at ``s`` (R, 1) and ``lat`` (R, W) m:
    class colour with fine and coarse texture, then markings, kerb, tile joints and shadows."""
    look = scene.look
    colors = np.empty(lat.shape + (3,), np.float32)
    for lid, color in ((ROAD, look.road), (SIDEWALK, look.sidewalk), (TERRAIN, look.terrain)):
        colors[ground_label == lid] = color
    fine = tex[(s * 37).astype(np.int64) & _MASK, (lat * 37).astype(np.int64) & _MASK]
    coarse = tex[(s * 3).astype(np.int64) & _MASK, (lat * 3 + 97).astype(np.int64) & _MASK]
    amp = np.where(ground_label == TERRAIN, 0.35, 0.12).astype(np.float32)
    colors *= (1 + amp * fine + 0.12 * coarse)[..., None]

    is_road, is_sidewalk = ground_label == ROAD, ground_label == SIDEWALK
    marking = _markings(scene, s, lat, np.abs(lat), layout.crossing[:, None]) & is_road
    colors[marking] = look.marking
    kerb = is_sidewalk & (past_road < 0.25) & (scene.sidewalk > 0)
    colors[kerb] *= 1.2
    tiles = is_sidewalk & (((s % 0.6) < 0.04) | ((lat % 0.6) < 0.04))
    colors[tiles] *= 0.8
    colors[layout.shadow] *= look.shadow_strength
    return colors


def _markings(scene: Scene, s: np.ndarray, lat: np.ndarray, alat: np.ndarray,
              crossing: np.ndarray) -> np.ndarray:
    """Lane markings (labelled road, as in Cityscapes): centre line, dashed dividers, edges,
    and zebra crossings."""
    half_w = 0.07
    mark = alat < half_w
    dashed = (s % 12.0) < 4.0
    for k in range(1, max(scene.lanes, scene.oncoming)):
        mark |= (np.abs(alat - k * LANE_M) < half_w) & dashed
    mark |= (np.abs(lat - scene.lanes * LANE_M) < half_w)
    mark |= (np.abs(-lat - scene.oncoming * LANE_M) < half_w)
    mark |= crossing & ((lat % 1.0) < 0.5)
    return mark
