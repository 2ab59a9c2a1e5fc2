"""Jobs of the HORUS robot image pipeline: `nox -l` lists them, `nox -s NAME -- --help` explains one.

Sessions stay thin: each installs the pinned tools (lockfiles/tools.txt, hash-checked) and
calls the pipeline package (horus_pipeline/) or pytest.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import nox

# session(default=False) needs nox 2024.3.2.
nox.needs_version = ">=2024.3.2"
nox.options.sessions = ["build"]
nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = True
# uv (in nox's own environment: lockfiles/nox.txt) makes and fills the sessions' environments in
# seconds where virtualenv and pip take half a minute; they remain where nox has no uv.
nox.options.default_venv_backend = "uv|virtualenv"
# uv compiles what it installs, as pip does: with PYTHONDONTWRITEBYTECODE (set on these machines)
# nothing would ever be compiled, and every import of the tools would compile them again.
INSTALL_ENV = {"UV_COMPILE_BYTECODE": "1"}

PYTHON = "3.11"
TOOLS = "lockfiles/tools.txt"
TEST_TOOLS = "lockfiles/test.txt"
# The pins of the pipeline's own tools, each made by pip-compile from its .in file; test.in and
# nox.in are constrained by tools.txt, so a package in two of them has one version and hash set.
TOOL_PINS = ("tools", "test", "nox")


def install_pipeline(session: nox.Session, *extra: str) -> None:
    """The pinned tools, anything `extra` names (hash-checked too), and the pipeline package itself.

    Skipped when this environment was last set up from the same pin files and pyproject.toml
    (their hashes are kept in it): pip takes seconds to find everything already installed,
    most of a warm `nox -s build`. A new or recreated environment has no record, so it installs.
    """
    files = [TOOLS, *(arg for arg in extra if arg.endswith(".txt")), "pyproject.toml"]
    digest = hashlib.sha256(repr(extra).encode())
    for name in files:
        digest.update(hashlib.sha256(Path(name).read_bytes()).digest())
    record = Path(session.virtualenv.location) / ".horus-installed"
    if record.is_file() and record.read_text() == digest.hexdigest():
        session.log(f"tools unchanged since this environment installed them ({', '.join(files)})")
        return
    record.unlink(missing_ok=True)  # an install that fails part-way is not taken for done
    session.install("--require-hashes", "-r", TOOLS, *extra, env=INSTALL_ENV)
    session.install("--no-deps", "-e", ".", env=INSTALL_ENV)
    # An editable install leaves the pipeline's modules uncompiled, and with PYTHONDONTWRITEBYTECODE
    # (set on these machines) every command compiled them again: 25 ms of a 0.18 s re-lock.
    session.run_install("python", "-m", "compileall", "-q", "horus_pipeline", silent=True)
    # As an install command, so `nox --no-install` (-R), which skips the installs, skips this too.
    write = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"
    session.run_install("python", "-c", write, str(record), digest.hexdigest(), silent=True)


def install_core(session: nox.Session) -> None:
    """Build the horus_core wheel for this machine with zig and install it: tests run what robots run."""
    session.run("python", "-m", "horus_pipeline.core", "--host")
    session.install(
        "--no-index", "--find-links", "dist/wheels", "--force-reinstall", "--no-deps", "horus_core", env=INSTALL_ENV
    )


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build everything robots need: horus_core wheels for every CPU, then a bundle per image (`-- IMAGE ...`)."""
    install_pipeline(session)
    session.run("python", "-m", "horus_pipeline.core")
    session.run("python", "-m", "horus_pipeline.bundle", *session.posargs)


@nox.session(python=PYTHON, default=False)
def bundle(session: nox.Session) -> None:
    """Offline venv bundles in per-package layers: dist/bundles/<image>/ (`-- IMAGE ...`, `-- --diff OLD NEW`)."""
    install_pipeline(session)
    session.run("python", "-m", "horus_pipeline.bundle", *session.posargs)


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    """Cross-compile horus_core wheels for every robot CPU into dist/wheels, checked by auditwheel."""
    install_pipeline(session)
    session.run("python", "-m", "horus_pipeline.core", *session.posargs)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run every test: unit, integration and end-to-end on simulated robots."""
    install_pipeline(session, "-r", TEST_TOOLS)
    install_core(session)
    # The demo robot's tests run against its robot's lock (CPU torch, scipy, numpy).
    session.run("python", "-m", "horus_pipeline.lock", "--install", "demo-amd64")
    # The slowest tests are listed at the end: where CI's minutes go. The `long` ones (most of an
    # hour) run in the upgrade workflow: `nox -s tests -- -m long tests`.
    session.run("pytest", *(session.posargs or ["tests", "-m", "not long", "--durations=20"]))


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Benchmark the runtime against multiprocessing.Pipe, a Unix socket and pyzmq, the build's stages cold
    and warm, and `nox -s lock` against uv; print tables, write dist/bench/*.json. `-- --quick` for a smoke
    run, `-- --repeat 3` for the runtime's spread between runs."""
    install_pipeline(session, "-r", TEST_TOOLS)
    install_core(session)
    quick = [a for a in session.posargs if a == "--quick"]
    session.run("python", "tests/bench/runtime.py", *session.posargs)
    session.run("python", "tests/bench/build_stages.py", *quick)
    session.run("python", "tests/bench/lock.py", *quick)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and types: ruff, mypy, and ansible-lint's production profile on ansible/."""
    session.install("--require-hashes", "-r", TOOLS, "-r", TEST_TOOLS, env=INSTALL_ENV)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", "horus_pipeline", "horus_core", "apps", "tests", "noxfile.py")
    session.run("mypy", "horus_pipeline", "horus_core/horus", "horus_core/msgs", "noxfile.py")
    ansible = ["ansible/deploy.yml", "ansible/rollback.yml", "ansible/roles"]
    session.run("ansible-lint", "--profile", "production", *ansible)


