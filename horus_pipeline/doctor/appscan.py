"""What an app's node code says, read with Python's `ast` (never run, never matched as text).

A process is one service's script plus every module of the app it imports, followed through
`import x.y`, `from x import y` and relative imports (the script's directory is first on
sys.path, as `python -u current/app/<script>` has it). In those modules, a node is a call of
`horus.Node(...)` (or of `Node` imported from horus); its keyword and positional arguments are
read as Node's signature binds them. A rate or an init given by name is resolved through the
enclosing function's parameter defaults and definitions, then the module's top level: that is how
the demo's factories (`make_motor(rate=...)`) are written.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PipelineError

# horus.Node's positional parameters, in order (horus_core/horus/runtime/node.py).
NODE_PARAMS = ("name", "tick", "init", "shutdown", "rate", "pubs", "subs", "failure_policy")
DEFAULT_RATE = 30.0  # horus.Node's default rate
GC_TUNING = frozenset({"disable", "set_threshold", "freeze"})


class AppScanError(PipelineError):
    """A module of the app cannot be parsed; the message names the file and line."""


@dataclass(frozen=True)
class Where:
    path: Path
    line: int

    def show(self, root: Path) -> str:
        return f"{self.path.relative_to(root) if self.path.is_relative_to(root) else self.path}:{self.line}"


@dataclass
class NodeCall:
    """One `horus.Node(...)` call as written."""

    where: Where
    name: str  # the name argument as written (a literal, or the source of the expression)
    rate: float | None  # None: given by an expression this scan cannot evaluate
    failure_policy: str | None  # None: not given (the default applies); "?" when only **kwargs could give it
    init_gc: Where | None  # where the node's init tunes or disables gc, if it does
    has_init: bool


@dataclass
class Process:
    """One service's script and the app modules it imports."""

    service: str
    script: Path
    modules: list[Path] = field(default_factory=list)
    nodes: list[NodeCall] = field(default_factory=list)
    prints: list[Where] = field(default_factory=list)
    module_gc: list[Where] = field(default_factory=list)  # gc tuned at a module's top level


def parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise AppScanError(f"{path}:{exc.lineno}: not valid Python: {exc.msg}. Fix the syntax there.") from None
    except OSError as exc:
        raise AppScanError(f"{path}: cannot read: {exc.strerror}") from None


def scan_process(service: str, script: Path) -> Process:
    """The nodes, print() calls and gc tuning of everything `script` runs from its app."""
    proc = Process(service, script)
    root = script.parent
    todo, seen = [script.resolve()], set()
    while todo:
        path = todo.pop(0)
        if path in seen:
            continue
        seen.add(path)
        proc.modules.append(path)
        tree = parse(path)
        todo += [p for p in imported_modules(tree, path, root) if p not in seen]
        _scan_module(tree, path, proc)
    return proc


def imported_modules(tree: ast.Module, path: Path, root: Path) -> Iterator[Path]:
    """App files `tree` imports (packages' __init__.py included); anything outside the app is skipped."""
    package = path.parent
    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                yield from _module_files(root, alias.name.split("."))
        elif isinstance(stmt, ast.ImportFrom):
            base = root if stmt.level == 0 else package.parents[stmt.level - 2] if stmt.level > 1 else package
            parts = stmt.module.split(".") if stmt.module else []
            yield from _module_files(base, parts)
            for alias in stmt.names:  # `from pkg import module`
                yield from _module_files(base, [*parts, alias.name], only_last=True)


def _module_files(base: Path, parts: list[str], only_last: bool = False) -> Iterator[Path]:
    first = len(parts) if only_last else min(1, len(parts))  # a package's __init__.py runs too
    for i in range(first, len(parts) + 1):
        stem = base.joinpath(*parts[:i]) if i else base
        for candidate in (stem.with_suffix(".py") if i else None, stem / "__init__.py"):
            if candidate is not None and candidate.is_file():
                yield candidate.resolve()


def _node_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names horus is bound to, names Node is bound to) by this module's imports."""
    modules, nodes = set(), set()
    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.Import):
            modules |= {a.asname or a.name for a in stmt.names if a.name == "horus"}
        elif isinstance(stmt, ast.ImportFrom) and stmt.module == "horus" and stmt.level == 0:
            nodes |= {a.asname or a.name for a in stmt.names if a.name == "Node"}
    return modules, nodes


def _is_node_call(call: ast.Call, modules: set[str], nodes: set[str]) -> bool:
    f = call.func
    if isinstance(f, ast.Attribute) and f.attr == "Node" and isinstance(f.value, ast.Name):
        return f.value.id in modules
    return isinstance(f, ast.Name) and f.id in nodes


def _is_gc_tuning(call: ast.Call) -> bool:
    f = call.func
    return isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "gc" and f.attr in GC_TUNING


