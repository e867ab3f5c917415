"""vsseg core: segmentation algorithm, data and metrics. Knows nothing of ROS."""

__version__ = "0.1.0"
