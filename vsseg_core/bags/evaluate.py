"""Score a segmented bag (from `vsseg bag segment` or a recording of the node): masks against
ground-truth label images with the same stamps, TC from the kept input images, keyframe ratio
and latency from the SegmentationInfo messages. Same JSON record as `vsseg eval`."""

from __future__ import annotations

from pathlib import Path

from vsseg_core.bags.integrity import IntactMessages
from vsseg_core.bags.io import BagError, open_reader, require_topic, topics
from vsseg_core.bags.segment import DIAGNOSTICS_TOPIC, INFO_TOPIC, MASK_TOPIC
from vsseg_core.bags.types import DIAGNOSTICS, IMAGE, INFO, image_pixels, stamp_ns, typestore
from vsseg_core.frame_info import stage_timings
from vsseg_core.temporal.evaluate import StreamScores
from vsseg_core.temporal.video import DEFAULT_MAX_GAP_S


def evaluate_bag(bag: str | Path, *, image_topic: str, gt_topic: str | None) -> dict:
    """The policy record for ``bag``; ``gt_topic`` None scores no mIoU; missing images skip TC.
    Messages in corrupt MCAP chunks are skipped, and the record then has ``corruption`` (a
    warning line)."""
    frames, diagnostics, corruption = _read_frames(bag, image_topic, gt_topic)
    scores, previous, policy, backend = StreamScores(), None, "", ""
    for key in sorted(frames):
        frame = frames[key]
        if "mask" not in frame or "info" not in frame:
            continue
        if previous is not None and not 0 <= key - previous <= DEFAULT_MAX_GAP_S * 1e9:
            scores.new_sequence()
        previous = key
        info = frame["info"]
        policy, backend = info.policy, f"{info.backend} ({info.precision})"
        scores.add(frame.get("image"), frame["mask"], frame.get("truth"), keyframe=info.keyframe,
                   reason=info.keyframe_reason, propagated=info.served_by_propagation,
                   timings_ms=stage_timings(info))
    if not scores.frames:
        raise BagError(f"bag {bag} has no {MASK_TOPIC} message with a matching {INFO_TOPIC}; "
                       "segment it first with `vsseg bag segment`")
    return scores.record(policy=policy, backend=backend,
                         machine=diagnostics.get("machine", "unknown (not recorded in the bag)"),
                         data=str(bag), **({"corruption": corruption} if corruption else {}))


def _read_frames(bag: str | Path, image_topic: str, gt_topic: str | None
                 ) -> tuple[dict[int, dict], dict[str, str], str | None]:
    """{header stamp (ns): {"mask", "info", "truth", "image": pixels or the info message}},
    the recorded /diagnostics key-values, and a warning line for corrupt chunks (or None)."""
    store = typestore()
    frames: dict[int, dict] = {}
    diagnostics: dict[str, str] = {}
    with open_reader(bag) as reader:
        require_topic(reader, MASK_TOPIC, IMAGE,
                      fix=f"segment it first with `vsseg bag segment --in {bag} --out BAG2` (or "
                          "`vsseg bag replay`, through the node) and evaluate BAG2")
        require_topic(reader, INFO_TOPIC, INFO)
        if gt_topic is not None:
            require_topic(reader, gt_topic, IMAGE)
        available = topics(reader)
        wanted = {MASK_TOPIC: "mask", INFO_TOPIC: "info", gt_topic: "truth",
                  image_topic if image_topic in available else None: "image"}
        connections = [c for c in reader.connections if c.topic in wanted or c.topic == DIAGNOSTICS_TOPIC]
        messages = IntactMessages(reader, connections)
        for connection, _, raw in messages:
            message = store.deserialize_cdr(raw, connection.msgtype)
            if connection.msgtype == DIAGNOSTICS:
                diagnostics.update({kv.key: kv.value for s in message.status for kv in s.values})
                continue
            kind = wanted[connection.topic]
            frames.setdefault(stamp_ns(message.header), {})[kind] = (
                message if kind == "info" else image_pixels(message))
    return frames, diagnostics, messages.warning
