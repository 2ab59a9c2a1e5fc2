"""Run pip-compile as if it ran on the robot: the target's marker environment, wheel tags and hashes.

Run in a subprocess, never imported by the pipeline:

    python -m horus_pipeline.lock.driver JOBS.json      (or `-`: the jobs on stdin)

With `-` the pipeline can start it before it has worked out the jobs (its imports, the index
probes): the interpreter's start and the tools' version check overlap them.

JOBS.json holds {"cache": "/path/to/dir" (optional, see 4. below), "jobs": [JOB, ...]}, one JOB
per image, run in order in this one process (imports, index pages and caches are shared):
{"name": "demo-arm64", "markers": {PEP 508 environment}, "tags": ["cp311-cp311-manylinux_2_36_aarch64",
...], "cwd": "/work/dir", "env": {"CUSTOM_COMPILE_COMMAND": ...}, "args": [pip-compile arguments]}.
A job that succeeds leaves `ok` in its cwd (and `kept` if its last lock was kept, see 8.); the
first that fails ends the run with its exit code.

Small patches, tested with exactly the pip and pip-tools of lockfiles/tools.txt (any other
version is refused, because they reach into pip's internals):

1. `pip._vendor.packaging.markers.default_environment` returns the target's environment, so
   `platform_machine == "x86_64"` is false for an aarch64 robot even on an x86_64 host.
2. `get_supported()` (and the names modules imported it under) returns the target's tags, so
   the finder picks the wheels the robot can install (pip's `--platform` alone does not change
   markers).
3. pip-tools hashes: take the `#sha256=` fragment the index gives with each link instead of
   downloading and hashing every file (pip-tools issue 1135: minutes instead of seconds), and
   hash only the files the target can install, so a lock does not depend on which other
   platforms' files some mirror happens to carry (and the index pages are not read twice).
   A link without a sha256 is downloaded and hashed as pip-tools always did.
4. A wheel's METADATA is kept in a cache keyed by the wheel's sha256, so a re-lock reads a few
   KiB instead of unzipping every pinned wheel again (torch is ~150 MB). This is what PEP 658
   `.metadata` files give when an index serves them; a mirror or proxy often does not. An
   entry is written only after the wheel's sha256 has been checked against its key. A local
   file (find-links, file:// index) without a `#sha256=` has its digest cached by path, size,
   mtime and inode, as git's index and make do, so it is not re-hashed on every lock.
5. Links to wheels no job's target can install are dropped before pip parses them, and each
   index page is fetched once per run, not once per image (speed only: pip's own evaluation
   rejects exactly those wheels, and a page is the same whichever robot it is read for).
6. pip's sessions start without child processes: pip's user agent runs `lsb_release`, `uname`
   and `rustc --version` to describe this machine to the index (about 60 ms, a third of pip's
   network time here). Ours names pip, Python and the OS without asking them.
7. What pip makes of an index page for a target (the installable files as candidates: parsed
   links, each evaluated against the target's tags and Python) is cached per page and target,
   keyed by the page's sha256: a page that did not change since the last lock (the HTTP cache
   revalidated it, or it is a local file) costs one unpickling instead of building and
   evaluating a Link for each of its files (torch's page alone has ~1,600 for one robot, a
   third of a lock's time after the imports).
8. A job whose inputs, pip configuration and index pages are those of an earlier lock gets that
   lock's outputs back without pip-compile running (memo.py: the pages are fetched again and
   compared by sha256; a run that only does that never imports pip). Every lock pip-compile
   makes is recorded for this. The pages a job's lock was made from are written to its
   `pages.json`, for the pipeline's record of the run (uptodate.py).
9. The files each pin's hashes stand for (name, every URL the indexes gave for it, size where
   an index or the file says it, sha256) are written to `files.json` beside the job's lock: the
   PEP 751 lock (`pylock.<image>.toml`) is written from them.

Only the standard library, pip and pip-tools are imported: this runs in the tools environment.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import os
import platform
import sys
import tempfile
from typing import Any, ClassVar

# The versions these patches were written against and tested with; see lockfiles/tools.txt.
TESTED = {"pip": "25.3", "pip-tools": "7.6.2"}
EXIT_TOOLS = 3  # the pipeline turns this exit code into "install lockfiles/tools.txt"
EXIT_MIRROR = 4  # one file name, two contents on two indexes


def check_versions() -> None:
    # Here, not at the top: the pipeline imports this module for TESTED and the exit codes, and
    # importlib.metadata is a tenth of its lock's start.
    from importlib import metadata

    found = {name: metadata.version(name) for name in TESTED}
    if found != TESTED:
        sys.stderr.write(
            "horus lock: the target patch for pip-compile was tested with "
            + ", ".join(f"{k}=={v}" for k, v in TESTED.items())
            + "; this environment has "
            + ", ".join(f"{k}=={v}" for k, v in found.items())
            + ". Install the pinned tools: pip install -r lockfiles/tools.txt\n"
        )
        raise SystemExit(EXIT_TOOLS)


def _require(module: Any, name: str) -> None:
    if not hasattr(module, name):
        sys.stderr.write(
            f"horus lock: {module.__name__}.{name} is gone: pip's internals moved. "
            "Install the pinned tools (pip install -r lockfiles/tools.txt) "
            "or update horus_pipeline/lock/driver.py\n"
        )
        raise SystemExit(EXIT_TOOLS)


class Target:
    """The robot the current job locks for; the patches below read it at call time."""

    markers: ClassVar[dict[str, str]] = {}
    tags: ClassVar[list[Any]] = []
    tag_set: ClassVar[frozenset[Any]] = frozenset()

    @classmethod
    def select(cls, markers: dict[str, str], tag_strings: list[str]) -> None:
        from pip._vendor.packaging.tags import Tag

        cls.markers = dict(markers)
        cls.tags = [Tag(*t.split("-")) for t in tag_strings]
        cls.tag_set = frozenset(cls.tags)


def patch(all_tags: list[str], cache: str | None = None) -> None:
    import pip._internal.models.target_python as target_python
    import pip._internal.resolution.resolvelib.factory as factory
    import pip._internal.utils.compatibility_tags as compatibility_tags
    import pip._vendor.packaging.markers as markers
    from pip._internal.models.wheel import Wheel
    from pip._vendor.packaging.version import Version
    from piptools.repositories.local import LocalRequirementsRepository
    from piptools.repositories.pypi import PyPIRepository

    for module, name in (
        (markers, "default_environment"),
        (compatibility_tags, "get_supported"),
        (target_python, "get_supported"),
        (factory, "get_supported"),
        (PyPIRepository, "_get_req_hashes"),
        (PyPIRepository, "find_all_candidates"),
        (PyPIRepository, "_get_file_hash"),
        (PyPIRepository, "allow_all_wheels"),
        (LocalRequirementsRepository, "get_hashes"),
    ):
        _require(module, name)

    def default_environment() -> dict[str, str]:
        return dict(Target.markers)

    def get_supported(*args: object, **kwargs: object) -> list[Any]:
        return list(Target.tags)

    markers.default_environment = default_environment  # type: ignore[assignment,unused-ignore]
    for module in (compatibility_tags, target_python, factory):
        module.get_supported = get_supported  # type: ignore[attr-defined]

    def target_links(repository: Any, ireq: Any) -> list[Any]:
        # The finder lists the target's wheels and every sdist, of every version: keep the
        # pinned version's wheels (its sdists only if it has no wheel for the target).
        # Exactly the pinned version: pip-tools' own matching lets "==2.10.0" pick the files of
        # "2.10.0+cpu" too (a specifier without a local label matches every local label).
        pinned = Version(next(iter(ireq.specifier)).version)
        links = [c.link for c in repository.find_all_candidates(ireq.name) if c.version == pinned]
        wheels = [w for w in links if w.is_wheel and not Target.tag_set.isdisjoint(Wheel(w.filename).file_tags)]
        return wheels or [link for link in links if not link.is_wheel]

    def _get_req_hashes(self: PyPIRepository, ireq: Any) -> set[str]:
        chosen = target_links(self, ireq)
        by_file: dict[str, set[str]] = {}
        for link in chosen:
            known = link_sha256(link)
            digest = f"sha256:{known}" if known else self._get_file_hash(link)
            by_file.setdefault(link.filename, set()).add(digest)
            Files.add(ireq.name, link, digest)
        for filename, digests in by_file.items():
            if len(digests) > 1:
                # Two indexes serve different bytes under one name: a rebuilt or tampered file.
                sys.stderr.write(
                    f"horus lock: {filename} has different sha256 on different indexes "
                    f"({', '.join(sorted(digests))}): check this machine's mirrors (pip config list)\n"
                )
                raise SystemExit(EXIT_MIRROR)
        return set().union(*by_file.values())

    # pip-tools lists every platform's files for hashing by clearing the finder's caches and
    # re-reading every index page with all wheels allowed (seconds for torch's thousands of
    # links). We hash the target's files only, which resolution has already listed: keep them.
    def allow_all_wheels(self: PyPIRepository) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    # Hashes kept from the seed lock skip _get_req_hashes: list their files for the PEP 751 lock
    # from the pages resolution read (no hashing: a file's digest is matched, or it is the locked one).
    original_get_hashes = LocalRequirementsRepository.get_hashes

    def get_hashes(self: LocalRequirementsRepository, ireq: Any) -> set[str]:
        hashes = original_get_hashes(self, ireq)
        if not Files.listed(ireq.name):
            Files.add_locked(ireq.name, target_links(self.repository, ireq), hashes)
        return hashes

    LocalRequirementsRepository.get_hashes = get_hashes  # type: ignore[method-assign]
    PyPIRepository.allow_all_wheels = allow_all_wheels  # type: ignore[method-assign,assignment,unused-ignore]
    PyPIRepository._get_req_hashes = _get_req_hashes  # type: ignore[method-assign,unused-ignore]
    skip_foreign_wheels(all_tags)
    fetch_each_page_once()
    start_sessions_quickly()
    if cache:
        cache_wheel_metadata(os.path.join(cache, "metadata"))
        cache_evaluated_pages(os.path.join(cache, "pages"))


def start_sessions_quickly() -> None:
    """pip's sessions without the child processes of its user agent (see 6.)."""
    import pip
    import pip._internal.network.session as session

    _require(session, "user_agent")
    about = {
        "installer": {"name": "pip", "version": pip.__version__},
        "python": platform.python_version(),
        "implementation": {"name": platform.python_implementation(), "version": platform.python_version()},
        "system": {"name": platform.system(), "release": platform.release()},
        "cpu": platform.machine(),
    }
    agent = f"pip/{pip.__version__} {json.dumps(about, separators=(',', ':'), sort_keys=True)}"
    session.user_agent = lambda: agent  # type: ignore[assignment,unused-ignore]


