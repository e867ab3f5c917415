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
