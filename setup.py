"""pip / colcon install of the vsseg Python packages (ament_python layout at the repo root)."""

from setuptools import find_packages, setup

PACKAGE = "vsseg"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Real-time semantic segmentation of driving video for ROS 2 (Cityscapes trainIds)",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["vsseg_core", "vsseg_core.*", "vsseg_ros", "vsseg_ros.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=[
        "numpy>=1.26",
        "opencv-python-headless>=4.8",
        "pillow>=10",
        "tqdm>=4.60",
        "cityscapesscripts>=2.2",
        "torch>=2.4",
        "onnx>=1.16",
        "onnxruntime>=1.18",
        "rosbags>=0.11",
        "matplotlib>=3.7",
        "PyYAML>=6",
    ],
    extras_require={
        "dev": ["pytest==9.2.0", "pytest-timeout==2.4.0"],
    },
    package_data={"vsseg_core": ["default_model/*"]},
    entry_points={
        "console_scripts": ["vsseg = vsseg_core.cli.main:main", "vsseg_node = vsseg_ros.node:main"],
        # subcommands that need ROS 2; vsseg_core's CLI loads them when they import
        "vsseg.commands": ["node-demo = vsseg_ros.cli.node_demo",
                           "bench-node = vsseg_ros.cli.bench_node"],
        # `vsseg bag` subcommands that need ROS 2
        "vsseg.bag_commands": ["play = vsseg_ros.cli.bag_play", "record = vsseg_ros.cli.bag_record",
                               "replay = vsseg_ros.cli.bag_replay"],
    },
    zip_safe=True,
)
