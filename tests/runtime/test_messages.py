"""Typed messages: one definition (horus_core/msgs/messages.toml), the same bytes in Python and C."""

from __future__ import annotations

import importlib.util
import math
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any

import horus
import pytest
from horus import DecodeError
from horus.messaging import codec
from horus.messaging.message import Field
from horus_procs import Py, wait_line
from horus_testing import load_module, require

from horus_pipeline import REPO

MSGS = REPO / "horus_core" / "msgs"


def generator() -> ModuleType:
    return load_module("horus_msggen", MSGS / "generate.py")


def test_the_generated_python_and_c_are_what_the_schema_gives() -> None:
    for path, text in generator().outputs().items():
        assert path.read_text() == text, f"{path} is stale: run python horus_core/msgs/generate.py"


# Values for every field of a few messages with padding, strings, arrays and unsigned widths.
SAMPLES = {
    "CmdVel": horus.CmdVel(1.5, -0.25, 123456789),
    "MotorCommand": horus.MotorCommand(
        motor_id=513, mode=2, target=-3.5, max_velocity=8.0, enable=False, timestamp_ns=7
    ),
    "EmergencyStop": horus.EmergencyStop(True, "bumper hit ✓", 42, source="safety", auto_reset=True),
    "LaserScan": horus.LaserScan(-1.5, 1.5, 0.01, 0.1, 12.0, [0.5 * i for i in range(360)], 99, scan_time=0.1),
    "DiagnosticStatus": horus.DiagnosticStatus(2, 70000, "motor hot", "motor", 5),
    "JointCommand": horus.JointCommand(["shoulder", "elbow"], [1.5, -0.3], modes=[1], timestamp_ns=9),
}

C_WRITER = r"""
#include <stdio.h>
#include <string.h>
#include "horus_msgs.h"
static void out(const void *p, size_t n) { fwrite(p, 1, n, stdout); }
int main(void) {
  horus_msg_cmd_vel a; memset(&a, 0, sizeof a);
  a.linear = 1.5f; a.angular = -0.25f; a.timestamp_ns = 123456789u; out(&a, sizeof a);
  horus_msg_motor_command b; memset(&b, 0, sizeof b);
  b.motor_id = 513; b.mode = 2; b.target = -3.5; b.max_velocity = 8.0; b.max_acceleration = 1.0 / 0.0;
  b.feed_forward = 0.0; b.enable = false; b.timestamp_ns = 7; out(&b, sizeof b);
  horus_msg_emergency_stop c; memset(&c, 0, sizeof c);
  c.engaged = true; strcpy(c.reason, "bumper hit \xe2\x9c\x93"); c.timestamp_ns = 42; strcpy(c.source, "safety");
  c.auto_reset = true; out(&c, sizeof c);
  horus_msg_laser_scan d; memset(&d, 0, sizeof d);
  d.angle_min = -1.5f; d.angle_max = 1.5f; d.angle_increment = 0.01f; d.range_min = 0.1f; d.range_max = 12.0f;
  for (int i = 0; i < 360; i++) d.ranges[i] = 0.5f * (float)i;
  d.timestamp_ns = 99; d.time_increment = 0.0f; d.scan_time = 0.1f; out(&d, sizeof d);
  horus_msg_diagnostic_status e; memset(&e, 0, sizeof e);
  e.level = 2; e.code = 70000; strcpy(e.message, "motor hot"); strcpy(e.component, "motor"); e.timestamp_ns = 5;
  out(&e, sizeof e);
  horus_msg_joint_command f; memset(&f, 0, sizeof f);
  f.names_len = 2; strcpy(f.names[0], "shoulder"); strcpy(f.names[1], "elbow");
  f.positions_len = 2; f.positions[0] = 1.5; f.positions[1] = -0.3; f.modes_len = 1; f.modes[0] = 1;
  f.timestamp_ns = 9; out(&f, sizeof f);
  return 0;
}
"""


def zig_cc(*args: str) -> subprocess.CompletedProcess[bytes]:
    require(importlib.util.find_spec("ziglang") is not None, "zig (ziglang from lockfiles/tools.txt) compiles C here")
    return subprocess.run([sys.executable, "-m", "ziglang", "cc", *args], capture_output=True, timeout=300)


