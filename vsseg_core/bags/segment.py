"""Offline bag-to-bag segmentation, as fast as the machine goes.

Every image on the input topic is streamed through a ``VideoSegmenter`` (stamps from the
message headers, so sequence gaps in the bag become time-jump keyframes). The output bag gets,
with the input stamps and headers: ``/semantic_mask`` (mono8 trainIds), ``/semantic_confidence``
(mono8), ``/vsseg_node/info`` (vsseg/SegmentationInfo, as the node publishes it), the input
images (unless ``keep_images`` is off), every other input topic copied unchanged (e.g. ground
truth labels), and at the end one ``/diagnostics`` summary. The output stays a readable bag when
the run is interrupted.
"""

from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from vsseg_core.bags.io import check_new_bag, open_reader, open_writer, require_topic
from vsseg_core.bags.types import (
    DIAGNOSTICS,
    IMAGE,
    INFO,
    header,
    image_message,
    image_pixels,
    stamp_ns,
    typestore,
)
from vsseg_core.image_encoding import ImageRejected
from vsseg_core.machine import describe_machine
from vsseg_core.runtime.processing import confidence_to_uint8
from vsseg_core.temporal.evaluate import latency_summary
from vsseg_core.temporal.video import StreamError, VideoSegmenter, info_fields

MASK_TOPIC = "/semantic_mask"
CONFIDENCE_TOPIC = "/semantic_confidence"
INFO_TOPIC = "/vsseg_node/info"
DIAGNOSTICS_TOPIC = "/diagnostics"
OUTPUT_TOPICS = (MASK_TOPIC, CONFIDENCE_TOPIC, INFO_TOPIC, DIAGNOSTICS_TOPIC)
"""Written by this tool; the same topics in the input bag (an earlier result) are not copied."""


def _diagnostics(stamp: int, values: dict[str, str]):
    types = typestore().types
    status = types["diagnostic_msgs/msg/DiagnosticStatus"](
        level=0, name="vsseg bag segment: segmentation", message="summary", hardware_id="",
        values=[types["diagnostic_msgs/msg/KeyValue"](key=k, value=v) for k, v in values.items()])
    return types[DIAGNOSTICS](header=header(stamp, ""), status=[status])


def segment_bag(in_bag: str | Path, out_bag: str | Path, segmenter: VideoSegmenter, *,
                topic: str, keep_images: bool = True, storage: str = "sqlite3",
                progress: bool = True) -> dict:
    """Segment ``topic`` of ``in_bag`` into ``out_bag``; returns counts and latency stats."""
    check_new_bag(out_bag)
    store, backend = typestore(), segmenter.backend
    counts = {"frames": 0, "rejected": 0, "copied": 0, "keyframes": 0}
    latencies: list[float] = []
    with open_reader(in_bag) as reader:
        require_topic(reader, topic, IMAGE)
        with open_writer(out_bag, storage) as writer:
            out = {name: writer.add_connection(name, IMAGE, typestore=store)
                   for name in (MASK_TOPIC, CONFIDENCE_TOPIC)}
            out[INFO_TOPIC] = writer.add_connection(INFO_TOPIC, INFO, typestore=store)
            copies, added = {}, {}
            for c in reader.connections:  # other topics pass through, once per topic and type
                if c.topic in OUTPUT_TOPICS or (c.topic == topic and not keep_images):
                    continue
                if (c.topic, c.msgtype) not in added:
                    added[(c.topic, c.msgtype)] = writer.add_connection(
                        c.topic, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest)
                copies[c.id] = added[(c.topic, c.msgtype)]
            total = sum(c.msgcount for c in reader.connections if c.topic == topic)
            last_stamp = 0
            with tqdm(total=total, unit="frame", desc="bag segment", disable=not progress,
                      mininterval=1.0) as bar:
                for connection, timestamp, raw in reader.messages(reader.connections):
                    if connection.id in copies:
                        writer.write(copies[connection.id], timestamp, raw)
                    if connection.topic != topic:
                        counts["copied"] += connection.id in copies
                        continue
                    message = store.deserialize_cdr(raw, IMAGE)
                    try:
                        start = time.perf_counter()
                        pixels = image_pixels(message)
                        conversion_ms = (time.perf_counter() - start) * 1000.0
                    except ImageRejected as exc:
                        counts["rejected"] += 1
                        bar.write(f"skipped the image at {timestamp} ns: {exc}")
                        continue
                    stamp = stamp_ns(message.header)
                    try:
                        result = segmenter.step(pixels, stamp / 1e9)
                    except StreamError:  # new image size: a new stream
                        segmenter.reset()
                        result = segmenter.step(pixels, stamp / 1e9)
                    confidence = confidence_to_uint8(result.confidence)
                    frame_id = message.header.frame_id
                    for name, pixels_out in ((MASK_TOPIC, result.labels), (CONFIDENCE_TOPIC, confidence)):
                        writer.write(out[name], timestamp, store.serialize_cdr(
                            image_message(pixels_out, stamp, frame_id), IMAGE))
                    writer.write(out[INFO_TOPIC], timestamp, store.serialize_cdr(
                        store.types[INFO](header=message.header, **info_fields(
                            result, segmenter, conversion_ms=conversion_ms, publish_ms=0.0,
                            end_to_end_ms=result.timings_ms["total"] + conversion_ms)), INFO))
                    counts["frames"] += 1
                    counts["keyframes"] += result.keyframe
                    latencies.append(result.timings_ms["total"])
                    last_stamp = timestamp
                    bar.update(1)
            summary = latency_summary(latencies) or {}
            values = {"frames": str(counts["frames"]), "frames rejected": str(counts["rejected"]),
                      "keyframe ratio": f"{counts['keyframes'] / max(1, counts['frames']):.3f}",
                      **{f"segmentation {k} (ms)": f"{v:.3f}" for k, v in summary.items()},
                      "backend": backend.name, "precision": backend.precision,
                      "policy": segmenter.policy.spec, "model": str(segmenter.bundle.root),
                      "machine": describe_machine(backend.device)}
            diagnostics = writer.add_connection(DIAGNOSTICS_TOPIC, DIAGNOSTICS, typestore=store)
            writer.write(diagnostics, last_stamp, store.serialize_cdr(
                _diagnostics(last_stamp, values), DIAGNOSTICS))
    return {**counts, "latency_ms": summary}

