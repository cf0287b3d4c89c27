"""ROS-free perception: image -> faces -> crops -> features -> memory -> events."""