def fetch_each_page_once() -> None:
    """Keep each index page pip fetched for the rest of the run: every job reads the same pages.

    One after another, as pip asks: fetching a job's pages on threads made a lock slower here
    (each new connection loads the CA bundle and shakes hands again; one kept-alive
    connection answers a page in a few milliseconds).
    """
    from pip._internal.index.collector import LinkCollector

    _require(LinkCollector, "fetch_response")
    original = LinkCollector.fetch_response
    pages: dict[str, Any] = {}
    digests: dict[str, str | None] = {}

    def fetch_response(self: Any, location: Any) -> Any:
        if location.url not in pages:
            page = pages[location.url] = original(self, location)
            digests[location.url] = None if page is None else hashlib.sha256(page.content).hexdigest()
        Read.pages[location.url] = digests[location.url]  # for the memo (see 8.): what this job read
        return pages[location.url]

    LinkCollector.fetch_response = fetch_response  # type: ignore[method-assign]


# Bump when what cache_evaluated_pages stores changes: older entries are then ignored.
PAGES_FORMAT = 1


def cache_evaluated_pages(directory: str) -> None:
    """Serve pip's candidates from an index page that has not changed since the last lock (see 7.)."""
    import pickle

    from pip._internal.index.package_finder import PackageFinder
    from pip._internal.models.candidate import InstallationCandidate

    _require(PackageFinder, "process_project_url")
    original = PackageFinder.process_project_url

    def process_project_url(self: Any, project_url: Any, link_evaluator: Any) -> list[Any]:
        page = self._link_collector.fetch_response(project_url)  # fetch_each_page_once keeps it for pip
        if page is None:
            return original(self, project_url, link_evaluator)
        target = link_evaluator._target_python
        # Everything the evaluation reads, apart from the page: the project, the formats allowed,
        # the target's tags and Python, and whether yanked files and Requires-Python are ignored.
        evaluator = [
            PAGES_FORMAT, TESTED, page.url, link_evaluator.project_name, str(link_evaluator._canonical_name),
            sorted(link_evaluator._formats), sorted(map(str, target.get_unsorted_tags())),
            list(target.py_version_info), link_evaluator._allow_yanked, link_evaluator._ignore_requires_python,
        ]  # fmt: skip
        entry = os.path.join(directory, hashlib.sha256(json.dumps(evaluator).encode()).hexdigest() + ".pickle")
        digest = hashlib.sha256(page.content).hexdigest()
        # Written by this function into the user's own cache, as pip's cache holds the wheels it installs.
        # An entry that does not load (cut short, an older pip's classes) is made again, never an error.
        with contextlib.suppress(Exception), open(entry, "rb") as f:
            stored_digest, links, sizes = pickle.load(f)
            if stored_digest == digest:
                Files.sizes.update(sizes)
                return [InstallationCandidate(link_evaluator.project_name, version, link) for version, link in links]
        candidates = original(self, project_url, link_evaluator)
        # Links and version strings: an InstallationCandidate (a frozen dataclass) does not unpickle.
        links = [(str(c.version), c.link) for c in candidates]
        sizes = {c.link.filename: Files.sizes[c.link.filename] for c in candidates if c.link.filename in Files.sizes}
        # One entry per page and target, replaced when the page changes: the cache does not grow with releases.
        _write_atomically(entry, pickle.dumps((digest, links, sizes), protocol=pickle.HIGHEST_PROTOCOL))
        return candidates

    PackageFinder.process_project_url = process_project_url  # type: ignore[method-assign]


