"""rosbag2 tooling through the `rosbags` package (no ROS install needed): Cityscapes-layout data
to bags, offline bag-to-bag segmentation, evaluation from bags."""
