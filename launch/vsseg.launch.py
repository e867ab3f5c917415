"""Start vsseg_node as a lifecycle node that configures and activates itself.

    ros2 launch vsseg vsseg.launch.py camera_topic:=/front/image_raw policy:=budget budget_ms:=40

Every node parameter is an argument of the same name, passed with the parameter's type; empty
(the default) = the params file's value. `ros2 launch vsseg vsseg.launch.py --show-args` lists
them. The arguments and their conversion live in vsseg_ros/launch_arguments.py (tested without
launch_ros); this file only hands them to launch_ros. A node that fails to configure, or whose
process exits (without respawn), ends the launch with the reason.
"""

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.event_handlers import OnProcessExit, OnProcessStart
from launch.events import Shutdown, matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from vsseg_ros.launch_arguments import LAUNCH_ARGUMENTS, flag, parameter_overrides
from vsseg_ros.parameters import config_path


def _transition(node, transition_id: int) -> EmitEvent:
    return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                       transition_id=transition_id))


def _shutdown(reason: str) -> list:
    return [LogInfo(msg=f"vsseg.launch.py: {reason}; shutting down"),
            EmitEvent(event=Shutdown(reason=reason))]


def _node(context) -> list:
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGUMENTS}
    camera = values["camera_topic"]
    respawn = flag(values, "respawn")
    node = LifecycleNode(
        package="vsseg", executable="vsseg_node", name="vsseg_node", output="screen",
        namespace=values["namespace"], respawn=respawn, respawn_delay=2.0,
        parameters=[values["params_file"] or str(config_path()),
                    {**parameter_overrides(values), "use_sim_time": flag(values, "use_sim_time")}],
        remappings=[("image", camera), ("image/compressed", f"{camera}/compressed")],
        ros_arguments=["--log-level", values["log_level"]])
    actions = [RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, start_state="configuring", goal_state="unconfigured",
        entities=_shutdown("vsseg_node failed to configure (its log above says why)")))]
    if not respawn:
        actions.append(RegisterEventHandler(OnProcessExit(
            target_action=node, on_exit=_shutdown("the vsseg_node process exited"))))
    if flag(values, "autostart"):
        actions += [
            RegisterEventHandler(OnProcessStart(
                target_action=node,
                on_start=[_transition(node, Transition.TRANSITION_CONFIGURE)])),
            RegisterEventHandler(OnStateTransition(
                target_lifecycle_node=node, start_state="configuring", goal_state="inactive",
                entities=[_transition(node, Transition.TRANSITION_ACTIVATE)]))]
    return [*actions, node]


def generate_launch_description() -> LaunchDescription:
    arguments = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description,
                                       **({"choices": list(a.choices)} if a.choices else {}))
                 for a in LAUNCH_ARGUMENTS]
    return LaunchDescription([*arguments, OpaqueFunction(function=_node)])
