"""What the names added for upstream's surface do (test_upstream_surface.py checks that they exist)."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import horus
import numpy as np
import pytest
from horus import msggen
from horus.observability import logring
from horus_procs import Py


def test_topic_introspection_as_upstream(ns: str) -> None:
    typed, plain = horus.Topic(horus.CmdVel, endpoint="base.cmd"), horus.Topic("plain")
    assert (typed.name, typed.endpoint, typed.is_generic()) == ("base.cmd", "base.cmd", False)
    assert (plain.name, plain.endpoint, plain.is_generic()) == ("plain", None, True)
    assert typed.is_network_topic is False and typed.backend_type == "shm_ring"
    assert typed.pub_count() == 0
    sub = horus.Topic(horus.CmdVel, endpoint="base.cmd")
    for i in range(3):
        typed.send(horus.CmdVel(float(i)))
    assert typed.pub_count() == 1
    assert sub.recv() == horus.CmdVel(0.0) and sub.recv(0.5) == horus.CmdVel(1.0)  # a number is the timeout
    stats = sub.stats()
    assert stats["messages_received"] == 2 and stats["backend"] == "shm_ring" and not stats["is_network"]
    assert typed.stats()["messages_sent"] == 3


def test_the_publisher_of_another_process_is_counted(ns: str, py: Py) -> None:
    proc = py.start(
        'import horus, sys; t = horus.Topic("counted"); t.send(1); print("ready", flush=True); sys.stdin.readline()',
        stdin=subprocess.PIPE,  # held open: the child waits on it, whatever pytest's own stdin is
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert horus.Topic("counted").pub_count() == 1
    finally:
        proc.kill()
        proc.wait()
    assert horus.Topic("counted").pub_count() == 0  # the claim ends with its process


def test_topics_that_receive_are_counted_as_subscribers_until_closed_or_killed(ns: str, py: Py) -> None:
    pub = horus.Topic("watched")
    pub.send(1)
    assert pub.sub_count() == 0  # a publisher, or a Topic that never received, is no subscriber
    first, second = horus.Topic("watched"), horus.Topic("watched")
    assert first.recv() is None and second.recv() is None
    assert pub.sub_count() == 2
    proc = py.start(
        'import horus, sys; t = horus.Topic("watched"); t.recv(); print("ready", flush=True); sys.stdin.readline()',
        stdin=subprocess.PIPE,  # held open: the child waits on it, whatever pytest's own stdin is
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert pub.sub_count() == 3
    finally:
        proc.kill()
        proc.wait()
    assert pub.sub_count() == 2  # a killed subscriber is not counted
    first.close()
    del second  # collected without close(): its count goes with it
    assert pub.sub_count() == 0


def test_send_and_recv_with_a_node_log_the_message(ns: str) -> None:
    info = horus.NodeInfo("logger")
    pub, sub = horus.Topic("logged"), horus.Topic("logged")
    assert pub.send({"a": 1}, info) is True
    assert sub.recv(info) == {"a": 1}
    records = [r.message for r in logring.Reader(ns).poll() if r.node == "logger"]
    assert any(m.startswith("pub logged: {'a': 1}") for m in records), records
    assert any(m.startswith("sub logged: {'a': 1}") for m in records), records
    assert pickle_round_trip(info).name == "logger"


def pickle_round_trip(obj: object) -> horus.NodeInfo:
    import pickle

    copy = pickle.loads(pickle.dumps(obj))
    assert isinstance(copy, horus.NodeInfo)
    return copy


def test_transform_frame_reports() -> None:
    tf = horus.TransformFrame()
    tf.register_frame("world")
    tf.register_static_frame("base", horus.Transform.identity(), "world")
    tf.register_frame("camera", "base")
    tf.update_transform("camera", horus.Transform.from_translation([1.0, 0.0, 0.0]), 1_000_000_000)
    tf.update_transform("camera", horus.Transform.from_translation([2.0, 0.0, 0.0]), 1_500_000_000)
    tf.validate()
    info = tf.frame_info("camera")
    assert info is not None
    assert (info["parent"], info["depth"], info["is_static"], info["time_range"]) == (
        "base",
        2,
        False,
        (1_000_000_000, 1_500_000_000),
    )
    assert tf.frame_info("nowhere") is None
    assert [i["name"] for i in tf.frame_info_all()] == ["world", "base", "camera"]
    dot = tf.frames_as_dot()
    assert (
        dot.startswith("digraph frames {") and '"base" -> "camera";' in dot and '"world" -> "base" [style=dashed' in dot
    )
    yaml = tf.frames_as_yaml()
    assert (
        "'camera':\n  parent: 'base'\n" in yaml and "  rate: 2.000\n" in yaml and "buffer_length: 0.500000000" in yaml
    )


def test_image_helpers_share_the_frames_memory() -> None:
    image = horus.Image(2, 3, "rgb8")
    assert (image.device, image.is_gpu(), image.to_cpu() is image) == ("cpu", False, True)
    image[0, 0] = [1, 2, 3]
    assert list(image.to_numpy()[0, 0]) == [1, 2, 3] and list(image[0, 0]) == [1, 2, 3]
    tensor = image.as_tensor()
    tensor[1, 1] = np.array([9, 9, 9], dtype=np.uint8)
    assert image.pixel(1, 1) == [9, 9, 9]
    assert (image + 1).numpy()[0, 0, 0] == 2 and isinstance(image * 2, horus.Tensor)
    cloud = horus.PointCloud(5)
    assert len(cloud) == 5 and cloud.as_tensor().shape == [5, 3]


def test_tensor_device_queries() -> None:
    tensor = horus.Tensor([2, 2])
    assert (tensor.device, tensor.is_cpu(), tensor.is_cuda(), tensor.is_gpu()) == ("cpu", True, False, False)
    assert tensor.cpu() is tensor and tensor.is_contiguous() and tensor.refcount == 1
    assert not horus.Tensor._over(np.zeros((4, 4))[:, ::2]).is_contiguous()  # a strided view


def test_message_helpers_as_upstream() -> None:
    goal = horus.NavGoal(1.0, 1.0, 0.0, position_tolerance=0.2, angle_tolerance=0.1)
    assert goal.tolerance_position == 0.2 and goal.with_timeout(5.0).timeout_seconds == 5.0 and goal.timeout == 30.0
    assert goal.is_reached(horus.Pose2D(1.1, 1.0, 2 * math.pi)) and not goal.is_position_reached(horus.Pose2D())
    plan = horus.PathPlan.from_waypoints([(0, 0, 0), (1, 1, 0.5)], goal_x=1.0, goal_y=1.0)
    assert plan.waypoint(1) == (1.0, 1.0, 0.5) and plan.waypoint(2) is None and plan.goal_pose == (1.0, 1.0, 0.0)
    assert plan.add_waypoint(2, 2, 0) and plan.waypoint_count == 3 and not plan.is_empty()
    keys = horus.KeyboardInput("a", modifiers=0b101)
    assert keys.is_ctrl() and keys.is_shift() and not keys.is_alt() and keys.modifier_flags == 5
    mask = horus.SegmentationMask.panoptic(4, 3, 10)
    assert mask.is_panoptic() and mask.data_size() == 12 and mask.data_size_u16() == 24
    plane = horus.PlaneDetection(0, 0, 1, -1)
    assert plane.distance_to_point(5, 5, 3) == 2.0 and plane.contains_point(0, 0, 1.01, 0.05)
    assert plane.coefficients == (0.0, 0.0, 1.0, -1.0) and plane.normal == horus.Vector3(0, 0, 1)
    safety = horus.SafetyStatus()
    assert safety.is_safe()
    safety.set_fault(7)
    assert not safety.is_safe() and safety.mode == horus.SafetyStatus.MODE_SAFE_STOP
    safety.clear_faults()
    assert safety.is_safe() and safety.mode == 0
    a, b = horus.Landmark3D.visible(0, 0, 0, 1), horus.Landmark3D(3, 4, 0, 0.2)
    assert a.distance_to(b) == 5.0 and not b.is_visible(0.5) and a.to_2d() == horus.Landmark(0, 0, 1.0, 1)
    assert horus.BoundingBox3D.with_rotation(0, 0, 0, 1, 2, 3, 0, 0, 0.5).volume == 6.0
    assert horus.Waypoint(1, 2).with_stop().stop_required
    heartbeat = horus.NodeHeartbeat()
    assert not heartbeat.is_fresh(5)
    heartbeat.update_timestamp()
    assert heartbeat.is_fresh(5)
    assert horus.CameraInfo(fx=500, fy=500, cx=320, cy=240).camera_matrix[:3] == [500.0, 0.0, 320.0]
    assert horus.PointField("x", 0, 7, 1).field_size() == 4
    assert horus.HapticFeedback.pulse(2.0, 5.0, 0.5).vibration_intensity == 1.0


def test_node_builder_adds_the_node_with_its_settings() -> None:
    ticks: list[int] = []
    node = horus.Node(name="built", tick=lambda n: ticks.append(1), rate=10)
    sched = horus.Scheduler(tick_rate=100)
    assert sched.node(node).rate(50).order(3).budget(0.001).failure_policy("restart", max_retries=2).build() is sched
    assert (node.rate, node.order, node.budget, node.policy.kind, node.policy.max_restarts) == (
        50,
        3,
        0.001,
        "restart",
        2,
    )
    with pytest.raises(ValueError, match="in seconds"):
        sched.node(node).budget(300)
    sched.tick_once(["built"])
    assert ticks == [1]


def test_generate_messages_from_yaml(tmp_path: Path) -> None:
    spec = tmp_path / "msgs.yaml"
    spec.write_text(json.dumps({"messages": [{"name": "YamlStatus", "topic": "yaml/status",
                                              "fields": [{"name": "level", "type": "f32"}]}]}))  # fmt: skip
    (header,) = msggen.generate_messages_from_yaml(spec, tmp_path / "out")
    assert "float level;" in header and (tmp_path / "out" / "yamlstatus.h").exists()
    spec.write_text(json.dumps({"messages": [{"name": "Broken"}]}))
    with pytest.raises(ValueError, match=r"messages\[0\]: each message needs name, topic and fields"):
        msggen.generate_messages_from_yaml(spec)


def test_the_extension_module_names_what_upstream_imports_from_it() -> None:
    from horus import _horus

    assert (
        _horus.Image is horus.Image
        and _horus.TensorPool is horus.TensorPool
        and _horus.drivers is horus.runtime.drivers
    )
    assert _horus.NodeBuilder is horus.NodeBuilder
