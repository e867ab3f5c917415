"""ROS 2 shell around vsseg_core: the lifecycle node (``node``), image conversion at the edge,
parameters (``parameters``, defaults in config/vsseg.yaml), diagnostics statistics, and the
probe behind `vsseg node-demo` / `vsseg bench-node`."""
