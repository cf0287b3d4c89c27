"""Start the me_perception node configured and active.

    ros2 launch me_perception me_perception.launch.py camera_topic:=/camera/color/image_raw
    ros2 launch me_perception me_perception.launch.py compressed:=true use_sim_time:=true

Outputs: <namespace>/state, <namespace>/events, <namespace>/debug_image, /diagnostics.
Every tunable is in config/me_perception.yaml (pass your own with params_file:=...).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import LifecycleNode
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    (
        "camera_topic",
        "/camera/image_raw",
        "Raw image topic (sensor_msgs/Image); with "
        "compressed:=true, <camera_topic>/compressed (sensor_msgs/CompressedImage) is used",
    ),
    ("compressed", "false", "Subscribe to the CompressedImage topic instead of the raw one"),
    (
        "params_file",
        PathJoinSubstitution([FindPackageShare("me_perception"), "config", "me_perception.yaml"]),
        "YAML file with the node's parameters",
    ),
    (
        "backend",
        "auto",
        "Inference backend: auto, tensorrt, onnxruntime, onnxruntime-cuda, "
        "onnxruntime-cpu or torch",
    ),
    ("model_path", "", "Model directory or .onnx file (empty: the shipped default model)"),
    ("namespace", "me_perception", "Namespace of the node and its output topics"),
    ("use_sim_time", "false", "Use /clock (set true when replaying a bag with --clock)"),
    ("input_reliability", "best_effort", "QoS reliability of the image subscription"),
    ("publish_ros4hri", "false", "Also publish ROS4HRI /humans/faces/<id>/... topics"),
    ("log_level", "info", "Logging level"),
]


def _node(compressed: bool) -> LifecycleNode:
    camera = LaunchConfiguration("camera_topic")
    remap = [("image/compressed", [camera, "/compressed"])] if compressed else [("image", camera)]
    return LifecycleNode(
        package="me_perception",
        executable="me_perception_node",
        name="me_perception",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        condition=(IfCondition if compressed else UnlessCondition)(
            LaunchConfiguration("compressed")
        ),
        parameters=[
            LaunchConfiguration("params_file"),
            {
                # Configure and activate at start-up; a lifecycle manager may drive it instead.
                "autostart": True,
                "image_transport": "compressed" if compressed else "raw",
                "backend": LaunchConfiguration("backend"),
                "model_path": LaunchConfiguration("model_path"),
                "use_sim_time": PythonExpression(
                    ["'", LaunchConfiguration("use_sim_time"), "'.lower() == 'true'"]
                ),
                "qos.input_reliability": LaunchConfiguration("input_reliability"),
                "publish_ros4hri": PythonExpression(
                    ["'", LaunchConfiguration("publish_ros4hri"), "'.lower() == 'true'"]
                ),
            },
        ],
        remappings=remap,
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument(name, default_value=default, description=description)
            for name, default, description in ARGUMENTS
        ]
        + [_node(compressed=False), _node(compressed=True)]
    )
