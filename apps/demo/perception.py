"""Process `perception` (unit demo-perception): synthetic camera and torch inference."""

import horus
from nodes.camera import make_camera
from nodes.inference import make_inference
from nodes.monitor import make_monitor

horus.run(make_camera(), make_inference(), make_monitor("perception"), tick_rate=100, name="perception")
