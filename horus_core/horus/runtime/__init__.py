"""The runtime: nodes, the scheduler that ticks them and what it does on failure, the framework
clock, parameters, CPU and priority placement, systemd notifications and update holds.
"""