def skip_foreign_wheels(tag_strings: list[str]) -> None:
    """Drop index links to wheels no job's target can install before pip builds a Link for each.

    PyPI lists ~10,000 torch files (every version, every platform); pip parses and evaluates
    each one, which was most of a lock's time. pip's own evaluation rejects these wheels (no
    tag in common with the target's), so dropping them earlier changes no result. The tags
    are every job's, not the current one's, because pip caches parsed find-links pages.
    """
    from urllib.parse import unquote

    from pip._internal.models.link import Link

    _require(Link, "from_json")
    _require(Link, "from_element")
    supported = {tuple(t.split("-")) for t in tag_strings}

    # torch's ~10,000 files carry a few dozen distinct tag triples: decide each triple once.
    @functools.cache
    def compatible(py_tags: str, abi_tags: str, plat_tags: str) -> bool:
        pys, abis, plats = py_tags.split("."), abi_tags.split("."), plat_tags.split(".")
        return any((py, abi, plat) in supported for py in pys for abi in abis for plat in plats)

    def installable(filename: str) -> bool:
        if not filename.endswith(".whl"):
            return True
        stem = filename[:-4].lower()
        if stem.count("-") not in (4, 5):
            return True  # not a valid wheel name: pip reports it
        _, py_tags, abi_tags, plat_tags = stem.rsplit("-", 3)
        return compatible(py_tags, abi_tags, plat_tags)

    from_json, from_element = Link.from_json.__func__, Link.from_element.__func__  # type: ignore[attr-defined]

    def json_link(cls: type[Link], file_data: dict[str, Any], page_url: str) -> Link | None:
        filename = file_data.get("filename") or ""
        if not installable(filename):
            return None
        if isinstance(file_data.get("size"), int):  # PEP 700: JSON pages say each file's size
            Files.sizes[filename] = file_data["size"]
        return from_json(cls, file_data, page_url)

    def element_link(cls: type[Link], anchor: dict[str, Any], page_url: str, base_url: str) -> Link | None:
        href = (anchor.get("href") or "").split("#", 1)[0]
        name = unquote(href.rsplit("/", 1)[-1])
        return from_element(cls, anchor, page_url, base_url) if installable(name) else None

    Link.from_json = classmethod(json_link)  # type: ignore[method-assign,assignment]
    Link.from_element = classmethod(element_link)  # type: ignore[method-assign,assignment]


