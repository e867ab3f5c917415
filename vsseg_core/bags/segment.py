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

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader, Writer
from tqdm import tqdm

from vsseg_core.bags.integrity import IntactMessages
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
from vsseg_core.frame_info import frame_latencies, info_fields
from vsseg_core.image_encoding import ImageRejected
from vsseg_core.machine import describe_machine
from vsseg_core.runtime.processing import confidence_to_uint8
from vsseg_core.temporal.evaluate import latency_summary
from vsseg_core.temporal.video import VideoResult, VideoSegmenter

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


class _SegmentedBag:
    """The output bag's connections and what is written to them: the segmentation topics,
    copies of the input's other topics (once per topic and type), and the closing summary."""

    def __init__(self, writer: Writer, reader: Reader, topic: str, keep_images: bool) -> None:
        self.writer, self.store = writer, typestore()
        self.outputs = {name: writer.add_connection(name, IMAGE, typestore=self.store)
                        for name in (MASK_TOPIC, CONFIDENCE_TOPIC)}
        self.outputs[INFO_TOPIC] = writer.add_connection(INFO_TOPIC, INFO, typestore=self.store)
        self.copies: dict[int, Connection] = {}
        added: dict[tuple[str, str], Connection] = {}
        for c in reader.connections:
            if c.topic in OUTPUT_TOPICS or (c.topic == topic and not keep_images):
                continue
            if (c.topic, c.msgtype) not in added:
                added[(c.topic, c.msgtype)] = writer.add_connection(
                    c.topic, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest)
            self.copies[c.id] = added[(c.topic, c.msgtype)]

    def copy(self, connection: Connection, timestamp: int, raw: bytes) -> bool:
        """Write an input message unchanged if its topic is copied; whether it was."""
        if connection.id not in self.copies:
            return False
        self.writer.write(self.copies[connection.id], timestamp, raw)
        return True

    def write_result(self, image, timestamp: int, result: VideoResult,
                     segmenter: VideoSegmenter, conversion_ms: float) -> None:
        """Mask, confidence and SegmentationInfo of ``image`` (a rosbags Image), with its stamp
        and frame_id."""
        stamp, frame_id = stamp_ns(image.header), image.header.frame_id
        for name, pixels in ((MASK_TOPIC, result.labels),
                             (CONFIDENCE_TOPIC, confidence_to_uint8(result.confidence))):
            self.writer.write(self.outputs[name], timestamp, self.store.serialize_cdr(
                image_message(pixels, stamp, frame_id), IMAGE))
        latencies = frame_latencies(result, conversion_ms=conversion_ms, publish_ms=0.0,
                                    end_to_end_ms=result.timings_ms["total"] + conversion_ms)
        info = self.store.types[INFO](header=image.header,
                                      **info_fields(result, segmenter, latencies))
        self.writer.write(self.outputs[INFO_TOPIC], timestamp, self.store.serialize_cdr(info, INFO))

    def write_summary(self, timestamp: int, values: dict[str, str]) -> None:
        """One /diagnostics message with ``values``."""
        connection = self.writer.add_connection(DIAGNOSTICS_TOPIC, DIAGNOSTICS, typestore=self.store)
        self.writer.write(connection, timestamp,
                          self.store.serialize_cdr(_diagnostics(timestamp, values), DIAGNOSTICS))


def segment_bag(in_bag: str | Path, out_bag: str | Path, segmenter: VideoSegmenter, *,
                topic: str, keep_images: bool = True, storage: str = "sqlite3",
                progress: bool = True) -> dict:
    """Segment ``topic`` of ``in_bag`` into ``out_bag``; returns the counts (frames, rejected,
    copied, keyframes), ``latency_ms`` (``latency_summary`` of the segmentation ms) and
    ``corruption`` (a warning line naming corrupt MCAP chunks, read around, or None). A new
    image size starts a new stream (``segmenter`` should have ``restart_on_resize``). BagError
    for storage that cannot be read; what was written before stays a readable bag."""
    check_new_bag(out_bag)
    with open_reader(in_bag) as reader:
        require_topic(reader, topic, IMAGE)
        with open_writer(out_bag, storage) as writer:
            output = _SegmentedBag(writer, reader, topic, keep_images)
            total = sum(c.msgcount for c in reader.connections if c.topic == topic)
            messages = IntactMessages(reader, reader.connections)
            with tqdm(total=total, unit="frame", desc="bag segment", disable=not progress,
                      mininterval=1.0) as bar:
                counts, latencies, last_stamp = _segment_messages(messages, output, segmenter,
                                                                  topic, bar)
            summary = latency_summary(latencies) or {}
            output.write_summary(last_stamp, _summary_values(counts, summary, segmenter))
    return {**counts, "latency_ms": summary, "corruption": messages.warning}


def _segment_messages(messages: IntactMessages, output: _SegmentedBag, segmenter: VideoSegmenter,
                      topic: str, bar: tqdm) -> tuple[dict[str, int], list[float], int]:
    """Stream every message: copy the other topics, segment the images on ``topic``. Returns
    the counts, the segmentation ms of each frame and the bag timestamp (ns) of the last."""
    store = output.store
    counts = {"frames": 0, "rejected": 0, "copied": 0, "keyframes": 0}
    latencies: list[float] = []
    last_stamp = 0
    for connection, timestamp, raw in messages:
        copied = output.copy(connection, timestamp, raw)
        if connection.topic != topic:
            counts["copied"] += copied
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
        result = segmenter.step(pixels, stamp_ns(message.header) / 1e9)
        output.write_result(message, timestamp, result, segmenter, conversion_ms)
        counts["frames"] += 1
        counts["keyframes"] += result.keyframe
        latencies.append(result.timings_ms["total"])
        last_stamp = timestamp
        bar.update(1)
    return counts, latencies, last_stamp


def _summary_values(counts: dict[str, int], latency: dict[str, float],
                    segmenter: VideoSegmenter) -> dict[str, str]:
    """The /diagnostics key-values that close the bag."""
    backend = segmenter.backend
    return {"frames": str(counts["frames"]), "frames rejected": str(counts["rejected"]),
            "keyframe ratio": f"{counts['keyframes'] / max(1, counts['frames']):.3f}",
            **{f"segmentation {k} (ms)": f"{v:.3f}" for k, v in latency.items()},
            "backend": backend.name, "precision": backend.precision,
            "policy": segmenter.policy.spec, "model": str(segmenter.bundle.root),
            "machine": describe_machine(backend.device)}
