"""The demo robot's nodes: one factory per node, so each process script picks the ones it runs.

camera (30 Hz) -> camera.rgb -> inference (15 Hz, torch) -> detections -> planner (5 Hz, scipy)
-> cmd_vel -> motor (1 kHz, gc off) -> motor.status -> safety (200 Hz) -> safety.state -> motor
(motor and safety also as compiled nodes: cnodes/motor.c, cnodes/safety.c)
"""
