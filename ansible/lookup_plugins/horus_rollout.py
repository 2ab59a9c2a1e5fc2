"""The rollout policy of a deploy, from the inventory: its batches, and after each batch whether to go on.

    lookup('horus_rollout', 'batches')   the play's `serial`: batch sizes as robot counts
    lookup('horus_rollout', 'report')    {stop, why, lines}: where the rollout stands (in a task)

Play keywords such as `serial` are templated before any host exists, without inventory variables;
this lookup reads the policy from the inventory itself (Ansible's own parser, `--limit` and `-e`
applied), so an operator states it where the robots are listed:

    horus_rollout_batches: [1, "10%", "50%", "100%"]   robots per batch, counts or percentages
                                                       of the robots deployed (the last repeats)
    horus_rollout_max_fail_percent: 0                  stop before the next batch once more than
                                                       this share of the robots reached failed
    horus_rollout_max_switching: 0                     at most this many robots in their switch
                                                       at once (0: a whole batch)
    horus_rollout_unreachable_fails: false             count unreachable robots as failed
"""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.plugins.lookup import LookupBase
from ansible.vars.manager import VariableManager

DEFAULTS: dict[str, Any] = {
    "horus_rollout_batches": [1, "25%", "100%"],
    "horus_rollout_max_fail_percent": 0,
    "horus_rollout_max_switching": 0,
    "horus_rollout_unreachable_fails": False,
}
_PERCENT = re.compile(r"(\d{1,3})%")
# What each robot's deploy recorded (the horus_robot role sets horus_robot_outcome).
OUTCOMES = ("updated", "current", "held", "unreachable", "failed")


class PolicyError(AnsibleError):
    pass


def policy_of(hostvars: dict[str, dict[str, Any]], hosts: list[str], where: str) -> dict[str, Any]:
    """The one policy of `hosts` (each key from their variables, else its default); robots of one
    rollout that disagree about it are refused, naming two of them."""
    policy: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        seen = {h: hostvars.get(h, {}).get(key, default) for h in hosts}
        first = hosts[0] if hosts else ""
        other = next((h for h in hosts if seen[h] != seen[first]), None)
        if other is not None:
            raise PolicyError(
                f"{where}: {key} is {seen[first]!r} for {first} but {seen[other]!r} for {other}; one rollout has "
                f"one policy: set {key} once, in the `vars:` of the group the deploy runs on"
            )
        policy[key] = seen[first] if hosts else default
    return _checked(policy, where)


def _checked(policy: dict[str, Any], where: str) -> dict[str, Any]:
    batches = policy["horus_rollout_batches"]
    if isinstance(batches, (int, str)):
        batches = [batches]
    fix = 'robot counts or percentages of the fleet, e.g. [1, "10%", "50%", "100%"]'
    if not isinstance(batches, list) or not batches:
        raise PolicyError(f"{where}: horus_rollout_batches is {batches!r}: give a list of {fix}")
    for size in batches:
        ok = (isinstance(size, int) and not isinstance(size, bool) and size > 0) or (
            isinstance(size, str) and ((size.isdigit() and int(size) > 0) or _percent(size) is not None)
        )
        if not ok:
            raise PolicyError(f"{where}: horus_rollout_batches holds {size!r}: each entry is one of {fix}")
    for key, low, high in (("horus_rollout_max_fail_percent", 0, 100), ("horus_rollout_max_switching", 0, 1 << 20)):
        value = policy[key]
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise PolicyError(f"{where}: {key} is {policy[key]!r}: give a whole number from {low} to {high}")
        policy[key] = value
    unreachable = policy["horus_rollout_unreachable_fails"]
    if isinstance(unreachable, str) and unreachable.lower() in ("true", "false", "yes", "no"):
        unreachable = unreachable.lower() in ("true", "yes")
    if not isinstance(unreachable, bool):
        raise PolicyError(f"{where}: horus_rollout_unreachable_fails is {unreachable!r}: give true or false")
    return {**policy, "horus_rollout_batches": batches, "horus_rollout_unreachable_fails": unreachable}


def _percent(size: str) -> int | None:
    found = _PERCENT.fullmatch(size.strip())
    return int(found[1]) if found and 0 < int(found[1]) <= 100 else None


