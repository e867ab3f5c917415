"""Temporal method (Deep Feature Flow / Low-Latency VSS): keyframe scheduling and, with the
temporal issue, feature propagation and the streaming VideoSegmenter."""
