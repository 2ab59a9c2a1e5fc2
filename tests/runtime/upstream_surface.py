"""Upstream HORUS's Python surface as a list of names and signatures, and the rules to check ours.

The list (`upstream_surface.txt` beside this file) says what upstream's package offers: each line a
public name of `horus` with its parameters, `Topic.send(message, node)`, or an attribute,
`Topic.name`. It is written by `python tests/runtime/upstream_surface.py UPSTREAM_CHECKOUT` from
reading upstream's sources (the pyo3 classes of `horus_py/src/*.rs`, the Python of
`horus_py/horus/`), never from its code being run; a refresh keeps each entry's "not provided"
reason. `test_upstream_surface.py` checks our `horus` against it.

Format, one entry a line:

    Topic.send(message, node)           a callable and its parameters (no self), in order
    Topic.name                          an attribute (a getter upstream)
    Tensor.cuda(device) ! cuda          not provided here, for the reason named `cuda` (REASONS)
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

LIST = Path(__file__).with_name("upstream_surface.txt")
HEADER = """\
# Upstream HORUS's Python surface (softmata/horus, horus_py/), names and parameters only: what user
# code can call. Written by tests/runtime/upstream_surface.py, checked by test_upstream_surface.py.
# `! REASON` marks what is not provided here (README, "Not provided").

"""

# Why an entry is not provided; each reason is named in the README's "Not provided" paragraph.
REASONS = {
    "cuda": "CUDA",
    "drivers": "hardware drivers",
    "network": "LAN replication",
    "layout": "fields our message layouts do not carry",
}


@dataclass(frozen=True)
class Entry:
    """One name of upstream's surface: `path` is dotted under `horus`; `params` None for an attribute."""

    path: str
    params: tuple[str, ...] | None
    reason: str | None = None

    def line(self) -> str:
        text = self.path if self.params is None else f"{self.path}({', '.join(self.params)})"
        return f"{text} ! {self.reason}" if self.reason else text


_LINE = re.compile(r"(?P<path>[A-Za-z_][\w.]*)(?:\((?P<params>[^)]*)\))?(?:\s+!\s+(?P<reason>\w+))?")


def parse(text: str) -> list[Entry]:
    """The entries of a list; raises ValueError naming the line that is not an entry."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"{LIST.name}:{number}: {raw!r} is not an entry (see upstream_surface.py)")
        params = match["params"]
        names = None if params is None else tuple(p.strip() for p in params.split(",") if p.strip())
        reason = match["reason"]
        if reason is not None and reason not in REASONS:
            raise ValueError(f"{LIST.name}:{number}: unknown reason {reason!r}: one of {sorted(REASONS)}")
        entries.append(Entry(match["path"], names, reason))
    return entries


# -- reading upstream ---------------------------------------------------------------------

# Dunders that every Python object has, or that pyo3 spells its own way: not part of a surface.
_OBVIOUS = {"__repr__", "__str__", "__richcmp__", "__hash__", "__eq__", "__new__", "__init__", "__traverse__",
            "__clear__", "__next__", "__iter__"}  # fmt: skip
# The receiver, which pyo3 passes itself.
_IMPLICIT = re.compile(r"^(&?(mut )?(self|slf))$")
# Rust classes upstream wraps in Python under the same name, and iterators no one names.
_WRAPPED = {"Node", "Scheduler", "PyDetectionListIter", "PyParamsKeyIter"}


def _rust_params(signature_attr: str | None, fn_text: str) -> tuple[str, ...]:
    if signature_attr is not None:
        names = [p.split("=")[0].strip().lstrip("*") for p in _split(signature_attr)]
    else:
        inner = fn_text[fn_text.index("(") + 1 : fn_text.rindex(")")]
        typed = [(p.split(":")[0].strip(), p.split(":", 1)[1] if ":" in p else "") for p in _split(inner)]
        # pyo3 fills in the receiver and arguments of type Python (the GIL token), whatever their names.
        names = [n for n, kind in typed if "Python" not in kind and "PyType" not in kind]
    return tuple(n for n in names if n and n != "/" and not _IMPLICIT.match(n))


def _split(text: str) -> list[str]:
    """Split on top-level commas (generics and defaults may hold commas)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "(<[":
            depth += 1
        elif ch in ")>]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def _fn_text(lines: list[str], start: int) -> str:
    """A Rust fn's head from `fn` to its parameter list's closing parenthesis."""
    text, depth, i = "", 0, start
    while True:
        for ch in lines[i]:
            text += ch
            depth += ch == "("
            if ch == ")":
                depth -= 1
                if depth == 0:
                    return text
        i += 1


