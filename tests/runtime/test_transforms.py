"""horus.Transform and horus.TransformFrame: the math, the tree, timed lookups with interpolation."""

from __future__ import annotations

import math
import threading

import horus
import pytest
from horus import Transform, TransformFrame
from horus_procs import Py, wait_line


def close(a: list[float], b: list[float], tol: float = 1e-9) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_transform_math() -> None:
    yaw90 = Transform.from_euler([1.0, 0.0, 0.0], [0.0, 0.0, math.pi / 2])
    assert close(yaw90.transform_point([1.0, 0.0, 0.0]), [1.0, 1.0, 0.0])
    assert close(yaw90.transform_vector([1.0, 0.0, 0.0]), [0.0, 1.0, 0.0])
    assert close(yaw90.to_euler(), [0.0, 0.0, math.pi / 2])
    identity = yaw90.compose(yaw90.inverse())
    assert close(identity.translation, [0.0, 0.0, 0.0]) and close(identity.rotation, [0.0, 0.0, 0.0, 1.0])
    back = Transform.from_matrix(yaw90.to_matrix())
    assert close(back.translation, yaw90.translation) and close(back.rotation, yaw90.rotation)
    half = Transform().interpolate(yaw90, 0.5)
    assert close(half.translation, [0.5, 0.0, 0.0]) and math.isclose(half.rotation_angle(), math.pi / 4)
    assert Transform(rotation=[0, 0, 2, 0]).rotation == [0.0, 0.0, 1.0, 0.0]  # kept normalised
    with pytest.raises(ValueError, match="not a valid quaternion"):
        Transform(rotation=[0, 0, 0, 0])


def robot() -> TransformFrame:
    tf = TransformFrame()
    tf.register_frame("world")
    tf.register_frame("base_link", parent="world")
    tf.register_static_frame("camera", Transform([0.2, 0.0, 0.5]), parent="base_link")
    tf.register_frame("map")  # a second tree
    return tf


def test_lookups_walk_the_tree_both_ways() -> None:
    tf = robot()
    tf.update_transform("base_link", Transform.from_euler([2.0, 0.0, 0.0], [0.0, 0.0, math.pi]), timestamp_ns=100)
    assert close(tf.transform_point("camera", "world", [0.0, 0.0, 0.0]), [1.8, 0.0, 0.5])
    assert close(tf.transform_point("world", "camera", [1.8, 0.0, 0.5]), [0.0, 0.0, 0.0])
    assert tf.frame_chain("camera", "world") == ["camera", "base_link", "world"]
    assert tf.children("world") == ["base_link"] and tf.parent("camera") == "base_link"
    assert not tf.can_transform("camera", "map")
    with pytest.raises(horus.HorusTransformError, match="different trees"):
        tf.tf("camera", "map")
    with pytest.raises(horus.HorusNotFoundError, match="no frame named 'lidar'"):
        tf.tf("lidar", "world")


def test_timed_lookups_interpolate_and_respect_tolerance() -> None:
    tf = robot()
    for stamp, x in ((1_000, 0.0), (3_000, 2.0)):
        tf.update_transform("base_link", Transform([x, 0.0, 0.0]), timestamp_ns=stamp)
    assert close(tf.tf_at("base_link", "world", 2_500).translation, [1.5, 0.0, 0.0])
    assert close(tf.tf_at("base_link", "world", 9_000).translation, [2.0, 0.0, 0.0])  # nearest sample
    assert close(tf.tf_at_with_tolerance("base_link", "world", 3_050, 100).translation, [2.0, 0.0, 0.0])
    with pytest.raises(horus.HorusTransformError, match="no transform within"):
        tf.tf_at_strict("base_link", "world", 3_001)
    assert tf.can_transform_at("base_link", "world", 2_000) and not tf.can_transform_at("base_link", "world", 500)


def test_history_is_bounded_and_frames_go_stale() -> None:
    tf = TransformFrame(horus.TransformFrameConfig(max_frames=2, history_len=2))
    tf.register_frame("world")
    tf.register_frame("arm", parent="world")
    for stamp in (1, 2, 3):
        tf.update_transform("arm", Transform([float(stamp), 0.0, 0.0]), timestamp_ns=stamp)
    assert close(tf.tf_at("arm", "world", 1).translation, [2.0, 0.0, 0.0])  # sample 1 was dropped
    assert tf.is_stale("arm", max_age_sec=60) is False and tf.is_stale("arm", max_age_sec=0) is True
    with pytest.raises(ValueError, match="the tree is full"):
        tf.register_frame("gripper", parent="arm")


def test_wait_for_transform_wakes_on_the_update_or_times_out() -> None:
    tf = robot()
    timer = threading.Timer(0.05, lambda: tf.update_transform("base_link", Transform([1.0, 0.0, 0.0])))
    timer.start()
    try:
        assert close(tf.wait_for_transform("camera", "world", 10).translation, [1.2, 0.0, 0.5])
    finally:
        timer.join()
    with pytest.raises(horus.HorusTimeoutError, match="no transform 'camera' -> 'map'"):
        tf.wait_for_transform("camera", "map", 0.01)


def test_a_shared_tree_is_seen_by_every_process_of_the_namespace(ns: str, py: Py) -> None:
    # The localisation process owns world -> base_link and the camera mount; it joins first.
    child = py.start("""
import sys, time, horus
tf = horus.TransformFrame(share="tf")
tf.register_frame("world")
tf.register_frame("base_link", parent="world")
tf.register_static_frame("camera", horus.Transform([0.2, 0.0, 0.5]), parent="base_link")
print("ready", flush=True)
x = 0.0
while not tf.can_transform("lidar", "world"):  # the other process's frame, once it arrives
    x += 0.01
    tf.update_transform("base_link", horus.Transform([x, 0.0, 0.0]))
    time.sleep(0.01)
print("lidar", tf.transform_point("lidar", "base_link", [0.0, 0.0, 0.0]), flush=True)
time.sleep(0.5)
""")
    wait_line(child, "ready")
    tf = TransformFrame(share="tf")  # joins late: everything so far reaches it all the same
    try:
        seen = tf.wait_for_transform("camera", "world", 10)
        assert seen.translation[0] > 0.2 and seen.translation[1:] == [0.0, 0.5]
        tf.register_static_frame("lidar", Transform([0.0, 0.0, 1.0]), parent="base_link")
        assert child.stdout is not None and child.stdout.readline() == "lidar [0.0, 0.0, 1.0]\n"
        assert child.wait(10) == 0
    finally:
        tf.close()
