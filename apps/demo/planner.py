"""Process `planner` (unit demo-planner): the scipy path planner."""

import horus
from nodes.monitor import make_monitor
from nodes.planner import make_planner

horus.run(make_planner(), make_monitor("planner"), tick_rate=100, name="planner")
