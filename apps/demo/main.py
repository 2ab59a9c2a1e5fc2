"""Every node in one process, for development on a workstation: `horus run main.py`.

On the robot each group runs as its own systemd unit (control.py, perception.py, planner.py;
see images/demo-*.toml). Here gc stays enabled in the motor node, because torch shares the process.
"""

import horus
from nodes.camera import make_camera
from nodes.inference import make_inference
from nodes.monitor import make_monitor
from nodes.motor import make_motor
from nodes.planner import make_planner
from nodes.safety import make_safety

sched = horus.Scheduler(tick_rate=1000, name="demo")
for node in (make_camera(), make_inference(), make_planner(), make_motor(disable_gc=False), make_safety()):
    sched.add(node)
sched.add(make_monitor("demo"))
horus.serve_health(sched)  # where HORUS_HEALTH_HOST/PORT say: the image's [health]
sched.run()