# Runs as root: boots robots with systemd-nspawn in network namespaces of their own.
@nox.session(python=PYTHON, default=False)
def sim(session: nox.Session) -> None:
    """Boot simulated robots of an image (`-- demo-amd64 --count 5`), or stop them all (`-- --stop`)."""
    install_pipeline(session)
    session.run("python", "-m", "horus_pipeline.sim", *session.posargs)


# Runs as root: file owners in the image, and its release assembled inside it (systemd-nspawn).
@nox.session(python=PYTHON, default=False)
def image(session: nox.Session) -> None:
    """Write a robot disk image with a release installed: dist/images/<image>/<release>.img (`-- --help`)."""
    install_pipeline(session)
    session.run("python", "-m", "horus_pipeline.image", *session.posargs)


@nox.session(python=PYTHON, default=False)
def doctor(session: nox.Session) -> None:
    """Walk the pre-deployment checklist for an image, and its robots with -i (`-- demo-amd64 [-i INVENTORY]`)."""
    install_pipeline(session)
    session.run("python", "-m", "horus_pipeline.doctor", *session.posargs)


@nox.session(python=PYTHON, default=False)
def fleet(session: nox.Session) -> None:
    """Show every robot of an inventory in one table (`-- -i INVENTORY`), or its Prometheus targets (`-- --help`)."""
    install_pipeline(session)
    session.run("python", "-m", "horus_pipeline.fleet", *session.posargs)


@nox.session(python=PYTHON, default=False)
def soak(session: nox.Session) -> None:
    """Run an image's release on a robot for N minutes; report leaks, tick times, misses, restarts (`-- --help`)."""
    install_pipeline(session, "-r", TEST_TOOLS)  # matplotlib, for the plot
    session.run("python", "-m", "horus_pipeline.soak", *session.posargs)


# REWRITES COMMITTED FILES: lockfiles/<image>.txt and apps/<app>/horus.lock.
@nox.session(python=PYTHON, default=False)
def lock(session: nox.Session) -> None:
    """Lock each image's Python packages for its robot's CPU: lockfiles/<image>.txt."""
    install_pipeline(session)
    session.run("python", "-m", "horus_pipeline.lock", *session.posargs)


# REWRITES COMMITTED FILES (only when every test passes): lockfiles/*.txt, horus.lock.
@nox.session(python=PYTHON, default=False)
def upgrade(session: nox.Session) -> None:
    """Re-lock every image with newer versions, test them, and keep the new pins only if all pass."""
    install_pipeline(session)
    session.run("python", "-m", "horus_pipeline.upgrade", *session.posargs)


# REWRITES COMMITTED FILES: lockfiles/{tools,test,nox}.txt.
@nox.session(python=PYTHON, default=False)
def tool_pins(session: nox.Session) -> None:
    """Re-pin the pipeline's own tools from lockfiles/*.in (hash-checked, PyPI only); `-- --upgrade` for newer."""
    session.install("--require-hashes", "-r", TOOLS, env=INSTALL_ENV)
    # Only PyPI: none of this machine's pip configuration (local wheel directories, constraints).
    env = {"PIP_CONFIG_FILE": os.devnull, "CUSTOM_COMPILE_COMMAND": "nox -s tool_pins"}
    for name in TOOL_PINS:
        session.run(
            "pip-compile", "--quiet", "--generate-hashes", "--allow-unsafe", "--strip-extras",
            "--no-emit-index-url", "--no-emit-find-links", "--no-emit-trusted-host", "--pip-args", "--isolated",
            "--output-file", f"lockfiles/{name}.txt", f"lockfiles/{name}.in", *session.posargs,
            env=env,
        )  # fmt: skip