def _scan_module(tree: ast.Module, path: Path, proc: Process) -> None:
    modules, nodes = _node_names(tree)
    for stmt in tree.body:  # gc tuned when the module is imported, before any node runs
        if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            proc.module_gc += [Where(path, c.lineno) for c in _calls(stmt) if _is_gc_tuning(c)]
    for call, scopes in _calls_with_scopes(tree):
        if isinstance(call.func, ast.Name) and call.func.id == "print":
            proc.prints.append(Where(path, call.lineno))
        elif _is_node_call(call, modules, nodes):
            proc.nodes.append(_node_call(call, path, [*scopes, tree]))


def _calls(node: ast.AST) -> Iterator[ast.Call]:
    return (n for n in ast.walk(node) if isinstance(n, ast.Call))


def _calls_with_scopes(
    node: ast.AST, scopes: tuple[ast.FunctionDef | ast.AsyncFunctionDef, ...] = ()
) -> Iterator[tuple[ast.Call, list[ast.AST]]]:
    """Every call, with the functions enclosing it, innermost first."""
    for child in ast.iter_child_nodes(node):
        inner = (child, *scopes) if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else scopes
        if isinstance(child, ast.Call):
            yield child, list(scopes)
        yield from _calls_with_scopes(child, inner)


def _arguments(call: ast.Call) -> tuple[dict[str, ast.expr], bool]:
    """Node's arguments by parameter name, and whether a ** or * argument may add others."""
    bound = {NODE_PARAMS[i]: a for i, a in enumerate(call.args[: len(NODE_PARAMS)]) if not isinstance(a, ast.Starred)}
    bound |= {k.arg: k.value for k in call.keywords if k.arg is not None}
    opaque = any(k.arg is None for k in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args)
    return bound, opaque


def _node_call(call: ast.Call, path: Path, scopes: list[ast.AST]) -> NodeCall:
    args, opaque = _arguments(call)
    policy = args.get("failure_policy")
    if policy is None:
        policy_text = "?" if opaque else None
    else:
        value = _resolve(policy, scopes)
        policy_text = value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else "?"
    name = args.get("name")
    init = _resolve(args["init"], scopes) if "init" in args else None
    return NodeCall(
        where=Where(path, call.lineno),
        name=_literal(name),
        rate=_rate(args.get("rate"), scopes),
        failure_policy=policy_text,
        init_gc=_gc_in(init, path),
        has_init=init is not None,
    )


def _literal(expr: ast.expr | None) -> str:
    """A name as the code writes it: the string itself, or the expression's source."""
    if expr is None:
        return "(unnamed)"
    return expr.value if isinstance(expr, ast.Constant) and isinstance(expr.value, str) else ast.unparse(expr)


def _rate(expr: ast.expr | None, scopes: list[ast.AST]) -> float | None:
    if expr is None:
        return DEFAULT_RATE
    value = _resolve(expr, scopes)
    if isinstance(value, ast.Constant) and isinstance(value.value, int | float) and not isinstance(value.value, bool):
        return float(value.value)
    return None


def _resolve(expr: ast.AST, scopes: list[ast.AST]) -> ast.AST:
    """A name's definition or default value, looked up from the innermost scope out; else `expr` itself."""
    if not isinstance(expr, ast.Name):
        return expr
    for scope in scopes:
        if _is_bare_parameter(scope, expr.id):
            return expr  # its value comes from each caller
        found = _binding(scope, expr.id)
        if found is not None:
            return _resolve(found, scopes[scopes.index(scope) + 1 :]) if isinstance(found, ast.Name) else found
    return expr


def _is_bare_parameter(scope: ast.AST, name: str) -> bool:
    if not isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    a = scope.args
    positional = [*a.posonlyargs, *a.args]
    bare = {p.arg for p in positional[: len(positional) - len(a.defaults)]}
    bare |= {p.arg for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is None}
    return name in bare


def _binding(scope: ast.AST, name: str) -> ast.AST | None:
    """What `name` is bound to directly in `scope`: a def, a single assignment, or a parameter's default."""
    if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
        params = [*scope.args.posonlyargs, *scope.args.args]
        defaults = dict(zip([p.arg for p in params][-len(scope.args.defaults) :], scope.args.defaults, strict=False))
        defaults |= {p.arg: d for p, d in zip(scope.args.kwonlyargs, scope.args.kw_defaults, strict=True) if d}
        if name in defaults:
            return defaults[name]
    for stmt in getattr(scope, "body", []):
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name == name:
            return stmt
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
            return stmt.value
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == name:
            return stmt.value
    return None


def _gc_in(init: ast.AST | None, path: Path) -> Where | None:
    if not isinstance(init, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        return None
    return next((Where(path, c.lineno) for c in _calls(init) if _is_gc_tuning(c)), None)
