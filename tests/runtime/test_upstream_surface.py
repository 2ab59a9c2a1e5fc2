"""Our `horus` offers upstream HORUS's whole Python surface (upstream_surface.txt), or says why not.

Each entry of the list exists under `horus` with upstream's parameters: the same names in the same
order (more after them, or *args/**kwargs, are fine: a call written for upstream works here). An entry
marked `! REASON` is not provided, for a reason the README's "Not provided" paragraph names. Run this
file as a script for the list of gaps.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from upstream_surface import LIST, REASONS, Entry, parse

README = Path(__file__).parents[2] / "README.md"
ENTRIES = parse(LIST.read_text())


def resolve(path: str) -> tuple[Any, Any, str]:
    """(owner, the object, its name) for a dotted path under `horus`; raises AttributeError."""
    obj: Any = importlib.import_module("horus")
    owner, parts = None, path.split(".")
    for i, part in enumerate(parts):
        try:
            obj, owner = getattr(obj, part), obj
        except AttributeError:
            if inspect.ismodule(obj):  # a submodule not imported by its package
                try:
                    obj, owner = importlib.import_module(f"{obj.__name__}.{part}"), obj
                    continue
                except ImportError:
                    pass
            raise AttributeError(f"horus.{'.'.join(parts[: i + 1])} does not exist") from None
    return owner, obj, parts[-1]


def parameters(owner: Any, obj: Any, name: str) -> list[inspect.Parameter] | None:
    """The parameters a caller passes (no self), or None when Python cannot tell (a C function)."""
    target = obj
    if inspect.isclass(obj):
        target = obj.__init__
        if target is object.__init__:
            return [] if obj.__new__ is object.__new__ else None
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return None
    raw = inspect.getattr_static(owner, name, None) if inspect.isclass(owner) else None
    bound_first = inspect.isclass(obj) or (inspect.isfunction(raw) and not isinstance(raw, (staticmethod, classmethod)))
    if bound_first and params and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        params = params[1:]
    return params


def problem(entry: Entry) -> str | None:
    """What is wrong with our counterpart of `entry`, or None."""
    try:
        owner, obj, name = resolve(entry.path)
    except AttributeError as exc:
        return str(exc)
    if entry.params is None:
        return None
    if not callable(obj):
        return f"horus.{entry.path} is not callable (upstream: {entry.line()})"
    params = parameters(owner, obj, name)
    if params is None:
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params) and any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    ours = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    expected = list(entry.params)
    if any(p.kind is p.VAR_POSITIONAL for p in params):  # f(*shape) takes upstream's positional arguments
        fixed = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        expected = expected[: len(fixed)]
    if expected != ours[: len(expected)]:
        return f"horus.{entry.path}({', '.join(ours)}): upstream's parameters are ({', '.join(entry.params)})"
    return None


def gaps() -> list[str]:
    return [f"{e.path}: {why}" for e in ENTRIES if e.reason is None and (why := problem(e)) is not None]


def test_every_upstream_name_exists_with_upstream_parameters() -> None:
    missing = gaps()
    assert not missing, f"{len(missing)} of upstream's names are missing or differ:\n" + "\n".join(missing)


@pytest.mark.parametrize("reason", sorted({e.reason for e in ENTRIES if e.reason}))
def test_each_reason_for_what_is_not_provided_is_in_the_readme(reason: str) -> None:
    not_provided = README.read_text().split("\nNot provided", 1)[1].split("\n\n", 1)[0]
    words = " ".join(not_provided.split())
    assert REASONS[reason] in words, f"README's 'Not provided' does not name {REASONS[reason]!r}"


def test_the_list_is_upstreams_surface_not_a_short_one() -> None:
    # A list cut short would make the check above pass for nothing.
    assert len(ENTRIES) > 1300
    assert {"Topic.sub_count", "TransformFrame.frames_as_dot", "msggen.generate_messages_from_yaml"} <= {
        e.path for e in ENTRIES
    }


if __name__ == "__main__":
    found = gaps()
    print("\n".join(found))
    print(f"{len(found)} gaps of {sum(e.reason is None for e in ENTRIES)} provided entries")
