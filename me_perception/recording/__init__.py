"""Recordings: rosbag2 message types, reading and writing bags, replay onto ROS topics."""
