"""The metric and label names a PromQL expression uses, for checking them against what /metrics serves.

Not a PromQL parser: enough of the language for the queries of monitoring/ (selectors with label
matchers, range selectors, aggregations with by/without, vector matching with on/ignoring,
function calls, numbers, Grafana's $variables inside strings and ranges).
"""

from __future__ import annotations

import re

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# An identifier not inside a number (1e9, 5m) and not a function call's name.
_NAME = re.compile(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*(?![\w:]|\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) that `expr` uses."""
    expr = _STRINGS.sub('""', expr)
    labels = {m for body in _MATCHERS.findall(expr) for m in _MATCHER_LABEL.findall(body)}
    expr = _MATCHERS.sub(" ", expr)
    labels |= {label for body in _GROUPING.findall(expr) for label in _IDENT.findall(body)}
    expr = _GROUPING.sub(" ", _RANGES.sub(" ", expr))
    metrics = {m for m in _NAME.findall(expr) if m.lower() not in _KEYWORDS}
    return metrics, labels
