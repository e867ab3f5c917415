"""Dense optical flow between two frames, nearest-neighbour warping of label maps, and flow
resized to a feature grid (the ``flow`` input of the ``prop`` graph).

Flow convention (OpenCV's): for a pixel p = (x, y) of the source frame, ``p + flow[y, x]`` is
where it went in the destination frame; ``flow[..., 0]`` is x, ``flow[..., 1]`` is y, in pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from vsseg_core.labels import IGNORE_ID

DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM


def to_grey(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB or (H, W) uint8 grey -> (H, W) uint8 grey; the input is not modified."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    ):
        raise ValueError(
            f"expected an (H, W, 3) uint8 RGB or (H, W) uint8 grey image, got shape "
            f"{image.shape} dtype {image.dtype}"
        )
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def dense_flow(src_rgb: np.ndarray, dst_rgb: np.ndarray, *, scale: float = 1.0) -> np.ndarray:
    """DIS optical flow from ``src_rgb`` to ``dst_rgb`` -> (H, W, 2) float32, pixels.

    Both images are (H, W, 3) uint8 RGB or (H, W) uint8 grey of the same size. With
    ``scale`` in (0, 1) the flow is computed on images resized by ``scale`` (faster, coarser),
    then resized back to (H, W) and its vectors stretched to full-resolution pixels.
    """
    src = to_grey(src_rgb)
    dst = to_grey(dst_rgb)
    if src.shape != dst.shape:
        raise ValueError(
            f"src and dst images must have the same size, got {src.shape} and {dst.shape}"
        )
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    height, width = src.shape
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if small_size != (width, height):
        src = cv2.resize(src, small_size, interpolation=cv2.INTER_AREA)
        dst = cv2.resize(dst, small_size, interpolation=cv2.INTER_AREA)
    flow = cv2.DISOpticalFlow_create(DIS_PRESET).calc(src, dst, None)
    if small_size != (width, height):
        flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= width / small_size[0]
        flow[..., 1] *= height / small_size[1]
    return flow


def warp_labels_nearest(
    labels_dst: np.ndarray, flow: np.ndarray, *, fill: int = IGNORE_ID
) -> np.ndarray:
    """Bring a destination-frame label map (H, W) uint8 into the source frame -> (H, W) uint8.

    ``flow`` (H, W, 2) float32 is source -> destination (see module docstring). Output pixel p
    is ``labels_dst`` at ``p + flow[p]`` rounded to the nearest pixel, or ``fill`` where that
    lands outside the image.
    """
    labels_dst = np.asarray(labels_dst)
    flow = np.asarray(flow)
    if labels_dst.dtype != np.uint8 or labels_dst.ndim != 2:
        raise ValueError(
            f"labels_dst must be an (H, W) uint8 label map, got shape {labels_dst.shape} "
            f"dtype {labels_dst.dtype}"
        )
    if flow.shape != (*labels_dst.shape, 2):
        raise ValueError(
            f"flow must have shape {(*labels_dst.shape, 2)} to match labels_dst, "
            f"got {flow.shape}"
        )
    if not 0 <= fill <= 255:
        raise ValueError(f"fill must be a uint8 value (0..255), got {fill}")
    height, width = labels_dst.shape
    grid_x, grid_y = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    return cv2.remap(
        np.ascontiguousarray(labels_dst),
        grid_x + flow[..., 0].astype(np.float32),
        grid_y + flow[..., 1].astype(np.float32),
        interpolation=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=int(fill),
    )


def in_view_mask(flow: np.ndarray) -> np.ndarray:
    """(H, W) bool: True where ``p + flow[p]`` lands inside the image (rounded as in warping)."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must have shape (H, W, 2), got {flow.shape}")
    ones = np.ones(flow.shape[:2], dtype=np.uint8)
    return warp_labels_nearest(ones, flow, fill=0).astype(bool)


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Image flow (H, W, 2) float32 in image pixels -> (2, h, w) float32 in pixels of a feature
    grid of ``size`` = (h, w) (values scaled by w/W and h/H)."""
    height, width = flow.shape[:2]
    small = cv2.resize(flow, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    small[..., 0] *= size[1] / width
    small[..., 1] *= size[0] / height
    return np.ascontiguousarray(small.transpose(2, 0, 1), dtype=np.float32)


def grid_flow(current: np.ndarray, keyframe: np.ndarray, size: tuple[int, int],
              scale: float) -> np.ndarray:
    """Flow from the ``current`` frame back to the ``keyframe`` (both (H, W) uint8 grey or
    (H, W, 3) uint8 RGB at network input size), DIS on images downscaled by ``scale``, as
    (1, 2, h, w) float32 in pixels of a feature grid of ``size`` = (h, w): the ``flow`` input of
    the ``prop`` graph (for pixel p of ``current``, p + flow[p] is that content in ``keyframe``,
    the convention of ``vsseg_core.model.warp``)."""
    return resize_flow(dense_flow(current, keyframe, scale=scale), size)[None]