def test_c_structs_hold_the_same_bytes_as_python_messages(tmp_path: Path) -> None:
    source = tmp_path / "writer.c"
    source.write_text(C_WRITER)
    exe = tmp_path / "writer"
    include = str(REPO / "horus_core" / "csrc")
    built = zig_cc(
        "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-div-by-zero", "-I", include, "-o", str(exe), str(source)
    )
    assert built.returncode == 0, built.stderr.decode()
    from_c = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    from_python = b"".join(msg.to_bytes() for msg in SAMPLES.values())
    assert from_c == from_python


@pytest.mark.parametrize("target", ["x86_64-linux-gnu", "aarch64-linux-gnu"])
def test_every_robot_cpus_compiler_accepts_the_asserted_layout(target: str, tmp_path: Path) -> None:
    # The header _Static_asserts every size and offset: it compiles only where the layout holds.
    source = tmp_path / "all.c"
    source.write_text('#include "horus_msgs.h"\nint horus_msgs_compiled;\n')
    include = str(REPO / "horus_core" / "csrc")
    built = zig_cc(
        "-target", target, "-std=c11", "-Werror", "-I", include, "-c", "-o", str(tmp_path / "all.o"), str(source)
    )
    assert built.returncode == 0, built.stderr.decode()


def test_constructors_defaults_and_names_are_upstreams() -> None:
    assert horus.CmdVel.__topic_name__ == "cmd_vel" and horus.Imu.__topic_name__ == "imu"
    assert horus.CmdVel(1.0, 0.5) == horus.CmdVel(linear=1.0, angular=0.5, timestamp_ns=0)
    assert horus.Quaternion().w == 1.0 and horus.BatteryState().temperature == 25.0
    assert horus.ServoCommand().speed == 0.5 and horus.RangeSensor().max_range == 4.0
    assert math.isinf(horus.MotorCommand().max_velocity) and horus.MotorCommand().enable is True
    assert horus.Pose3D(1, 2, 3).qw == 1.0 and horus.LaserScan().ranges == [0.0] * 360
    assert repr(horus.CmdVel(1.0, 0.5)) == "CmdVel(linear=1.0, angular=0.5, timestamp_ns=0)"
    cmd = horus.CmdVel()
    cmd.linear = 0.1  # stored as the float32 it travels as: equal after any topic
    assert cmd.linear == struct.unpack("<f", struct.pack("<f", 0.1))[0]
    assert horus.CmdVel.from_bytes(cmd.to_bytes()) == cmd


def test_lists_keep_their_length_and_upstreams_keywords_work() -> None:
    joints = horus.JointState(names=["j1", "j2"], positions=[1.0, 2.0])
    assert len(joints) == 2 and joints.velocities == [] and len(horus.JointCommand()) == 0
    assert horus.JointState.from_bytes(joints.to_bytes()) == joints
    roi = horus.RegionOfInterest(x=100, y=200, width=50)  # upstream's keywords for x_offset, y_offset
    assert (roi.x_offset, roi.y_offset, roi.width) == (100, 200, 50)
    assert horus.TimeReference(5, "ptp", -50000).offset_ns == -50000


def test_a_list_length_beyond_its_items_from_a_foreign_writer_is_refused() -> None:
    payload = bytearray(codec.encode_bytes(horus.JointState(names=["j1"])))
    header = len(payload) - horus.JointState.SIZE
    payload[header : header + 2] = struct.pack("<H", 17)  # names_len, as a broken C node could write it
    with pytest.raises(DecodeError, match=r"JointState\.names: length 17 exceeds its 16 items"):
        codec.decode(payload)


def test_a_receiver_filled_from_a_foreign_writers_broken_list_is_left_as_it_was(ns: str) -> None:
    pub, sub = horus.Topic("joints"), horus.Topic("joints")
    payload = bytearray(codec.encode_bytes(horus.JointState(names=["j1"], positions=[0.5])))
    header = len(payload) - horus.JointState.SIZE
    payload[header : header + 2] = struct.pack("<H", 17)
    pub._claim().publish(bytes(payload))
    into = horus.JointState(names=["kept"], positions=[1.0])
    with pytest.raises(DecodeError, match=r"JointState\.names: length 17 exceeds its 16 items"):
        sub.recv_into(into)
    assert into == horus.JointState(names=["kept"], positions=[1.0])


