"""Start vsseg_node as a lifecycle node that configures and activates itself.

    ros2 launch vsseg vsseg.launch.py camera_topic:=/front/image_raw policy:=budget budget_ms:=40.0

Defaults live only in config/vsseg.yaml (``params_file``): a parameter argument left empty is
not passed, so the file's value applies.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

PARAMETER_ARGUMENTS = {
    "model": "model bundle directory; empty = the params file's value (the shipped model)",
    "backend": "inference backend: auto, tensorrt, onnxruntime or torch",
    "precision": "numeric precision: auto, fp32, fp16 or int8 (tensorrt)",
    "engine_cache_dir": "TensorRT engine cache (where `vsseg build-engine --cache` put them)",
    "dla_core": "TensorRT: DLA core to run on (Jetson), -1 = the GPU",
    "policy": "keyframe policy: per_frame, fixed, adaptive or budget",
    "interval": "frames between keyframes for policy fixed",
    "threshold": "adaptive deviation threshold (0 = the bundle's calibrated one)",
    "budget_ms": "mean latency per frame for policy budget (ms)",
}
"""Launch arguments passed to the node as parameters of the same name when not empty."""


def _node(context):
    parameters = [LaunchConfiguration("params_file").perform(context)]
    overrides = {name: LaunchConfiguration(name).perform(context) for name in PARAMETER_ARGUMENTS}
    given = {name: value for name, value in overrides.items() if value != ""}
    if given:
        parameters.append(given)
    node = LifecycleNode(
        package="vsseg", executable="vsseg_node", name="vsseg_node", output="screen",
        namespace=LaunchConfiguration("namespace"), parameters=parameters,
        remappings=[("image", LaunchConfiguration("camera_topic")),
                    ("image/compressed", [LaunchConfiguration("camera_topic"), "/compressed"])])
    configure = EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                            transition_id=Transition.TRANSITION_CONFIGURE))
    activate = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, goal_state="inactive",
        entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                              transition_id=Transition.TRANSITION_ACTIVATE))]))
    return [activate, node, configure]


def generate_launch_description() -> LaunchDescription:
    arguments = [
        DeclareLaunchArgument("camera_topic", default_value="/camera/image_raw",
                              description="sensor_msgs/Image topic to segment"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the node and its topics (not /diagnostics)"),
        DeclareLaunchArgument("params_file",
                              default_value=[FindPackageShare("vsseg"), "/config/vsseg.yaml"],
                              description="node parameters (defaults: config/vsseg.yaml)"),
    ]
    arguments += [DeclareLaunchArgument(name, default_value="", description=description)
                  for name, description in PARAMETER_ARGUMENTS.items()]
    return LaunchDescription([*arguments, OpaqueFunction(function=_node)])
