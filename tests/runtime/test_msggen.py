"""Custom messages through horus.msggen, as upstream HORUS defines them: Python and C of the same bytes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import horus
import pytest
from horus import msggen
from horus.messaging import codec
from horus_procs import Py, go, wait_line
from test_messages import zig_cc

# Upstream's own example definition, its type names included.
ROBOT_STATUS = [
    ("battery_level", "f32"),
    ("error_code", "i32"),
    ("is_active", "bool"),
    ("timestamp", "u64"),
    ("label", "string"),
    ("currents", "vec_f32"),
]

C_WRITER = r"""
#include <stdio.h>
#include <string.h>
#include "robot_msgs.h"
int main(void) {
  horus_msg_robot_status s; memset(&s, 0, sizeof s);
  s.battery_level = 0.75f; s.error_code = -3; s.is_active = true; s.timestamp = 123; strcpy(s.label, "arm");
  s.currents_len = 2; s.currents[0] = 1.5f; s.currents[1] = 2.5f;
  fwrite(&s, 1, sizeof s, stdout);
  return 0;
}
"""

PUBLISHER = """
import sys, horus
from horus.msggen import register_message, build_messages
register_message("RobotStatus", "robot/status", FIELDS)
build_messages()
t = horus.Topic(horus.RobotStatus)
print("ready", flush=True)
sys.stdin.readline()
t.send(horus.RobotStatus(0.75, -3, True, 123, "arm", [1.5, 2.5]))
print("done", flush=True)
""".replace("FIELDS", repr(ROBOT_STATUS))


def build() -> type[horus.Message]:
    msggen.register_message("RobotStatus", "robot/status", ROBOT_STATUS, doc="A robot's health.")
    msggen.build_messages()
    cls: type[horus.Message] = horus.RobotStatus  # type: ignore[attr-defined]
    return cls


def test_a_custom_message_has_a_c_struct_of_the_same_bytes(tmp_path: Path) -> None:
    robot_status = build()
    header = msggen.write_c_header(tmp_path / "robot_msgs.h")
    (tmp_path / "writer.c").write_text(C_WRITER)
    exe = tmp_path / "writer"
    built = zig_cc(
        "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(header.parent), "-o", str(exe), str(tmp_path / "writer.c")
    )
    assert built.returncode == 0, built.stderr.decode()
    from_c = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    msg = robot_status(0.75, -3, True, 123, "arm", [1.5, 2.5])
    assert from_c == msg.to_bytes()
    assert codec.decode(bytearray(codec.encode_bytes(msg))) == msg
    assert robot_status.__topic_name__ == "robot/status" and not msggen.check_needs_rebuild()


def test_a_custom_message_crosses_processes_on_its_typed_topic(ns: str, py: Py) -> None:
    robot_status = build()
    sub = horus.Topic(robot_status)
    pub = py.start(PUBLISHER, stdin=-1)
    wait_line(pub, "ready")
    go(pub)
    wait_line(pub, "done")
    assert sub.recv(timeout=5) == robot_status(0.75, -3, True, 123, "arm", [1.5, 2.5])


@pytest.mark.parametrize(
    ("name", "fields", "words"),
    [
        ("CmdVel", [("x", "f32")], "horus already has a CmdVel; choose another message name"),
        ("Gripper", [("force", "float128")], "Gripper.force: unknown type 'float128'"),
        ("Gripper", [("Force", "f32")], "Gripper.Force: field names are lower_case identifiers"),
        ("Gripper", [("finger", "Finger")], "Gripper.finger: unknown type 'Finger' (one of"),  # not registered
    ],
)
def test_a_definition_the_layout_cannot_hold_is_refused_naming_it(
    name: str, fields: list[tuple[str, str]], words: str
) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(".", r"\.")):
        msggen.register_message(name, "gripper", fields)


def test_a_custom_message_nests_one_registered_before_it(tmp_path: Path) -> None:
    msggen.register_message("CellReading", "cells/one", [("volts", "f32"), ("cell", "u8")])
    msggen.register_message("PackReading", "cells/pack", [("cells", "CellReading[..8]"), ("pack", "CellReading")])
    msggen.build_messages()
    cell, pack = horus.CellReading, horus.PackReading  # type: ignore[attr-defined]
    msg = pack([cell(3.5, 1), cell(3.25, 2)], cell(6.75, 0))
    assert codec.decode(bytearray(codec.encode_bytes(msg))) == msg and msg.cells[1].cell == 2
    header = tmp_path / "cells.h"
    # generate_message's header holds the nested struct too: it compiles alone.
    header.write_text(
        msggen.generate_message("PackReading", "cells/pack", [("cells", "CellReading[..8]"), ("pack", "CellReading")])
    )
    (tmp_path / "use.c").write_text(
        '#include "cells.h"\nint main(void) { horus_msg_pack_reading p = {0}; p.cells_len = 1; '
        "p.cells[0].volts = 3.5f; return (int)sizeof p != " + str(pack.SIZE) + "; }\n"
    )
    built = zig_cc("-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(header.parent), "-o", str(tmp_path / "use"),
                   str(tmp_path / "use.c"))  # fmt: skip
    assert built.returncode == 0, built.stderr.decode()
    assert subprocess.run([str(tmp_path / "use")]).returncode == 0
