"""Reliability of vsseg_node against clients it does not control, on a real rclpy graph:

  malformed  valid 256x512 frames interleaved with malformed raw and compressed images
             (bad encodings, short data, huge headers, 16384x16384 PNG bombs): every malformed
             one counted rejected, every valid one answered, the node's peak RSS
  lifecycle  a random walk of lifecycle requests (by id and by label, valid and invalid):
             wrong answers, thread count and RSS after each configure..cleanup cycle
  soak       a publisher in its own process at --rate Hz for --soak-s seconds: the node's
             RSS and end-to-end latency percentiles every --sample-s seconds

Targets (issue 19): 0 crashes; every malformed message counted; RSS growth over the last 80%
of the soak < 2%; lifecycle RSS growth after the first cycle < 5%.

Run: ``.venv/bin/python benchmarks/node_reliability.py [--malformed 10000] [--walk 300]
[--soak-s 1800] [--json out/reliability.json]``. Prints a Markdown section for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from vsseg_core.errors import VssegError
from vsseg_core.machine import describe_machine
from vsseg_ros.dds import dds_profile, use_shipped_dds_profile
from vsseg_ros.image_conversion import array_to_image
from vsseg_ros.probe import (
    NODE,
    NodeProbe,
    isolate_dds,
    node_alive,
    ready_client,
    start_node,
    stop_node,
)

FRAME = np.full((256, 512, 3), 90, np.uint8)
PACE_S = 0.01
"""The probe yields this long after each malformed message: a flood faster than the node's
executor takes messages overflows its input queue inside DDS (KEEP_LAST), where the node never
sees them to count."""
EXPECTED = {  # state -> transitions (id, label) it has
    "unconfigured": {(1, "configure"), (5, "shutdown")},
    "inactive": {(2, "cleanup"), (3, "activate"), (6, "shutdown")},
    "active": {(4, "deactivate"), (7, "shutdown")},
}
REQUESTS = [(i, "") for i in range(1, 8)] + [("", label) for label in
                                             ("configure", "cleanup", "activate", "deactivate")]


def _process_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (KiB) and Threads of process ``pid``."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {"rss_kib": int(fields["VmRSS"].split()[0]), "peak_kib": int(fields["VmHWM"].split()[0]),
            "threads": int(fields["Threads"])}


def _malformed_messages(rng: np.random.Generator) -> list:
    """One of each kind of bad input: raw (bad encoding, short data, step too small, huge
    header) and compressed (garbage, truncated, a 16384x16384 PNG bomb)."""
    header = Header(frame_id="camera")
    _, bomb = cv2.imencode(".png", np.zeros((16384, 16384), np.uint8))
    _, png = cv2.imencode(".png", FRAME)
    raw = [Image(header=header, height=4, width=4, encoding="yuv422", step=8, data=bytes(32)),
           Image(header=header, height=4, width=4, encoding="rgb8", step=12, data=bytes(7)),
           Image(header=header, height=4, width=4, encoding="rgb8", step=3, data=bytes(12)),
           Image(header=header, height=100_000, width=100_000, encoding="mono8", step=100_000,
                 data=bytes(16))]
    compressed = [CompressedImage(header=header, format="png", data=rng.bytes(64)),
                  CompressedImage(header=header, format="png", data=png.tobytes()[:60]),
                  CompressedImage(header=header, format="png", data=bomb.tobytes())]
    return raw + compressed


def run_malformed(count: int) -> dict:
    """``count`` malformed messages, a valid frame after every 100 (each answered before the
    next 100), on raw and compressed inputs (two node runs)."""
    results = {}
    for compressed in (False, True):
        process = start_node("device:=cpu", "policy:=per_frame", "input_reliability:=reliable",
                             "input_depth:=100", f"compressed_input:={str(compressed).lower()}",
                             autostart=True)
        probe = NodeProbe(sensor_qos=False)
        try:
            results["compressed" if compressed else "raw"] = _flood(probe, process, count, compressed)
        finally:
            probe.close()
            stop_node(process)
    return results


def _flood(probe: NodeProbe, process: subprocess.Popen, count: int, compressed: bool) -> dict:
    kind = CompressedImage if compressed else Image
    publisher = probe.node.create_publisher(kind, "/image/compressed", 100) if compressed else probe.publisher
    probe.spin_until(lambda: node_alive(process) and probe.class_maps
                     and publisher.get_subscription_count() > 0, 120, "vsseg_node to subscribe")
    bad = [m for m in _malformed_messages(np.random.default_rng(0)) if isinstance(m, kind)]
    _, png = cv2.imencode(".png", FRAME)
    start_status, sent, valid = _process_status(process.pid), 0, 0
    while sent < count:
        for _ in range(min(100, count - sent)):
            publisher.publish(bad[sent % len(bad)])
            sent += 1
            probe.spin_for(PACE_S)
        header = Header(frame_id="camera")  # after the malformed ones: it must not wait for them
        header.stamp.sec = valid + 1
        message = (CompressedImage(header=header, format="png", data=png.tobytes()) if compressed
                   else array_to_image(FRAME, header))
        publisher.publish(message)
        valid += 1
        probe.spin_until(lambda: probe.latest_diagnostics().get("frames processed") == str(valid),
                         120, f"valid frame {valid} answered")
    try:
        probe.spin_until(lambda: probe.latest_diagnostics().get("frames rejected") == str(count),
                         30, f"{count} rejected frames counted")
    except VssegError:  # report the count it reached
        pass
    values = probe.latest_diagnostics()
    end_status = _process_status(process.pid)
    return {"malformed_sent": count, "rejected": int(values["frames rejected"]),
            "valid_sent": valid, "valid_answered": int(values["frames processed"]),
            "crashed": not node_alive(process), "peak_rss_mb": end_status["peak_kib"] / 1024,
            "rss_growth_mb": (end_status["rss_kib"] - start_status["rss_kib"]) / 1024}


def run_lifecycle_walk(steps: int, seed: int = 0) -> dict:
    """``steps`` random lifecycle requests; every answer is checked against the state machine."""
    process = start_node("device:=cpu", "policy:=per_frame")
    probe = NodeProbe()
    try:
        harmless = ChangeState.Request(transition=Transition(label="no_such_transition"))
        change = ready_client(probe.node, probe.executor, ChangeState, f"/{NODE}/change_state",
                              harmless)
        get = ready_client(probe.node, probe.executor, GetState, f"/{NODE}/get_state",
                           GetState.Request())
        return _walk(probe, process, change, get, steps, random.Random(seed))
    finally:
        probe.close()
        if process.poll() is None:
            stop_node(process)


def _call(probe: NodeProbe, process, client, request):
    future = client.call_async(request)
    probe.spin_until(lambda: future.done() or not node_alive(process), 120, "a lifecycle answer")
    return future.result()


def _walk(probe, process, change, get, steps: int, rng: random.Random) -> dict:
    state, wrong, cycles, sent = "unconfigured", 0, [], 0
    choices = [r for r in REQUESTS if r[0] not in (5, 6, 7)]  # shutdown would end the walk
    for _ in range(steps):
        transition_id, label = rng.choice(choices)
        sent += 1
        answer = _call(probe, process, change, ChangeState.Request(
            transition=Transition(id=transition_id or 0, label=label)))
        allowed = any(transition_id == i or label == name for i, name in EXPECTED[state])
        wrong += answer.success != allowed
        state = _call(probe, process, get, GetState.Request()).current_state.label
        if label == "cleanup" or transition_id == 2:
            if answer.success:
                cycles.append(_process_status(process.pid))
    first = cycles[0] if cycles else _process_status(process.pid)
    last = cycles[-1] if cycles else first
    return {"requests": sent, "wrong_answers": wrong, "crashed": not node_alive(process),
            "cycles": len(cycles), "threads_first_cycle": first["threads"],
            "threads_last_cycle": last["threads"],
            "rss_growth_after_first_cycle": (last["rss_kib"] - first["rss_kib"]) / first["rss_kib"]}


PUBLISHER = """
import sys, time, numpy as np, rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vsseg_ros.dds import dds_profile, use_shipped_dds_profile
from vsseg_ros.image_conversion import array_to_image
rclpy.init(); node = rclpy.create_node("vsseg_soak_camera")
pub = node.create_publisher(Image, sys.argv[1], qos_profile_sensor_data)
rate, seconds = float(sys.argv[2]), float(sys.argv[3])
frame = np.full((256, 512, 3), 90, np.uint8); start = time.monotonic(); index = 0
while time.monotonic() - start < seconds:
    now = time.time(); header = Header(frame_id="camera")
    header.stamp.sec, header.stamp.nanosec = int(now), int(now % 1 * 1e9)
    pub.publish(array_to_image(frame, header)); index += 1
    time.sleep(max(0.0, start + index / rate - time.monotonic()))
