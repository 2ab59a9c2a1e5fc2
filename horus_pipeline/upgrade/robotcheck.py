"""Runs on a robot with a release's Python (standard library only), fed on stdin over SSH:

    python -I - imports          import the top-level modules of every distribution in the venv
    python -I - apptests DIR     call every test_* function of DIR/test_*.py (robots have no pytest)

It prints one line per module or test and a traceback for each failure; exit 1 when any failed.
"""

import importlib
import importlib.metadata
import importlib.util
import sys
import traceback
from pathlib import Path


def top_levels(dist: importlib.metadata.Distribution) -> list[str]:
    """A distribution's importable top-level names: top_level.txt, else the first part of its files."""
    listed = dist.read_text("top_level.txt")
    if listed:
        return sorted({n for n in listed.split() if n.isidentifier()})
    names = set()
    for f in dist.files or ():
        first = f.parts[0]
        if first.endswith((".dist-info", ".data")) or first.startswith("..") or not f.name.endswith((".py", ".so")):
            continue
        name = first.split(".")[0] if len(f.parts) == 1 else first
        if name.isidentifier() and name != "__pycache__":
            names.add(name)
    return sorted(names)


def imports() -> int:
    failed = 0
    for dist in sorted(importlib.metadata.distributions(), key=lambda d: d.metadata["Name"].lower()):
        for name in top_levels(dist):
            try:
                importlib.import_module(name)
            except BaseException:  # an import may exit or abort in its own way: report it all the same
                failed += 1
                print(f"import {name} ({dist.metadata['Name']} {dist.version}): FAILED")
                traceback.print_exc(file=sys.stdout)
            else:
                print(f"import {name} ({dist.metadata['Name']} {dist.version}): ok")
    return 1 if failed else 0


def apptests(directory: str) -> int:
    tests = Path(directory)
    sys.path[:0] = [str(tests), str(tests.parent)]
    failed = ran = 0
    for path in sorted(tests.glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            functions = [(n, f) for n, f in sorted(vars(module).items()) if n.startswith("test_") and callable(f)]
        except BaseException:
            failed += 1
            print(f"{path.name}: FAILED to import")
            traceback.print_exc(file=sys.stdout)
            continue
        for name, function in functions:
            ran += 1
            try:
                function()
            except BaseException:
                failed += 1
                print(f"{path.name}::{name}: FAILED")
                traceback.print_exc(file=sys.stdout)
            else:
                print(f"{path.name}::{name}: ok")
    print(f"{ran} test(s), {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(imports() if sys.argv[1] == "imports" else apptests(sys.argv[2]))
