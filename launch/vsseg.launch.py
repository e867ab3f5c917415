"""Start vsseg_node as a lifecycle node that configures and activates itself.

    ros2 launch vsseg vsseg.launch.py camera_topic:=/front/image_raw policy:=budget budget_ms:=40

Every node parameter is an argument of the same name, passed with the parameter's type; empty
(the default) = the params file's value. `ros2 launch vsseg vsseg.launch.py --show-args` lists
them. The arguments and their conversion live in vsseg_ros/launch_arguments.py (tested without
launch_ros); this file only hands them to launch_ros. With autostart the node configures and
activates itself (`vsseg_node --autostart`, also after a respawn) and exits with code 1 when
configure fails; a node process that exits (without respawn) ends the launch, with an error
naming the exit code unless it exited cleanly.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, LogInfo, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

from vsseg_ros.launch_arguments import LAUNCH_ARGUMENTS, flag, parameter_overrides
from vsseg_ros.parameters import config_path


def _node_exited(event, context) -> list:
    """End the launch when the node process ends (nothing to do if the launch is ending it)."""
    if context.is_shutdown:
        return []
    if event.returncode != 0:  # launch reports it and exits non-zero
        raise RuntimeError(f"vsseg_node exited with code {event.returncode}; its log above says "
                           "why (e.g. `configure failed: ...`)")
    return [LogInfo(msg="vsseg.launch.py: vsseg_node exited; shutting down"),
            EmitEvent(event=Shutdown(reason="vsseg_node exited"))]


def _node(context) -> list:
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGUMENTS}
    camera = values["camera_topic"]
    respawn = flag(values, "respawn")
    node = LifecycleNode(
        package="vsseg", executable="vsseg_node", name="vsseg_node", output="screen",
        namespace=values["namespace"], respawn=respawn, respawn_delay=2.0,
        arguments=["--autostart"] if flag(values, "autostart") else [],
        parameters=[values["params_file"] or str(config_path()),
                    {**parameter_overrides(values), "use_sim_time": flag(values, "use_sim_time")}],
        remappings=[("image", camera), ("image/compressed", f"{camera}/compressed")],
        ros_arguments=["--log-level", values["log_level"]])
    if respawn:
        return [node]
    return [RegisterEventHandler(OnProcessExit(target_action=node, on_exit=_node_exited)), node]


def generate_launch_description() -> LaunchDescription:
    arguments = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description,
                                       **({"choices": list(a.choices)} if a.choices else {}))
                 for a in LAUNCH_ARGUMENTS]
    return LaunchDescription([*arguments, OpaqueFunction(function=_node)])
