"""Temporal method (Deep Feature Flow / Low-Latency VSS): keyframe policies and scheduler
(``policy``), low-level feature deviation (``deviation``), the streaming ``VideoSegmenter``
(``video``) and policy evaluation with its table and plot (``evaluate``, ``report``)."""
