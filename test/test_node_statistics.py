"""The node's /diagnostics health judges recent frames, not totals since configure."""

from __future__ import annotations

from vsseg_ros.statistics import ERROR, OK, WARN, NodeStatistics


class Clock:
    """Seconds that the test advances by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _frames(stats: NodeStatistics, clock: Clock, count: int, *, dropped: bool) -> None:
    for _ in range(count):
        clock.now += 0.1
        stats.frame_received()
        if dropped:
            stats.frame_dropped()
        else:
            stats.frame_processed({"segmentation": 10.0}, keyframe=False)


def test_a_burst_of_drops_warns_only_while_it_is_recent() -> None:
    clock = Clock()
    stats = NodeStatistics(rate_window_s=5.0, clock=clock)
    _frames(stats, clock, 20, dropped=True)
    level, message = stats.health(active=True)
    assert level == WARN and "dropped" in message
    _frames(stats, clock, 60, dropped=False)  # 6 s keeping up: the burst left the window
    assert stats.health(active=True) == (OK, "segmenting")
    assert stats.dropped == 20 and stats.received == 80  # the totals stay totals


def test_failures_are_errors_for_the_window_only() -> None:
    clock = Clock()
    stats = NodeStatistics(rate_window_s=5.0, clock=clock)
    stats.frame_failed("backend raised")
    level, message = stats.health(active=True)
    assert level == ERROR and "backend raised" in message
    clock.now += 5.1
    assert stats.health(active=True)[0] == OK
    assert stats.health(active=False) == (OK, "not active")


def test_rejections_warn_for_the_window_only_and_every_condition_is_shown() -> None:
    clock = Clock()
    stats = NodeStatistics(rate_window_s=5.0, clock=clock)
    stats.frame_rejected("encoding 'yuv' is not supported")
    _frames(stats, clock, 20, dropped=True)
    level, message = stats.health(active=True)
    assert level == WARN
    assert "1 malformed images rejected in the last 5 s; last: encoding 'yuv'" in message
    assert "more than half of the frames" in message  # shown beside it, not hidden by it
    _frames(stats, clock, 60, dropped=False)
    assert stats.health(active=True) == (OK, "segmenting")  # no WARN forever after one bad frame
    assert stats.rejected == 1


def test_transport_losses_warn_with_the_fix() -> None:
    clock = Clock()
    stats = NodeStatistics(rate_window_s=5.0, clock=clock)
    stats.frames_lost(26)
    level, message = stats.health(active=True)
    assert level == WARN and "26 input frames lost in transport" in message
    assert "fastdds_large_frames.xml" in message
    assert stats.snapshot()["frames lost in transport"] == 26
    clock.now += 6.0
    assert stats.health(active=True)[0] == OK


def test_stamp_gaps_estimate_the_frames_that_never_arrived() -> None:
    """10 Hz stamps with frames 12 and 13 missing (a gap of 3 periods), then a 10 s pause (a
    time jump, not a loss)."""
    clock = Clock()
    stats = NodeStatistics(rate_window_s=5.0, clock=clock)
    stamps = [i / 10 for i in range(20) if i not in (12, 13)] + [12.0, 12.1]
    for stamp in stamps:
        stats.frame_received(stamp)
    assert stats.lost_by_stamps == 2
    level, message = stats.health(active=True)
    assert level == WARN and "2 input frames lost in transport" in message


def test_adversarial_stamps_cost_no_memory() -> None:
    """Stamps 1 us apart, then a 1.9 s step: 1.9 million frames 'missing' by the estimate, kept
    as one count (a client's stamps must not make the node allocate without bound)."""
    import tracemalloc

    stats = NodeStatistics(rate_window_s=5.0, clock=Clock())
    tracemalloc.start()
    for index in range(20):
        stats.frame_received(index * 1e-6)
    stats.frame_received(1.9)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert stats.lost_by_stamps > 1_000_000
    assert peak < 1_000_000
