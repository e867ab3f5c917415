"""ROS 2 shell around vsseg_core (the lifecycle node arrives with issue 5). Empty for now."""
