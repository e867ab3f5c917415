"""Render one frame of a scene: sky, backdrop, ground, props, ego hood, effects."""

from __future__ import annotations

import cv2
import numpy as np

from vsseg_core.synth.camera import Camera
from vsseg_core.synth.effects import Conditions, apply_haze, finish
from vsseg_core.synth.ground import paint_backdrop, paint_ground, paint_sky
from vsseg_core.synth.painter import compose_parts, draw_props
from vsseg_core.synth.parts import label
from vsseg_core.synth.scene import Scene
from vsseg_core.synth.seeding import rng_for
from vsseg_core.synth.textures import fractal_noise

EGO_VEHICLE = label("ego vehicle")


class FrameRenderer:
    """Renders frames of ``height`` x ``width`` pixels; keeps a texture per scene."""

    def __init__(self, height: int, width: int) -> None:
        self.camera = Camera(height, width)
        self._textures: dict[tuple[int, int], np.ndarray] = {}
        self._hood = self._hood_polygon(height, width)

    def texture(self, scene: Scene) -> np.ndarray:
        if scene.key not in self._textures:
            self._textures.clear()
            self._textures[scene.key] = fractal_noise(rng_for(*scene.key, 6))
        return self._textures[scene.key]

    def render(self, scene: Scene, t: float, cond: Conditions, rng: np.random.Generator,
               *, fps: float, jpeg: bool) -> tuple[np.ndarray, np.ndarray]:
        """Frame at scene time t (s) -> (RGB (H, W, 3) uint8, labelIds (H, W) uint8)."""
        cam = self.camera
        pose = scene.track.pose(t)
        tex = self.texture(scene)
        rgb = np.empty((cam.height, cam.width, 3), np.float32)
        labels = np.empty((cam.height, cam.width), np.uint8)
        depth = np.zeros((cam.height, cam.width), np.float32)
        first_ground = paint_ground(cam, scene, pose, tex, rgb, labels, depth)
        paint_sky(cam, scene, pose, tex, rgb, labels, first_ground)
        paint_backdrop(cam, scene, pose, rgb, labels, first_ground)
        index_map = np.zeros((cam.height, cam.width), np.uint16)
        tables = draw_props(cam, scene.road, pose, scene.props_at(t), index_map)
        compose_parts(index_map, tables, tex, 1024.0 / cam.height, rgb, labels, depth)
        apply_haze(rgb, depth, cond)
        self._paint_hood(rgb, labels)
        yaw_rate = pose.yaw_rate + pose.speed * float(
            scene.road.heading(pose.s + 1.0) - scene.road.heading(pose.s))
        motion_px = abs(yaw_rate) * cam.focal / fps * 0.5
        return finish(rgb, cond, rng, t, motion_px, jpeg), labels

    @staticmethod
    def _hood_polygon(height: int, width: int) -> np.ndarray:
        """The ego car's bonnet at the bottom of the frame, as in Cityscapes' 'ego vehicle'."""
        xs = np.linspace(0, width, 9)
        bulge = 1 - ((xs - width / 2) / (width / 2)) ** 2
        ys = height * (0.955 - 0.025 * bulge)
        top = np.stack([xs, ys], axis=1)
        return np.concatenate([top, [[width, height], [0, height]]]).astype(np.int32)

    def _paint_hood(self, rgb: np.ndarray, labels: np.ndarray) -> None:
        cv2.fillPoly(labels, [self._hood], int(EGO_VEHICLE))
        mask = labels == EGO_VEHICLE
        rows = np.nonzero(mask.any(axis=1))[0]
        shade = np.linspace(60, 25, rows.size, dtype=np.float32)
        rgb[rows] = np.where(mask[rows][..., None], shade[:, None, None], rgb[rows])
