"""Start the me_perception lifecycle node (configured and active unless autostart:=false).

    ros2 launch me_perception me_perception.launch.py camera_topic:=/camera/color/image_raw
    ros2 launch me_perception me_perception.launch.py image_transport:=compressed use_sim_time:=true
    ros2 launch me_perception me_perception.launch.py autostart:=false   # a lifecycle manager
                                                                         # configures/activates

Outputs: <namespace>/state, <namespace>/events, <namespace>/debug_image, /diagnostics.
Every tunable is in config/me_perception.yaml (pass your own with params_file:=...), QoS
included (rclpy's standard qos_overrides). The node's process loads the shipped Fast DDS
profile for large images (fastdds_profile:=... for another, fastdds_profile:='' for none); the
camera driver's process needs it too for best-effort raw images (docs/node.md).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import (
    EnvironmentVariable,
    LaunchConfiguration,
    PathJoinSubstitution,
    PythonExpression,
)
from launch_ros.actions import LifecycleNode
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from me_perception.backends import BACKEND_NAMES
from me_perception.ros.fastdds import LARGE_IMAGE_PROFILE, profile_variable

BOOL = ("true", "false")

# (name, default, description, allowed values or None)
ARGUMENTS = [
    (
        "camera_topic",
        "/camera/image_raw",
        "Raw image topic (sensor_msgs/Image); with image_transport:=compressed, "
        "<camera_topic>/compressed (sensor_msgs/CompressedImage) is used",
        None,
    ),
    (
        "image_transport",
        "raw",
        "Subscribe to the raw or the compressed image",
        ("raw", "compressed"),
    ),
    (
        "params_file",
        PathJoinSubstitution([FindPackageShare("me_perception"), "config", "me_perception.yaml"]),
        "YAML file with the node's parameters (QoS overrides included)",
        None,
    ),
    ("backend", "auto", "Inference backend", BACKEND_NAMES),
    (
        "model_path",
        "",
        "roi_flow, network, a model directory or .onnx file (empty: the shipped default, roi_flow)",
        None,
    ),
    ("namespace", "me_perception", "Namespace of the node and its output topics", None),
    ("use_sim_time", "false", "Use /clock (true when replaying a bag with --clock)", BOOL),
    (
        "autostart",
        "true",
        "Configure and activate at start-up; false leaves it to a lifecycle manager",
        BOOL,
    ),
    ("publish_ros4hri", "false", "Also publish the ROS4HRI /humans/faces/... topics", BOOL),
    ("log_level", "info", "Logging level", ("debug", "info", "warn", "error", "fatal")),
    (
        "fastdds_profile",
        EnvironmentVariable(profile_variable(), default_value=str(LARGE_IMAGE_PROFILE)),
        "Fast DDS profile file of the node's process ('' leaves the middleware alone)",
        None,
    ),
]


def _argument(name, default, description, choices):
    if choices is None:
        return DeclareLaunchArgument(name, default_value=default, description=description)
    return DeclareLaunchArgument(
        name, default_value=default, description=description, choices=list(choices)
    )


def generate_launch_description() -> LaunchDescription:
    camera = LaunchConfiguration("camera_topic")
    profile = LaunchConfiguration("fastdds_profile")
    node = LifecycleNode(
        package="me_perception",
        executable="me_perception_node",
        name="me_perception",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "autostart": ParameterValue(LaunchConfiguration("autostart"), value_type=bool),
                "image_transport": LaunchConfiguration("image_transport"),
                "backend": LaunchConfiguration("backend"),
                "model_path": ParameterValue(LaunchConfiguration("model_path"), value_type=str),
                "use_sim_time": ParameterValue(
                    LaunchConfiguration("use_sim_time"), value_type=bool
                ),
                "publish_ros4hri": ParameterValue(
                    LaunchConfiguration("publish_ros4hri"), value_type=bool
                ),
            },
        ],
        # Both inputs are remapped; the node subscribes to the one image_transport names.
        remappings=[("image", camera), ("image/compressed", [camera, "/compressed"])],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )
    use_profile = IfCondition(PythonExpression(["'", profile, "' != ''"]))
    return LaunchDescription(
        [_argument(*argument) for argument in ARGUMENTS]
        + [
            SetEnvironmentVariable(profile_variable(), profile, condition=use_profile),
            node,
        ]
    )