class Read:
    """The index pages the current job read (URL -> sha256, None where pip got no page), for memo.record."""

    pages: ClassVar[dict[str, str | None]] = {}


class Files:
    """The files behind the current job's hashes, for its PEP 751 lock (see 9. above)."""

    sizes: ClassVar[dict[str, int]] = {}  # by file name, from every JSON index page read in the run
    pinned: ClassVar[dict[str, dict[str, Any]]] = {}  # by file name, for the current job

    @classmethod
    def add(cls, name: str, link: Any, digest: str) -> None:
        entry = cls.pinned.setdefault(link.filename, {"name": name, "filename": link.filename, "urls": []})
        entry["sha256"] = digest.partition(":")[2]
        entry["urls"].append(link.url_without_fragment)
        if link.is_file and os.path.isfile(link.file_path):  # its hash came from the index: it may be gone
            entry["size"] = os.path.getsize(link.file_path)

    @classmethod
    def listed(cls, name: str) -> bool:
        return any(entry["name"] == name for entry in cls.pinned.values())

    @classmethod
    def add_locked(cls, name: str, links: list[Any], hashes: set[str]) -> None:
        """The files of hashes a lock kept: the links whose digest (the index's or a local file's) is one
        of them; a hash no file has any more (a find-links wheel rebuilt in place) goes with the first
        link's name, and no size: an installer refuses other bytes under it, as pip does with the lock."""
        for link in links:
            with contextlib.suppress(OSError):  # a local file gone since: its hash is matched below
                digest = f"sha256:{link_sha256(link)}"
                if digest in hashes:
                    cls.add(name, link, digest)
        left = hashes - {f"sha256:{entry['sha256']}" for entry in cls.pinned.values() if entry["name"] == name}
        for digest in sorted(left):
            if links:
                cls.pinned[f"{links[0].filename}\0{digest}"] = {
                    "name": name, "filename": links[0].filename, "urls": [links[0].url_without_fragment],
                    "sha256": digest.partition(":")[2], "size": None,
                }  # fmt: skip

    @classmethod
    def write(cls, path: str) -> None:
        for entry in cls.pinned.values():
            entry.setdefault("size", cls.sizes.get(entry["filename"]))
            entry["urls"] = sorted(set(entry["urls"]))
        with open(path, "w", encoding="utf-8") as f:
            json.dump(sorted(cls.pinned.values(), key=lambda e: (e["name"], e["filename"])), f, indent=1)
        cls.pinned = {}