def rust_surface(src: Path) -> list[Entry]:
    """Every pyo3 class method and getter of upstream's bindings, under the class's Python name."""
    names: dict[str, str] = {}
    perception = set()
    for path in sorted(src.rglob("*.rs")):
        text = path.read_text()
        for m in re.finditer(r"#\[pyclass\(([^\]]*)\)\]\s*(?:#\[[^\]]*\]\s*)*pub struct (\w+)", text):
            named = re.search(r'name\s*=\s*"(\w+)"', m[1])
            names[m[2]] = named[1] if named else m[2]
            if path.name == "perception.rs":
                perception.add(m[2])
    entries: list[Entry] = []
    for path in sorted(src.rglob("*.rs")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() != "#[pymethods]":
                continue
            rust = re.match(r"\s*impl\s+(\w+)", lines[i + 1])
            assert rust is not None, f"{path}:{i + 2}: no impl after #[pymethods]"
            cls = names.get(rust[1], rust[1])
            if cls in _WRAPPED:
                continue
            prefix = f"perception.{cls}" if rust[1] in perception else cls
            entries += _methods(lines, i + 1, prefix)
    return entries


def _methods(lines: list[str], start: int, prefix: str) -> list[Entry]:
    out, attrs, depth, j = [], [], 0, start
    while True:
        line = lines[j]
        if depth == 1:
            stripped = line.strip()
            if stripped.startswith("#["):
                attrs.append(stripped)
            fn = re.match(r"\s*(?:pub\s+)?fn\s+(\w+)", line)
            if fn:
                out += _method(fn[1], attrs, _fn_text(lines, j), prefix)
                attrs = []
        depth += line.count("{") - line.count("}")
        j += 1
        if depth <= 0 and j > start + 1:
            return out


def _method(name: str, attrs: list[str], fn_text: str, prefix: str) -> list[Entry]:
    signature = None
    for attr in attrs:
        if attr.startswith("#[setter"):
            return []
        if attr.startswith("#[classattr"):
            return [Entry(f"{prefix}.{name}", None)]
        if attr.startswith("#[getter"):
            named = re.search(r"getter\((\w+)\)", attr)
            return [Entry(f"{prefix}.{named[1] if named else name}", None)]
        if attr.startswith("#[pyo3("):
            renamed = re.search(r'name\s*=\s*"(\w+)"', attr)
            name = renamed[1] if renamed else name
            sig = re.search(r"signature\s*=\s*\((.*)\)\s*\)\]$", attr)
            signature = sig[1] if sig else None
    params = _rust_params(signature, fn_text)
    if any(a.startswith("#[new") for a in attrs):
        return [Entry(prefix, params)]
    if name in _OBVIOUS:
        return []
    return [Entry(f"{prefix}.{name}", params)]


def python_surface(package: Path) -> list[Entry]:
    """The public classes and functions upstream's Python modules define themselves."""
    entries: list[Entry] = []
    for node in ast.parse((package / "__init__.py").read_text()).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            entries.append(Entry(node.name, _py_params(node)))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            entries += _py_class(node.name, node)
    # horus.msggen: what its __init__ exports (its submodules drive cargo and maturin, not a surface).
    exported = set(ast.literal_eval(_assigned(package / "msggen" / "__init__.py", "__all__")))
    for path in sorted((package / "msggen").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name in exported:
                entries.append(Entry(f"msggen.{node.name}", _py_params(node)))
    return entries


def _assigned(path: Path, name: str) -> ast.expr:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
    raise LookupError(f"{path}: no {name} = ...")


def _py_params(fn: ast.FunctionDef, drop_first: bool = False) -> tuple[str, ...]:
    args = [*fn.args.posonlyargs, *fn.args.args]
    names = [a.arg for a in args[1 if drop_first else 0 :]]
    names += [a.arg for a in fn.args.kwonlyargs]
    return tuple(n for n in names if not n.startswith("_"))  # private hooks (`_inner`) are not surface


def _py_class(path: str, cls: ast.ClassDef) -> list[Entry]:
    out = []
    for node in cls.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        decorators = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
        method = "staticmethod" not in decorators
        if node.name == "__init__":
            out.append(Entry(path, _py_params(node, drop_first=True)))
        elif not node.name.startswith("_") or (node.name.startswith("__") and node.name not in _OBVIOUS):
            if "property" in decorators:
                out.append(Entry(f"{path}.{node.name}", None))
            else:
                out.append(Entry(f"{path}.{node.name}", _py_params(node, drop_first=method)))
    return out


def extension_names(package: Path) -> list[Entry]:
    """The names upstream's package imports from its extension module: `horus._horus.X`."""
    tree = ast.parse((package / "__init__.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "horus._horus":
            names |= {alias.name for alias in node.names}
    return [Entry(f"_horus.{name}", None) for name in sorted(names)]


def generate(checkout: Path, previous: list[Entry]) -> str:
    reasons = {e.path: e.reason for e in previous if e.reason}
    python = python_surface(checkout / "horus_py" / "horus")
    wrapped = {e.path.split(".")[0] for e in python}
    rust = [e for e in rust_surface(checkout / "horus_py" / "src") if e.path.split(".")[0] not in wrapped]
    seen: dict[str, Entry] = {}
    for entry in [*python, *rust, *extension_names(checkout / "horus_py" / "horus")]:
        seen.setdefault(entry.path, Entry(entry.path, entry.params, reasons.get(entry.path)))
    return HEADER + "\n".join(e.line() for e in sorted(seen.values(), key=lambda e: e.path.lower())) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("Usage: python tests/runtime/upstream_surface.py UPSTREAM_CHECKOUT (a work tree of softmata/horus)")
    old = parse(LIST.read_text()) if LIST.exists() else []
    LIST.write_text(generate(Path(sys.argv[1]), old))
    print(f"wrote {LIST}")