print(index)
"""


def run_soak(rate: float, seconds: float, sample_s: float) -> dict:
    """The node's RSS and latency while a camera process publishes at ``rate`` Hz."""
    process = start_node("device:=cpu", autostart=True)
    probe = NodeProbe()
    try:
        probe.wait_ready(process)
        camera = subprocess.Popen([sys.executable, "-c", PUBLISHER, probe.image_topic, str(rate),
                                   str(seconds)], stdout=subprocess.PIPE, text=True)
        samples, start = [], time.monotonic()
        while camera.poll() is None:
            probe.spin_for(sample_s)
            values = probe.latest_diagnostics()
            samples.append({"t_s": round(time.monotonic() - start), **_process_status(process.pid),
                            "answered": int(values.get("frames processed", 0)),
                            "end_to_end_p50_ms": float(values.get("end_to_end p50 (ms)", "nan")),
                            "end_to_end_p99_ms": float(values.get("end_to_end p99 (ms)", "nan"))})
            print(f"soak {samples[-1]}", file=sys.stderr, flush=True)
        published = int(camera.communicate()[0].strip() or 0)
        probe.spin_for(3.0)
        values = probe.latest_diagnostics()
    finally:
        probe.close()
        stop_node(process)
    tail = samples[len(samples) // 5:] or samples
    return {"rate_hz": rate, "seconds": seconds, "published": published,
            "answered": int(values.get("frames processed", 0)),
            "dropped": int(values.get("frames dropped", 0)),
            "lost_in_transport": int(values.get("frames lost in transport", 0)),
            "rss_growth_last_80pct": (tail[-1]["rss_kib"] - tail[0]["rss_kib"]) / tail[0]["rss_kib"],
            "samples": samples}


def report(results: dict, command: str) -> str:
    lines = [f"Measured {datetime.date.today()} on {describe_machine()} with `{command}` "
             f"(Fast DDS profile: {dds_profile() or 'defaults'}).", ""]
    for name, flood in results.get("malformed", {}).items():
        lines.append(f"- malformed ({name} input): {flood['rejected']}/{flood['malformed_sent']} "
                     f"counted rejected, {flood['valid_answered']}/{flood['valid_sent']} valid "
                     f"frames answered, crashed: {flood['crashed']}, peak RSS "
                     f"{flood['peak_rss_mb']:.0f} MB, RSS growth {flood['rss_growth_mb']:+.1f} MB")
    if walk := results.get("lifecycle"):
        lines.append(f"- lifecycle walk: {walk['requests']} requests, {walk['wrong_answers']} wrong "
                     f"answers, crashed: {walk['crashed']}, {walk['cycles']} configure..cleanup "
                     f"cycles, threads {walk['threads_first_cycle']} -> {walk['threads_last_cycle']}, "
                     f"RSS growth after the first cycle {100 * walk['rss_growth_after_first_cycle']:+.2f}%")
    if soak := results.get("soak"):
        lines += [f"- soak: {soak['answered']}/{soak['published']} frames answered at "
                  f"{soak['rate_hz']:g} Hz over {soak['seconds']:.0f} s ({soak['dropped']} dropped "
                  f"by the node, {soak['lost_in_transport']} lost in transport), RSS growth over "
                  "the last 80%: "
                  f"{100 * soak['rss_growth_last_80pct']:+.2f}%", "",
                  "| t (s) | RSS (MB) | threads | answered | end-to-end p50 (ms) | p99 (ms) |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {s['t_s']} | {s['rss_kib'] / 1024:.0f} | {s['threads']} | {s['answered']} | "
                  f"{s['end_to_end_p50_ms']:.1f} | {s['end_to_end_p99_ms']:.1f} |"
                  for s in soak["samples"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--malformed", type=int, default=10_000, help="0 skips (default %(default)s)")
    parser.add_argument("--walk", type=int, default=300, help="0 skips (default %(default)s)")
    parser.add_argument("--soak-s", type=float, default=1800.0, help="0 skips (default %(default)s)")
    parser.add_argument("--rate", type=float, default=15.0, help="soak Hz (default %(default)s)")
    parser.add_argument("--sample-s", type=float, default=30.0, help="default %(default)s")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    isolate_dds()
    use_shipped_dds_profile()  # for this process, the camera process and the node, as the README says
    rclpy.init()
    results: dict = {}
    try:
        if args.malformed:
            results["malformed"] = run_malformed(args.malformed)
        if args.walk:
            results["lifecycle"] = run_lifecycle_walk(args.walk)
        if args.soak_s:
            results["soak"] = run_soak(args.rate, args.soak_s, args.sample_s)
    finally:
        rclpy.try_shutdown()
    print(report(results, " ".join(["benchmarks/node_reliability.py", *sys.argv[1:]])))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