# Where link_sha256 keeps the digests of local files (set by main when a cache is given).
_local_digests: str | None = None


def link_sha256(link: Any) -> str | None:
    """The sha256 of a link's file without fetching it: the index's, else a cached one of a local file."""
    if link.hash_name == "sha256" and link.hash:
        return str(link.hash)
    if not link.is_file or _local_digests is None:
        return None
    path = link.file_path
    st = os.stat(path)
    key = hashlib.sha256(f"{os.path.realpath(path)}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}".encode()).hexdigest()
    entry = os.path.join(_local_digests, key)
    with contextlib.suppress(FileNotFoundError), open(entry, encoding="ascii") as f:
        return f.read().strip()
    digest = _sha256(path)
    _write_atomically(entry, digest.encode("ascii"))
    return digest


def cache_wheel_metadata(directory: str) -> None:
    """Serve a wheel's METADATA from `directory` (keyed by the wheel's sha256) instead of reading the wheel."""
    from pip._internal.metadata import get_metadata_distribution
    from pip._internal.operations.prepare import RequirementPreparer
    from pip._internal.utils.direct_url_helpers import direct_url_from_link

    _require(RequirementPreparer, "prepare_linked_requirement")
    original = RequirementPreparer.prepare_linked_requirement

    def entry(link: Any) -> tuple[str, str] | None:
        digest = link_sha256(link) if link.is_wheel else None
        return (os.path.join(directory, digest + ".METADATA"), digest) if digest else None

    def prepare_linked_requirement(self: Any, req: Any, parallel_builds: bool = False) -> Any:
        found = entry(req.link)
        path, digest = found if found else ("", "")
        if path and os.path.isfile(path):
            with open(path, "rb") as f:
                dist = get_metadata_distribution(f.read(), req.link.filename, req.req.name)
            # As for PEP 658 metadata: the wheel itself is fetched only if something needs it.
            req.needs_more_preparation = True
            req.set_dist(dist)
            if req.download_info is None:
                req.download_info = direct_url_from_link(req.link, req.source_dir)
            return dist
        dist = original(self, req, parallel_builds)
        if path and req.local_file_path and _sha256(req.local_file_path) == digest:
            _write_atomically(path, dist.read_text("METADATA").encode("utf-8"))
        return dist

    RequirementPreparer.prepare_linked_requirement = prepare_linked_requirement  # type: ignore[method-assign]


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _write_atomically(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def run_job(job: dict[str, Any]) -> int:
    """pip-compile one image's lock in job["cwd"]; its exit code."""
    import click
    from pip._internal.exceptions import PipError
    from piptools.scripts.compile import cli

    Target.select(job["markers"], job["tags"])
    os.chdir(job["cwd"])
    os.environ.update(job.get("env", {}))
    try:
        cli.main(args=job["args"], prog_name="pip-compile", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        return 1
    except PipError as exc:  # no such version, conflicting pins, an unreachable index: pip says which
        sys.stderr.write(f"horus lock: {job['name']}: {exc}\n")
        return 1
    return 0


def load_sibling(name: str) -> Any:
    """A module beside this file (memo, pagefetch), whether this runs as a script (`python -I driver.py`:
    loaded from its file, under its own name) or is imported."""
    if __package__:
        import importlib

        return importlib.import_module(f"{__package__}.{name}")
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), f"{name}.py")
    found = importlib.util.spec_from_file_location(name, path)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module  # memo's `import pagefetch` finds it
    found.loader.exec_module(module)
    return module


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m horus_pipeline.lock.driver JOBS.json|-\n")
        raise SystemExit(2)
    check_versions()
    # A short-lived process whose big index pages make millions of objects: the cyclic GC's
    # full passes over them cost ~15% of a lock and would free next to nothing before exit.
    gc.disable()
    # pip is imported (by patch) only for a job the memo does not keep (see 8.). Importing it on a
    # thread while the jobs arrived and the memo was checked made a kept re-lock slower (0.25 s
    # against 0.22 s, 0.41 s against 0.31 s for demo-arm64) and a resolving one no faster.
    # The memo's imports and TLS context are made while the pipeline lays out the jobs: a kept
    # re-lock waits on them otherwise (40 ms of 0.15 s).
    load_sibling("pagefetch").tls_context()
    memo = load_sibling("memo")
    if argv[0] == "-":
        spec = json.load(sys.stdin)
    else:
        with open(argv[0], encoding="utf-8") as f:
            spec = json.load(f)
    global _local_digests
    memo_dir = os.path.join(spec["cache"], "memo") if spec.get("cache") else None
    patched = False
    for job in spec["jobs"]:
        key = memo.job_key(job, TESTED) if memo_dir else None
        kept = memo.replay(memo_dir, key, job["cwd"]) if key else None
        if kept is not None:
            with open(os.path.join(job["cwd"], "kept"), "w", encoding="ascii"):
                pass
            Read.pages = kept
        else:
            if not patched:
                if spec.get("cache"):
                    _local_digests = os.path.join(spec["cache"], "local-files")
                patch(sorted({tag for job in spec["jobs"] for tag in job["tags"]}), spec.get("cache"))
                patched = True
            Read.pages = {}
            code = run_job(job)
            if code:
                sys.stderr.write(f"horus lock: pip-compile for {job['name']} failed (exit {code})\n")
                raise SystemExit(code)
            Files.write(os.path.join(job["cwd"], "files.json"))
            if key:
                memo.record(memo_dir, key, Read.pages, job["cwd"])
        with open(os.path.join(job["cwd"], "pages.json"), "w", encoding="utf-8") as f:
            json.dump(Read.pages, f)
        with open(os.path.join(job["cwd"], "ok"), "w", encoding="ascii"):
            pass


if __name__ == "__main__":
    main(sys.argv[1:])
