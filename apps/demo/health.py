"""Process `health` (unit demo-health) of an image whose motor and safety run compiled (cnodes/):
the resource monitor and the health endpoint, which vouches for the compiled nodes too.

control.py is this process with the Python motor controller and safety monitor inside.
"""

import horus
from nodes.monitor import make_monitor

# The compiled nodes serve no endpoint: /health is 503 unless each ticks, healthy, in the registry.
COMPILED = ("motor", "safety")

sched = horus.Scheduler(tick_rate=10, name="health")
sched.add(make_monitor("health"))
horus.serve_health(sched, others=COMPILED)  # where HORUS_HEALTH_HOST/PORT say: the image's [health]
sched.run()
