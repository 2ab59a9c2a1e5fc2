"""Process `control` (unit demo-control): motor controller at 1 kHz, safety monitor, health endpoint.

Real-time: the scheduler asks for SCHED_FIFO and locked memory (the unit grants CAP_SYS_NICE
and CAP_IPC_LOCK); where the system refuses, the runtime logs it and the loop still runs.
"""

import horus
from nodes.monitor import make_monitor
from nodes.motor import make_motor
from nodes.safety import make_safety

sched = horus.Scheduler(tick_rate=1000, rt=True, name="control")
sched.add(make_motor()).add(make_safety()).add(make_monitor("control"))
horus.serve_health(sched)  # where HORUS_HEALTH_HOST/PORT say: the image's [health]
sched.run()
