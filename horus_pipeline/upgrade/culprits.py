"""Which upgraded packages break the tests: split the changes into groups that must move together
and bisect over the groups, so that one bad package does not hold back the others.

A group is a changed package with the changed packages its new version needs, or that need it
(from the new locks' `# via` lines): upgrading numpy without the scipy that requires the new
numpy would test a combination nobody will run. Groups are assumed to fail on their own; the
subset kept is tested again as a whole before anything is written, so an interaction between
groups holds everything back rather than landing untested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..lock.lockfile import Lock


@dataclass(frozen=True, order=True)
class Group:
    """Changed packages that move together, by normalised name (sorted)."""

    names: tuple[str, ...]

    def __str__(self) -> str:
        return " + ".join(self.names)


def groups(changed: Iterable[str], locks: Iterable[Lock]) -> list[Group]:
    """The changed packages in dependency-closed groups, using every new lock's `via`."""
    names = sorted(set(changed))
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for lock in locks:
        for name, pin in lock.pins.items():
            if name not in parent:
                continue
            for needer in pin.via:
                if needer in parent:
                    parent[root(needer)] = root(name)
    members: dict[str, list[str]] = {}
    for n in names:
        members.setdefault(root(n), []).append(n)
    return sorted(Group(tuple(sorted(m))) for m in members.values())


# What a trial reports: None when the tests passed with these groups upgraded, else the failure.
Trial = Callable[[Sequence[Group]], "str | None"]


def find_culprits(candidates: Sequence[Group], trial: Trial) -> dict[Group, str]:
    """The groups that fail on their own, each with the failure it caused (binary splitting:
    about 2 log2(n) trials per culprit, one when nothing fails)."""
    failure = trial(candidates)
    if failure is None:
        return {}
    if len(candidates) == 1:
        return {candidates[0]: failure}
    half = len(candidates) // 2
    found = find_culprits(candidates[:half], trial)
    found.update(find_culprits(candidates[half:], trial))
    if not found:  # each half passes alone: only the two together fail
        return {group: failure for group in candidates}
    return found


def changed_names(changes: Mapping[str, list[tuple[str, str, str]]]) -> list[str]:
    """Every package any image's new lock changed (added, removed or moved)."""
    return sorted({name for rows in changes.values() for name, _, _ in rows})
