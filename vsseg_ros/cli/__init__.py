"""`vsseg` subcommands that need ROS 2 (registered through the "vsseg.commands" entry points,
so vsseg_core's CLI never imports rclpy)."""
