"""The seed's checklist items about node code, for each service of an image (read by appscan).

- every node sets `failure_policy` (fail): the default is a decision nobody made;
- `print()` in code a node process runs (warn): unstructured, invisible to `horus logs`; use `node.log_*`;
- a node at 100 Hz or more has gc tuned or disabled in an init (fail): a collection pause is
  longer than its period. gc is per process, so an init of another node in the same process, or a
  module's top level, counts too; the evidence says which.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..images import ImageSpec
from .appscan import NodeCall, Process, scan_process
from .report import Check, Status

GC_RATE = 100.0  # Hz: from here on a gc pause (ms) outlasts a period; the seed's threshold


def app_checks(spec: ImageSpec) -> Iterator[Check]:
    # A compiled service's policy is its program's (fatal: demo cnodes/demo.h); there is no Python to read.
    for svc in (s for s in spec.services if s.script):
        proc = scan_process(svc.name, spec.app / svc.script)
        if not proc.nodes:
            yield Check(
                "node.found",
                "app",
                "warn",
                f"service {svc.name}",
                f"no horus.Node(...) call found in {svc.script} or the app modules it imports",
                "construct nodes with horus.Node so the checks can see them",
            )
        for node in proc.nodes:
            yield _failure_policy(spec, svc.name, node)
            if node.rate is None or node.rate >= GC_RATE:
                yield _gc(spec, proc, node)
        yield _prints(spec, proc)


def _subject(spec: ImageSpec, service: str, node: NodeCall) -> str:
    return f"node {node.name} ({service}, {node.where.show(spec.app)})"


def _failure_policy(spec: ImageSpec, service: str, node: NodeCall) -> Check:
    title = _subject(spec, service, node)
    if node.failure_policy is None:
        return Check(
            "node.failure_policy",
            "app",
            "fail",
            title,
            "horus.Node(...) sets no failure_policy (the default applies)",
            'add failure_policy="fatal" (stop; systemd restarts the process), "restart", "skip" or "ignore"',
        )
    if node.failure_policy == "?":
        return Check(
            "node.failure_policy",
            "app",
            "warn",
            title,
            "failure_policy comes from an expression or **kwargs that cannot be read without running the code",
            "pass failure_policy as a literal string",
        )
    return Check("node.failure_policy", "app", "pass", title, f"failure_policy={node.failure_policy!r}")


def _gc(spec: ImageSpec, proc: Process, node: NodeCall) -> Check:
    title = _subject(spec, proc.service, node)
    rate = "rate unknown (an expression)" if node.rate is None else f"{node.rate:g} Hz"
    if node.init_gc is not None:
        return Check("node.gc", "app", "pass", title, f"{rate}; its init tunes gc at {node.init_gc.show(spec.app)}")
    elsewhere = [n.init_gc for n in proc.nodes if n.init_gc is not None] + proc.module_gc
    if elsewhere:
        where = elsewhere[0].show(spec.app)
        return Check("node.gc", "app", "pass", title, f"{rate}; gc of process {proc.service} is tuned at {where}")
    status: Status = "warn" if node.rate is None else "fail"
    return Check(
        "node.gc",
        "app",
        status,
        title,
        f"{rate}, and nothing in process {proc.service} tunes or disables gc",
        "in the node's init: gc.disable() (with gc.freeze(), if it allocates nothing per tick) or "
        "gc.set_threshold(...) higher than (700, 10, 10)",
    )


def _prints(spec: ImageSpec, proc: Process) -> Check:
    title = f"process {proc.service} ({proc.script.name} and {len(proc.modules) - 1} module(s))"
    if not proc.prints:
        return Check("code.print", "app", "pass", title, "no print() calls")
    shown = ", ".join(w.show(spec.app) for w in proc.prints[:5]) + (" ..." if len(proc.prints) > 5 else "")
    return Check(
        "code.print",
        "app",
        "warn",
        title,
        f"{len(proc.prints)} print() call(s): {shown}",
        "use node.log_info/log_warning/log_error: structured, in `horus logs` and the journal with the node's name",
    )