def test_a_text_that_is_not_utf8_from_a_foreign_writer_is_refused_and_changes_nothing(ns: str) -> None:
    pub, sub = horus.Topic("estop"), horus.Topic("estop")
    payload = bytearray(codec.encode_bytes(horus.EmergencyStop(True, "overheat", 7, "safety")))
    source = len(payload) - horus.EmergencyStop.SIZE + 80  # the source field, after reason and timestamp
    payload[source : source + 2] = b"\xc3\x28"  # as a broken C node could write it
    pub.send(horus.EmergencyStop(False, "none"))
    pub._claim().publish(bytes(payload))
    assert sub.recv() == horus.EmergencyStop(False, "none")
    with pytest.raises(DecodeError, match="malformed"):
        sub.recv()
    pub._claim().publish(bytes(payload))
    into = horus.EmergencyStop(False, "kept", 1, "here")
    with pytest.raises(DecodeError, match="malformed"):
        sub.recv_into(into)
    assert into == horus.EmergencyStop(False, "kept", 1, "here")  # not half filled


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: horus.MotorCommand(motor_id=70000), ValueError, "MotorCommand.motor_id: 70000 does not fit u16"),
        (lambda: horus.Heartbeat(node_name="n" * 33), ValueError, "Heartbeat.node_name: at most 32 bytes"),
        (lambda: horus.LaserScan(ranges=[1.0] * 361), ValueError, "LaserScan.ranges: at most 360 values"),
        (lambda: horus.CmdVel(speed=1.0), TypeError, "CmdVel() has no field 'speed'"),
        (lambda: horus.CmdVel(1.0, 2.0, 3, 4), TypeError, "at most 3 positional arguments"),
        (lambda: horus.Heartbeat(node_id="7"), TypeError, "Heartbeat.node_id: an integer (u32)"),
        (lambda: horus.JointState(names=["j"] * 17), ValueError, "JointState.names: at most 16 values"),
        (lambda: horus.JointState(names=["n" * 33]), ValueError, "JointState.names: at most 32 bytes"),
        (lambda: horus.RegionOfInterest(x=1, x_offset=2), TypeError, "got 'x' and 'x_offset', which are one field"),
    ],
)
def test_a_value_that_would_not_survive_the_trip_is_refused_naming_the_field(
    make: object, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        make()  # type: ignore[operator]


def test_messages_travel_inside_plain_data_and_come_back_equal() -> None:
    value = {"scan": SAMPLES["LaserScan"], "cmds": [horus.CmdVel(1.0), horus.Twist(angular_z=0.5)]}
    assert codec.decode(bytearray(codec.encode_bytes(value))) == value


def test_a_message_of_another_layout_or_an_unknown_type_is_refused() -> None:
    payload = bytearray(codec.encode_bytes(horus.CmdVel(1.0)))
    other_layout = bytearray(payload)
    other_layout[5] ^= 0xFF  # a byte of the layout hash
    with pytest.raises(DecodeError, match="a CmdVel of another layout"):
        codec.decode(other_layout)
    unknown = bytearray(payload)
    unknown[1:5] = struct.pack("<I", 0xDEADBEEF)
    with pytest.raises(DecodeError, match="type id 0xdeadbeef, which this process does not know"):
        codec.decode(unknown)


PUBLISHER = """
import sys, horus
t = horus.Topic("cmd_vel")
t.send(horus.CmdVel(0.0))
print("ready", flush=True)
sys.stdin.readline()
t.send(horus.CmdVel(1.5, 0.25, 77))
t.send(horus.Imu(accel_z=9.81, gyro_x=0.1, timestamp_ns=78))
print("done", flush=True)
"""


def test_typed_messages_cross_processes_on_a_topic(ns: str, py: Py) -> None:
    sub = horus.Topic("cmd_vel")
    sub.recv()
    pub = py.start(PUBLISHER, stdin=-1)
    wait_line(pub, "ready")
    while sub.recv() is not None:  # the priming message
        pass
    assert pub.stdin is not None
    pub.stdin.write("go\n")
    pub.stdin.flush()
    wait_line(pub, "done")
    got = [sub.recv(timeout=5), sub.recv(timeout=5)]
    assert got == [horus.CmdVel(1.5, 0.25, 77), horus.Imu(accel_z=9.81, gyro_x=0.1, timestamp_ns=78)]


def test_nodes_declare_typed_topics_as_upstream_does(ns: str) -> None:
    got: list[object] = []

    def drive(node: horus.Node) -> None:
        node.send("cmd_vel", horus.CmdVel(0.5, 0.1 * node.tick_count))

    def watch(node: horus.Node) -> None:
        msg = node.recv("cmd_vel")
        if msg is not None:
            got.append(msg)

    driver = horus.Node(name="driver", tick=drive, rate=100, pubs={"cmd_vel": horus.CmdVel, "odom": {}})
    monitor = horus.Node(name="monitor", tick=watch, rate=100, subs=[horus.CmdVel])
    horus.run(driver, monitor, duration=0.5)
    assert horus.Topic(horus.CmdVel).name == "cmd_vel"
    assert got and all(type(m) is horus.CmdVel and m.linear == 0.5 for m in got)


def test_pub_and_sub_declare_named_typed_topics_as_upstream_does(ns: str) -> None:
    got: list[tuple[str, object]] = []

    def drive(node: horus.Node) -> None:
        node.send("arm.cmd", horus.CmdVel(0.5))
        node.send("arm.plain", horus.CmdVel(0.25))

    def watch(node: horus.Node) -> None:
        got.extend((name, msg) for name in ("arm.cmd", "arm.plain") if (msg := node.recv(name)) is not None)

    pubs = [horus.Pub("arm.cmd", horus.CmdVel, capacity=32), horus.Pub("arm.plain")]
    subs = {"arm.cmd": {"type": horus.CmdVel, "capacity": 32}, "arm.plain": {}}  # upstream's older spelling
    horus.run(horus.Node(name="driver", tick=drive, rate=100, pubs=pubs),
              horus.Node(name="watcher", tick=watch, rate=100, subs=subs), duration=0.5)  # fmt: skip
    assert ("arm.cmd", horus.CmdVel(0.5)) in got
    assert ("arm.plain", {"linear": 0.25, "angular": 0.0, "timestamp_ns": 0}) in got
    sized = horus.Node(name="sized", tick=lambda node: None, pubs=[horus.Pub("arm.sized", horus.CmdVel, capacity=32)])
    sized.open_topics()
    try:
        with pytest.raises(horus.TopicLayoutError, match="capacity 32"):
            horus.Topic("arm.sized", capacity=16).send(horus.CmdVel(1.0))
    finally:
        sized.close_topics()
    with pytest.raises(TypeError, match=r"message class such as horus\.CmdVel"):
        horus.Sub("arm.cmd", dict)  # type: ignore[arg-type]


NAMED_TOPICS_NODE = """
import horus
arm = horus.Topic(horus.Imu, endpoint="arm.imu")

def tick(node):
    node.send("plain", horus.CmdVel(0.75, -0.25))
    node.send("typed", horus.CmdVel(0.5, 0.1))
    node.send("CmdVel", horus.CmdVel(0.25))
    arm.send(horus.Imu(accel_z=9.81))

horus.run(horus.Node(name="pub", tick=tick, rate=50, pubs={"plain": {}, "typed": horus.CmdVel, "CmdVel": {}}))
"""


def test_a_topic_declared_by_name_carries_a_typed_message_as_its_fields(ns: str, py: Py) -> None:
    plain, typed, arm, imu = horus.Topic("plain"), horus.Topic("typed"), horus.Topic("arm.imu"), horus.Topic(horus.Imu)
    py.start(NAMED_TOPICS_NODE)
    assert plain.recv(timeout=10) == {"linear": 0.75, "angular": -0.25, "timestamp_ns": 0}  # as upstream
    assert typed.recv(timeout=10) == horus.CmdVel(0.5, 0.1)
    assert horus.Topic("CmdVel").recv(timeout=10) == horus.CmdVel(0.25)  # named after its class: typed
    got = arm.recv(timeout=10)  # endpoint= names the topic, not the class
    assert isinstance(got, horus.Imu) and got.accel_z == pytest.approx(9.81)
    assert imu.recv() is None and horus.Topic(horus.Imu, endpoint="arm.imu").endpoint == "arm.imu"


RECV_INTO_PUBLISHER = """
import sys, horus
t = horus.Topic(horus.Imu)
print("ready", flush=True)
sys.stdin.readline()
t.send(horus.Imu(accel_z=9.81, gyro_x=0.5, timestamp_ns=1))
t.send(horus.CmdVel(1.0))  # not an Imu: the receiver's Imu must stay as it was
print("done", flush=True)
"""


def test_recv_into_fills_a_preallocated_message_in_place_and_refuses_another_type(ns: str, py: Py) -> None:
    sub = horus.Topic(horus.Imu)
    pub = py.start(RECV_INTO_PUBLISHER, stdin=-1)
    wait_line(pub, "ready")
    imu = horus.Imu()
    assert sub.recv_into(imu) is False and imu == horus.Imu()  # nothing yet: untouched
    assert pub.stdin is not None
    pub.stdin.write("go\n")
    pub.stdin.flush()
    assert sub.recv_into(imu, timeout=5) is True  # waits for it, as recv(timeout=) does
    wait_line(pub, "done")
    assert imu == horus.Imu(accel_z=9.81, gyro_x=0.5, timestamp_ns=1)
    with pytest.raises(DecodeError, match="recv_into takes a Imu, but the topic's next message is a CmdVel"):
        sub.recv_into(imu)
    assert imu.timestamp_ns == 1 and sub.recv_into(imu) is False


def test_recv_into_keeps_no_allocation_over_10000_receives(ns: str) -> None:
    pub, sub = horus.Topic(horus.LaserScan), horus.Topic(horus.LaserScan)
    scan = horus.LaserScan(ranges=[2.0] * 360)
    into = horus.LaserScan()
    ranges = into.ranges
    tracemalloc.start()
    try:
        # The first receive sizes the topic's buffer, once; it is traced too, so the snapshots
        # compare the receiver's steady state.
        for _ in range(3):
            pub.send(scan)
            sub.recv_into(into)
        before = tracemalloc.take_snapshot()
        for stamp in range(10_000):
            scan.timestamp_ns = stamp
            pub.send(scan)
            assert sub.recv_into(into)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    horus_files = [tracemalloc.Filter(True, str(Path(horus.__file__).parent / "*"))]
    kept = after.filter_traces(horus_files).compare_to(before.filter_traces(horus_files), "lineno")
    # Under one byte per receive: nothing is kept per message. (The interpreter's float free list,
    # at most 100 floats or 2.4 KB, may differ between the snapshots.)
    assert sum(stat.size_diff for stat in kept) < 10_000, [str(stat) for stat in kept[:3]]
    assert into.ranges is ranges and into == scan and into.timestamp_ns == 9_999


def test_upstreams_convenience_methods_read_the_fields() -> None:
    cmd = horus.JointCommand()
    cmd.add_position("shoulder", 1.5)
    cmd.add_velocity("wrist", 2.0)
    assert (cmd.names, cmd.positions, cmd.velocities, cmd.modes) == (
        ["shoulder", "wrist"],
        [1.5, 0.0],
        [0.0, 2.0],
        [0, 1],
    )
    assert cmd.is_valid() and len(cmd) == 2
    with pytest.raises(ValueError, match=r"JointCommand\.names: at most 32 bytes"):
        cmd.add_position("n" * 33, 0.0)
    assert horus.CameraInfo(640, 480, 525.0, 520.0, 320.0, 240.0).focal_lengths() == (525.0, 520.0)
    assert horus.Detection("cup", 0.9, 1.0, 2.0, 3.0, 4.0).bbox == horus.BoundingBox2D(1.0, 2.0, 3.0, 4.0)
    assert horus.Waypoint(1.0, 2.0, 0.5).pose == horus.Pose2D(1.0, 2.0, 0.5)
    assert horus.RegionOfInterest(x=1, y=2, width=50, height=60).area() == 3000
    assert horus.TimeReference(1000, "ntp", 500).correct_timestamp(1500) == 1000


def field_values(index: int, field: Field) -> Any:
    """A distinct value for field number `index` of a message, exact in every type it may have."""

    def number(j: int) -> Any:
        if field.scalar == "bool":
            return (index + j) % 2 == 1
        if field.scalar in ("f32", "f64"):
            return (index + 1) * 0.5 + j * 0.25
        return (index * 7 + j) % 100 + 1

    if field.message is not None:
        # Nested messages: their own fields' values, counted on from this field's index.
        nested = field.message(**{f.name: field_values(index + i, f) for i, f in enumerate(field.message.FIELDS)})
        return nested if field.kind == "message" else [nested] * (2 if field.kind == "list" else field.items)
    if field.kind == "str":
        return f"f{index}"
    if field.kind == "array":
        return [number(j) for j in range(field.items)]
    if field.kind == "list":
        return [f"n{index}{j}" for j in range(2)] if field.scalar == "str" else [number(j) for j in range(2)]
    return number(0)


def c_number(field: Field, index: int, j: str) -> str:
    if field.scalar == "bool":
        return f"(({index} + {j}) % 2 == 1)"
    if field.scalar in ("f32", "f64"):
        return f"({'(float)' if field.scalar == 'f32' else ''}(({index} + 1) * 0.5 + {j} * 0.25))"
    return f"(({index} * 7 + {j}) % 100 + 1)"


def c_fill(field: Field, index: int, struct: str = "m") -> str:
    """C statements giving `<struct>.<field>` the value field_values gives it."""
    name = f"{struct}.{field.name}"
    if field.message is not None:
        items = field.message.FIELDS
        if field.kind == "message":
            return " ".join(c_fill(f, index + i, name) for i, f in enumerate(items))
        fills = " ".join(c_fill(f, index + i, f"{name}[k]") for i, f in enumerate(items))
        count = field.items if field.kind == "array" else 2
        length = f"{name}_len = 2; " if field.kind == "list" else ""
        return f"{length}for (int k = 0; k < {count}; k++) {{ {fills} }}"
    if field.kind == "str":
        return f'strcpy({name}, "f{index}");'
    if field.kind == "array":
        return f"for (int j = 0; j < {field.items}; j++) {name}[j] = {c_number(field, index, 'j')};"
    if field.kind == "list" and field.scalar == "str":
        return f'{name}_len = 2; strcpy({name}[0], "n{index}0"); strcpy({name}[1], "n{index}1");'
    if field.kind == "list":
        return f"{name}_len = 2; for (int j = 0; j < 2; j++) {name}[j] = {c_number(field, index, 'j')};"
    return f"{name} = {c_number(field, index, '0')};"


def test_every_message_has_the_same_bytes_in_c_and_python_both_ways(tmp_path: Path) -> None:
    layouts = horus.messaging.msglayout.load(MSGS / "messages.toml")
    classes = [getattr(horus, layout.name) for layout in layouts]
    body = []
    for layout, cls in zip(layouts, classes, strict=True):
        fills = " ".join(c_fill(field, i) for i, field in enumerate(cls.FIELDS))
        body.append(f"{{ horus_msg_{layout.snake} m; memset(&m, 0, sizeof m); {fills} out(&m, sizeof m); }}")
    source = tmp_path / "every.c"
    source.write_text(
        '#include <stdio.h>\n#include <string.h>\n#include "horus_msgs.h"\n'
        "static void out(const void *p, size_t n) { fwrite(p, 1, n, stdout); }\n"
        "int main(void) {\n" + "\n".join(body) + "\nreturn 0;\n}\n"
    )
    exe = tmp_path / "every"
    built = zig_cc("-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(REPO / "horus_core" / "csrc"), "-o",
                   str(exe), str(source))  # fmt: skip
    assert built.returncode == 0, built.stderr.decode()
    from_c = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    at = 0
    for cls in classes:
        msg = cls(**{field.name: field_values(i, field) for i, field in enumerate(cls.FIELDS)})
        assert from_c[at : at + cls.SIZE] == msg.to_bytes(), f"{cls.__name__}: C and Python bytes differ"
        assert cls.from_bytes(from_c[at : at + cls.SIZE]) == msg, f"{cls.__name__}: C's bytes read back differently"
        at += cls.SIZE
    assert at == len(from_c) and len(classes) == len(horus.messaging.messages.__all__)


def test_typed_constructors_and_presets_as_upstream() -> None:
    assert horus.DiagnosticValue.int("count", 42) == horus.DiagnosticValue("count", "42", 1)
    assert horus.DiagnosticValue.boolean("ok", True).value == "true"
    assert horus.DiagnosticValue.float("temp", 72.5).value_type == 2
    compliant, stiff = horus.ImpedanceParameters.compliant(), horus.ImpedanceParameters.stiff()
    assert compliant.stiffness[0] < stiff.stiffness[0] and compliant.enabled and not horus.ImpedanceParameters().enabled
    assert horus.PlaneDetection().confidence == 0.5 and horus.HapticFeedback().enabled is True


def test_pose_landmarks_and_audio_frames_as_upstream() -> None:
    assert (horus.LandmarkArray().num_landmarks, horus.LandmarkArray().dimension) == (17, 2)
    face = horus.LandmarkArray.mediapipe_face()
    assert (face.num_landmarks, face.dimension) == (468, 3) and horus.LandmarkArray.SIZE == 40
    assert horus.LandmarkArray.coco_pose() == horus.LandmarkArray(17, 2)
    frame = horus.AudioFrame.stereo(48000, [0.25] * 960)
    assert (frame.channels, frame.num_samples, frame.frame_count, frame.duration_ms) == (2, 960, 480, 10.0)
    assert horus.AudioFrame().sample_rate == 16000 and horus.AudioFrame().samples == []
    with pytest.raises(ValueError, match="samples"):
        horus.AudioFrame(samples=[0.0] * 4801)  # a frame holds at most 4800 samples, as upstream's
    assert horus.AudioFrame.from_bytes(frame.to_bytes()) == frame


def test_velocity_obstacles_take_upstreams_coordinates() -> None:
    vo = horus.VelocityObstacle(1.0, 2.0, 0.5, -0.5, radius=0.3, obstacle_id=7)
    assert (vo.position, vo.velocity, vo.time_horizon, vo.obstacle_id) == ([1.0, 2.0], [0.5, -0.5], 1.0, 7)
    assert horus.VelocityObstacle(position=[1.0, 2.0], velocity=[0.5, -0.5], radius=0.3, obstacle_id=7) == vo
    assert horus.VelocityObstacle.SIZE == 48 and horus.VelocityObstacle.__topic_name__ == "velocity_obstacle"


def test_a_nested_message_is_its_class_owned_by_the_message_and_travels_whole() -> None:
    left = horus.CameraInfo(width=640, height=480, fx=525.0, fy=525.0, cx=320.0, cy=240.0)
    stereo = horus.StereoInfo(left_camera=left, right_camera=left, baseline=0.12)
    assert stereo.depth_scale == 1.0 and stereo.right_camera == left
    stereo.left_camera.width = 320  # changes the stereo pair's camera, not the one it was given
    assert left.width == 640 and horus.StereoInfo.from_bytes(stereo.to_bytes()).left_camera.width == 320
    assert stereo.depth_from_disparity(10.0) == pytest.approx(525.0 * 0.12 / 10.0)
    assert horus.StereoInfo().left_camera == horus.CameraInfo()
    with pytest.raises(TypeError, match=r"StereoInfo\.left_camera: a CameraInfo, got Imu"):
        horus.StereoInfo(left_camera=horus.Imu())
    with pytest.raises(TypeError, match=r"NavPath\.waypoints: a Waypoint, got Pose2D"):
        horus.NavPath().add_waypoint(horus.Pose2D())  # type: ignore[arg-type]


def test_lists_of_messages_fill_up_to_upstreams_bounds() -> None:
    path = horus.NavPath()
    for i in range(256):
        path.add_waypoint(horus.Waypoint(x=float(i)))
    with pytest.raises(OverflowError, match=r"NavPath\.waypoints: at most 256"):
        path.add_waypoint(horus.Waypoint())
    assert path.waypoint_count == 256 and path.get_waypoints()[255].pose.x == 255.0
    assert horus.NavPath.from_bytes(path.to_bytes()) == path
    report = horus.DiagnosticReport("motor_driver", 1)
    report.add_value(horus.DiagnosticValue(key="voltage", value="24.1"))
    report.add_int("errors", 3)
    report.get_values()[0].value = "0"  # a copy, as upstream's getter returns
    assert [(v.key, v.value, v.value_type) for v in report.values] == [("voltage", "24.1", 0), ("errors", "3", 1)]
    obstacles = horus.VelocityObstacles()
    obstacles.add_obstacle(horus.VelocityObstacle(1.0, 2.0, radius=0.3, obstacle_id=1))
    assert obstacles.count == 1 and obstacles.get_obstacles()[0].position == [1.0, 2.0]
    planes = horus.PlaneArray()
    for _ in range(16):
        planes.add_plane(horus.PlaneDetection())
    with pytest.raises(ValueError, match="at most 16"):  # upstream's ValueError here, not OverflowError
        planes.add_plane(horus.PlaneDetection())
    assert len(planes) == planes.count == 16 and planes[15].confidence == 0.5


def test_a_nested_list_length_beyond_its_items_from_a_foreign_writer_is_refused() -> None:
    data = bytearray(horus.VelocityObstacles().to_bytes())
    data[0:2] = struct.pack("<H", 33)  # obstacles_len, as a broken C node could write it
    with pytest.raises(ValueError, match=r"VelocityObstacles\.obstacles: length 33 exceeds its 32 items"):
        horus.VelocityObstacles.from_bytes(data)


def test_tracking_tactile_and_image_regions_as_upstream() -> None:
    track = horus.TrackedObject(track_id=42, class_id=1, confidence=0.9, x=1.0, y=2.0, width=3.0, height=4.0)
    assert (track.track_id, track.bbox, track.is_tentative()) == (42, horus.BoundingBox2D(1.0, 2.0, 3.0, 4.0), True)
    assert horus.TrackedObject.SIZE == 96  # upstream's 96-byte TrackedObject
    tactile = horus.TactileArray(rows=3, cols=3)
    tactile.set_force(2, 2, 3.5)
    tactile.set_force(3, 0, 9.0)  # outside the grid: nothing, as upstream
    assert (len(tactile.forces), tactile.get_force(2, 2), tactile.get_force(3, 0)) == (9, 3.5, None)
    assert sum(tactile.forces) == 3.5 and tactile.in_contact is False
    roi = horus.RegionOfInterest(x=10, y=20, width=100, height=80)
    assert roi.contains(10, 20) and roi.contains(109, 99) and not roi.contains(110, 50) and not roi.contains(5, 5)
    assert horus.PathPlan(waypoint_data=[0.0, 0.0, 0.0, 1.0, 1.0, 0.5]).waypoint_count == 2


def test_a_cost_map_is_built_from_an_occupancy_grid_and_gives_it_back() -> None:
    grid = horus.OccupancyGrid(width=5, height=5, resolution=0.1)
    for x in range(5):
        for y in range(5):
            grid.set_occupancy(x, y, 0)
    grid.set_occupancy(2, 2, 100)
    grid.set_occupancy(0, 4, -1)
    costs = horus.CostMap(grid=grid, inflation_radius=0.15)
    assert costs.occupancy_grid.data == grid.data and costs.occupancy_grid.width == 5
    assert costs.cost(0.25, 0.25) == 253 and costs.cost(0.05, 0.45) == 255  # lethal, unknown
    assert 0 < costs.cost(0.35, 0.25) < costs.cost(0.25, 0.25) and costs.cost(0.05, 0.05) == 0  # inflated, free
    assert costs.cost(1.0, 1.0) is None and horus.CostMap.from_bytes(costs.to_bytes()) == costs


def test_changing_a_nested_message_changes_the_layout_of_those_holding_it() -> None:
    # A receiver built before CameraInfo grew must refuse a StereoInfo, not misread it.
    spec = {"fields": [["width", "u32", 0], ["height", "u32", 0]]}
    grown = {"fields": [*spec["fields"], ["fx", "f64", 0.0]]}
    holder = {"fields": [["left", "Cam", {}], ["baseline", "f64", 0.0]]}
    before = horus.messaging.msglayout.lay_out("Pair", holder, {"Cam": horus.messaging.msglayout.lay_out("Cam", spec)})
    after = horus.messaging.msglayout.lay_out("Pair", holder, {"Cam": horus.messaging.msglayout.lay_out("Cam", grown)})
    assert before.layout_hash != after.layout_hash and (before.size, after.size) == (16, 24)