def batch_sizes(policy: dict[str, Any], robots: int) -> list[int]:
    """Robots per batch, as `serial` takes them, covering `robots` exactly: a percentage is of all
    the robots deployed (rounded down, at least one), the last size repeats, and no batch is larger
    than horus_rollout_max_switching."""
    cap = policy["horus_rollout_max_switching"] or robots or 1
    sizes: list[int] = []
    entries = list(policy["horus_rollout_batches"])
    left = robots
    while left > 0:
        entry = entries.pop(0) if len(entries) > 1 else entries[0]
        pct = _percent(entry) if isinstance(entry, str) else None
        size = max(1, robots * pct // 100) if pct is not None else int(entry)
        size = min(size, left)
        while size > 0:
            part = min(size, cap)
            sizes.append(part)
            size -= part
            left -= part
    return sizes


def report(policy: dict[str, Any], hostvars: dict[str, dict[str, Any]], hosts: list[str]) -> dict[str, Any]:
    """Where the rollout of `hosts` stands: each robot's state and reason, the totals, and whether the
    failures so far cross the threshold (then every robot not yet reached is skipped)."""
    outcome = {h: hostvars.get(h, {}).get("horus_robot_outcome", "") for h in hosts}
    reason = {h: str(hostvars.get(h, {}).get("horus_robot_outcome_reason", "")) for h in hosts}
    for h in hosts:  # started and never finished: the deploy lost the robot on the way
        if outcome[h] == "started":
            outcome[h], reason[h] = "unreachable", "contact lost during its deploy"
    # Unreachable robots are reported; they count (as failed) only when the policy says so.
    counted = (
        OUTCOMES if policy["horus_rollout_unreachable_fails"] else tuple(o for o in OUTCOMES if o != "unreachable")
    )
    reached = [h for h in hosts if outcome[h] in counted]
    failed = [h for h in reached if outcome[h] in ("failed", "unreachable")]
    limit = policy["horus_rollout_max_fail_percent"]
    share = 100 * len(failed) / len(reached) if reached else 0.0
    stop = bool(failed) and share > limit
    why = (
        f"{len(failed)} of the {len(reached)} robots reached failed ({share:.0f}% > horus_rollout_max_fail_percent "
        f"{limit}%)"
        if stop
        else ""
    )
    for h in hosts:
        if outcome[h] not in OUTCOMES:
            outcome[h] = "skipped"
            reason[h] = f"the rollout stopped before its batch: {why}" if stop else "not reached by the rollout"
    totals = {state: sum(1 for h in hosts if outcome[h] == state) for state in (*OUTCOMES, "skipped")}
    width = max((len(h) for h in hosts), default=0)
    lines = [
        "rollout: " + ", ".join(f"{n} {state}" for state, n in totals.items()) + (f"; STOPPED: {why}" if stop else ""),
        *(f"{h:<{width}}  {outcome[h]:<11}  {reason[h]}".rstrip() for h in hosts),
    ]
    return {"stop": stop, "why": why, "lines": lines, "outcome": outcome, "reasons": reason, "failing": failed}


class LookupModule(LookupBase):
    def run(self, terms: list[str], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[Any]:
        variables = variables or {}
        what = terms[0] if terms else ""
        hosts = list(variables.get("ansible_play_hosts_all") or [])
        if what == "batches":
            sources = list(variables.get("ansible_inventory_sources") or [])
            inventory = InventoryManager(loader=self._loader, sources=sources)
            manager = VariableManager(loader=self._loader, inventory=inventory)
            found = {h: manager.get_vars(host=inventory.get_host(h)) for h in hosts if inventory.get_host(h)}
            policy = policy_of(found, hosts, f"the inventory {', '.join(map(str, sources))}")
            return [batch_sizes(policy, len(hosts))]
        if what == "report":
            hostvars = variables.get("hostvars") or {}
            keys = (*DEFAULTS, "horus_robot_outcome", "horus_robot_outcome_reason")
            plain = {h: {k: hostvars[h][k] for k in keys if k in hostvars[h]} for h in hosts if h in hostvars}
            return [report(policy_of(plain, hosts, "the inventory"), plain, hosts)]
        raise AnsibleError(f"lookup('horus_rollout', {what!r}): ask for 'batches' or 'report'")
