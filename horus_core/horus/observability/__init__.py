"""What a running robot shows: per-node stats and the shared stats registry, log records (stderr,
journald, the namespace's log ring), the black box, telemetry and the health endpoint.
"""
