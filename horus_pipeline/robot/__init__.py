"""What runs on the robot: the stdlib-only release assembly tool (assemble.py)."""
