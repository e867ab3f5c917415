"""Draw props (lists of Parts) into a part-index map, then colour and label from it."""

from __future__ import annotations

import cv2
import numpy as np

from vsseg_core.synth.camera import NEAR_M, Camera
from vsseg_core.synth.parts import Part
from vsseg_core.synth.props import Prop
from vsseg_core.synth.road import EgoPose, Road
from vsseg_core.synth.textures import TEXTURE_SIZE

_SHIFT = 3  # fillPoly sub-pixel bits
_MAX_PARTS = 65535


def clip_near(vertices: np.ndarray, s_ego: float) -> np.ndarray:
    """Clip a polygon (N, 3) in road coordinates to the part at least NEAR_M ahead."""
    z = vertices[:, 0] - s_ego
    if (z >= NEAR_M).all():
        return vertices
    out = []
    n = len(vertices)
    for i in range(n):
        a, b = vertices[i], vertices[(i + 1) % n]
        za, zb = z[i], z[(i + 1) % n]
        if za >= NEAR_M:
            out.append(a)
        if (za >= NEAR_M) != (zb >= NEAR_M):
            w = (NEAR_M - za) / (zb - za)
            out.append(a + w * (b - a))
    return np.array(out) if out else np.empty((0, 3))


def draw_props(camera: Camera, road: Road, pose: EgoPose, props: list[Prop],
               index_map: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw props far to near into ``index_map`` ((H, W) uint16, 0 = nothing).

    Returns per-index tables (index 0 unused): colours (K, 3) float32, labelIds (K,) uint8,
    texture amplitudes (K,) float32, and (K, 3) float32 of (texture anchor u, v, depth z m).
    """
    order = sorted(props, key=lambda p: -float(np.hypot(p.s - pose.s, p.lat - pose.lat)))
    parts = [part for prop in order for part in prop.parts][: _MAX_PARTS - 1]
    colors, labels, amps, anchors = _part_tables(parts)
    if not parts:
        return colors, labels, amps, anchors
    sizes = np.array([len(p.vertices) for p in parts])
    starts = np.concatenate([[0], np.cumsum(sizes)])
    verts = np.concatenate([p.vertices for p in parts])
    # project everything at once; parts reaching closer than NEAR_M are redone after clipping
    s_safe = np.maximum(verts[:, 0], pose.s + NEAR_M)
    u, v, z = camera.project(road, pose, s_safe, verts[:, 1], verts[:, 2])
    anchors[1:, 0], anchors[1:, 1] = u[starts[:-1]], v[starts[:-1]]
    anchors[1:, 2] = np.add.reduceat(z, starts[:-1]) / sizes
    _fill_parts(camera, road, pose, verts, starts, u, v, index_map)
    return colors, labels, amps, anchors


def _part_tables(parts: list[Part]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``draw_props``'s tables for K = len(parts) + 1 indices, with colours, labelIds and
    texture amplitudes filled in; the anchors (K, 3) are left zero."""
    count = len(parts) + 1
    colors = np.zeros((count, 3), np.float32)
    labels = np.zeros(count, np.uint8)
    amps = np.zeros(count, np.float32)
    anchors = np.zeros((count, 3), np.float32)
    if parts:
        colors[1:] = [p.color for p in parts]
        labels[1:] = [p.label_id for p in parts]
        amps[1:] = [p.texture for p in parts]
    return colors, labels, amps, anchors


def _fill_parts(camera: Camera, road: Road, pose: EgoPose, verts: np.ndarray, starts: np.ndarray,
                u: np.ndarray, v: np.ndarray, index_map: np.ndarray) -> None:
    """Fill part k (vertices ``verts[starts[k]:starts[k + 1]]``, (N, 3) road coordinates, m;
    projected to pixels ``u``, ``v`` (N,)) with index k + 1 into ``index_map``, in order.
    Parts wholly nearer than NEAR_M or off the image are skipped; parts crossing NEAR_M are
    clipped to it and projected again."""
    z_min = np.minimum.reduceat(verts[:, 0] - pose.s, starts[:-1])
    z_max = np.maximum.reduceat(verts[:, 0] - pose.s, starts[:-1])
    pts = _fixed_point(camera, u, v)
    inside = (
        (np.maximum.reduceat(u, starts[:-1]) >= 0) & (np.minimum.reduceat(u, starts[:-1]) < camera.width)
        & (np.maximum.reduceat(v, starts[:-1]) >= 0) & (np.minimum.reduceat(v, starts[:-1]) < camera.height)
    )
    for k in range(len(starts) - 1):
        a, b = starts[k], starts[k + 1]
        if z_max[k] < NEAR_M:
            continue
        if z_min[k] < NEAR_M:
            poly = clip_near(verts[a:b], pose.s)
            if len(poly) < 3:
                continue
            cu, cv, _ = camera.project(road, pose, poly[:, 0], poly[:, 1], poly[:, 2])
            cv2.fillPoly(index_map, [_fixed_point(camera, cu, cv)], k + 1, lineType=cv2.LINE_8, shift=_SHIFT)
        elif inside[k]:
            cv2.fillPoly(index_map, [pts[a:b]], k + 1, lineType=cv2.LINE_8, shift=_SHIFT)


def _fixed_point(camera: Camera, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Pixel coordinates (N,) each as fillPoly points (N, 2) int32 with _SHIFT fractional
    bits, clipped to 4 x (width + height) pixels from the origin (far outside the image)."""
    limit = 4.0 * (camera.width + camera.height)
    return np.round(np.clip(np.stack([u, v], axis=1), -limit, limit) * (1 << _SHIFT)).astype(np.int32)


def compose_parts(index_map: np.ndarray, tables: tuple[np.ndarray, ...], tex: np.ndarray,
                  tex_scale: float, rgb: np.ndarray, labels: np.ndarray, depth: np.ndarray) -> None:
    """Colour, label and depth every pixel covered by a part. The surface texture is anchored
    at the part's first projected vertex, so it moves with the object."""
    colors, label_table, amps, anchors = tables
    covered = index_map > 0
    if not covered.any():
        return
    idx = index_map[covered]
    vv, uu = np.nonzero(covered)
    tu = ((uu - anchors[idx, 0]) * tex_scale).astype(np.int64) & (TEXTURE_SIZE - 1)
    tv = ((vv - anchors[idx, 1]) * tex_scale).astype(np.int64) & (TEXTURE_SIZE - 1)
    shade = 1 + amps[idx] * tex[tv, tu]
    rgb[covered] = colors[idx] * shade[:, None]
    labels[covered] = label_table[idx]
    depth[covered] = anchors[idx, 2]
