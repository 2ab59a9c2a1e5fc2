"""The runtime's own smoke test: two processes, one topic, every message in order.

    python -m horus.smoke        exits 0 and prints "horus smoke: ok ..." when this
                                 interpreter, this CPU and this /dev/shm can run HORUS.

Deploys run it from a new release before switching to it; the cross-build tests
run it on the target CPU.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
import uuid

MESSAGES = 200


def _publisher() -> None:
    import horus

    topic = horus.Topic("smoke", capacity=256)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    for i in range(MESSAGES):
        topic.send({"i": i, "payload": b"\x5a" * (i % 97), "pi": 3.25})


def main() -> int:
    import horus

    ns = f"smoke-{uuid.uuid4().hex[:8]}"
    os.environ["HORUS_NAMESPACE"] = ns
    start = time.monotonic()
    sub = horus.Topic("smoke", capacity=256)
    pub = subprocess.Popen(
        [sys.executable, "-m", "horus.smoke", "--publisher"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert pub.stdout is not None and pub.stdin is not None
        if pub.stdout.readline().strip() != "ready":
            print("horus smoke: FAILED: the publisher process did not start", file=sys.stderr)
            return 1
        pub.stdin.write("go\n")
        pub.stdin.flush()
        got: list[object] = []
        deadline = time.monotonic() + 30
        while len(got) < MESSAGES and time.monotonic() < deadline:
            msg = sub.recv()
            if msg is None:
                time.sleep(0.001)
            else:
                got.append(msg)
        pub.wait(30)
    finally:
        if pub.poll() is None:
            pub.kill()
        shutil.rmtree(f"/dev/shm/horus.{ns}", ignore_errors=True)
    want = [{"i": i, "payload": b"\x5a" * (i % 97), "pi": 3.25} for i in range(MESSAGES)]
    if got != want:
        print(
            f"horus smoke: FAILED: received {len(got)} of {MESSAGES} messages, or out of order",
            file=sys.stderr,
        )
        return 1
    print(
        f"horus smoke: ok: {MESSAGES} messages in order between two processes on {platform.machine()}, "
        f"Python {platform.python_version()}, horus {horus.__version__} ({time.monotonic() - start:.2f}s)"
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--publisher"]:
        _publisher()
        sys.exit(0)
    sys.exit(main())
