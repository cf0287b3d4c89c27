"""The thin ROS 2 shell: the lifecycle node, its parameters, message fields, the overlay."""
