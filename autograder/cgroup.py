"""One memory limit for a sandbox and everything it starts: a memory cgroup, where there is one.

``RLIMIT_AS`` limits each process, so a submission that starts 32 processes could use 32 times
that. A memory cgroup limits them together: when their sum reaches the limit, the kernel's OOM
killer ends one of them (the submission sees its process crash) and the machine grading the
rest of the class is not starved. It also lists every process the sandbox started, detached or
not, so that none is missed when the sandbox is ended.

The group is a child of the grader's own memory cgroup (cgroup v1's ``memory`` hierarchy, or
cgroup v2 where the memory controller is enabled for our children), named after the sandbox's
pid. The sandbox joins it between fork and exec, before any learner code runs; it is removed
once the sandbox is ended. Making one needs root (or a delegated cgroup); where it cannot be
made, ``available()`` says why and the per-process limit is all there is.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .sandbox.limits import join_memory_group

ROOT = Path("/sys/fs/cgroup")
GROUP = "autograder-{pid}"  # each sandbox's group, named after its pid as the grader knows it


@dataclass(frozen=True)
class Hierarchy:
    parent: Path  # the grader's own memory cgroup, under which each sandbox gets one
    limit_file: str  # memory.limit_in_bytes (v1) or memory.max (v2)
    version: int

    def group(self, pid: int) -> Path:
        return self.parent / GROUP.format(pid=pid)


def _own_memory_cgroup() -> Hierarchy | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, relative = line.split(":", 2)
        if "memory" in controllers.split(","):  # v1: hierarchy-id:memory:/path
            return Hierarchy(ROOT / "memory" / relative.lstrip("/"), "memory.limit_in_bytes", 1)
    for line in lines:
        _, controllers, relative = line.split(":", 2)
        parent = ROOT / relative.lstrip("/")
        if controllers == "" and (ROOT / "cgroup.controllers").exists():  # v2: 0::/path
            try:
                enabled = (parent / "cgroup.subtree_control").read_text().split()
            except OSError:
                return None
            return Hierarchy(parent, "memory.max", 2) if "memory" in enabled else None
    return None


@lru_cache(maxsize=1)
def available() -> Hierarchy | str:
    """Where sandboxes' groups go; or, when there is none to use, why not."""
    hierarchy = _own_memory_cgroup()
    if hierarchy is None:
        return "no memory cgroup controller for this process"
    try:
        probe = hierarchy.group(os.getpid())
        probe.mkdir()
        try:
            (probe / hierarchy.limit_file).write_text(str(64 * 1024**2))
        finally:
            probe.rmdir()
    except OSError as exc:
        return f"cannot make a memory cgroup ({exc.strerror or exc})"
    return hierarchy


def enter(hierarchy: Hierarchy, limit_bytes: int) -> None:
    """For preexec: put this process in a new group of its own, limited to ``limit_bytes``."""
    join_memory_group(str(hierarchy.group(os.getpid())), hierarchy.limit_file, limit_bytes, hierarchy.version == 1)


def spec(hierarchy: Hierarchy, limit_bytes: int) -> dict[str, Any]:
    """What a sandbox forked from the template needs to join a group of its own itself
    (``autograder.sandbox.limits.join_memory_group``; its pid names the group, as here)."""
    return {
        "group": str(hierarchy.parent / GROUP),
        "limit_file": hierarchy.limit_file,
        "limit_bytes": limit_bytes,
        "with_swap": hierarchy.version == 1,
    }


def members(hierarchy: Hierarchy, pid: int) -> list[int]:
    """Every process in the sandbox's group: all it started, whatever their session or user."""
    try:
        return [int(line) for line in (hierarchy.group(pid) / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def remove(hierarchy: Hierarchy, pid: int) -> None:
    """Remove the sandbox's group once its processes are gone (killed ones take a moment)."""
    group = hierarchy.group(pid)
    for _ in range(100):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # still busy: its last processes are being reaped
            time.sleep(0.01)
