"""Package layers built side by side, one worker process per core, the biggest wheel first.

Layers are independent of one another, and most of a cold build is a few big ones (torch's
install, .pyc compile and compression: tens of seconds each, all CPU): built one after another
they kept one core busy; here every core works until the queue is empty. Workers are forked
(they inherit the caller's environment and patches, as a child build should) before any thread
starts; each writes its layer into the cache exactly as a build in this process would (the
layer's bytes do not depend on which process or in which order it was made). With one job or
one core the layers are built here, with no worker.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..console import plain_progress
from ..targets import Target
from .layers import Layer, LayerKind, build_wheel_layer, pure_wheel, same_archive


@dataclass(frozen=True)
class WheelJob:
    """One wheel to make into a layer for a target (see layers.build_wheel_layer)."""

    wheel: Path
    sha256: str
    kind: LayerKind
    name: str
    version: str
    target: Target


def _build(job: WheelJob) -> tuple[Layer, bool]:
    return build_wheel_layer(job.wheel, job.sha256, job.kind, job.name, job.version, job.target)


class _Here(Executor):
    """Runs each job at once in this process: no worker to start for a job or two."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        future: Future[object] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to whoever reads the result, as a pool would
            future.set_exception(exc)
        return future


def workers() -> int:
    """How many layers to build at once: the cores this process may use."""
    return len(os.sched_getaffinity(0))


@contextmanager
def _executor(jobs: int) -> Iterator[Executor]:
    count = min(jobs, workers())
    if count <= 1:
        yield _Here()
        return
    pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("fork"), initializer=plain_progress)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # a failed build does not wait for the queue
        raise
    pool.shutdown(wait=True)


def _bytes_key(hash_: str, job: WheelJob) -> tuple[str, ...]:
    """Jobs with one key make the same archive: a pure wheel's layer for one Python, whatever the CPU."""
    if pure_wheel(job.wheel.name):
        return (job.kind, job.sha256, job.target.python)
    return (hash_,)


def build_wheel_layers(jobs: Mapping[str, WheelJob]) -> dict[str, tuple[Layer, bool]]:
    """Build every job's layer (keyed by layer hash); each result is (layer, built now).

    A pure wheel locked for two arches is built once; the other layer gets the same archive
    (`same_archive`). Jobs start biggest wheel first, so the longest layers are not left for
    the end while the other cores idle. The first job to fail (in that order) raises once the
    running ones ended.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for hash_ in sorted(jobs):
        groups.setdefault(_bytes_key(hash_, jobs[hash_]), []).append(hash_)
    order: Sequence[str] = sorted((g[0] for g in groups.values()), key=lambda h: (-jobs[h].wheel.stat().st_size, h))
    with _executor(len(order)) as pool:
        futures = {h: pool.submit(_build, jobs[h]) for h in order}
        made = {h: futures[h].result() for h in order}
    for first, *twins in groups.values():
        layer, new = made[first]
        made.update({twin: (same_archive(layer, twin), new) for twin in twins})
    return made
