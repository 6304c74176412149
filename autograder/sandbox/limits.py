"""A new sandbox's resource limits, set by the process itself before it runs anything else.

Two callers, one code: the grader's ``preexec_fn`` (between fork and exec, for a sandbox
started as a new interpreter: ``autograder.jail``) and a sandbox forked from the template
(``autograder.sandbox.template``), each before the jail is entered. Standard library only:
this is the sandbox package (``autograder.cgroup`` and ``autograder.jail`` import it, never
the other way round).
"""

from __future__ import annotations

import os
import resource


def apply(cpu_seconds: int, memory_bytes: int, output_bytes: int) -> None:
    """CPU seconds, address space and file size, soft and hard alike; no core dumps."""
    for kind, value in (
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_AS, memory_bytes),
        (resource.RLIMIT_FSIZE, output_bytes),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(kind, (value, value))


def join_memory_group(group: str, limit_file: str, limit_bytes: int, with_swap: bool) -> None:
    """Put this process in a new memory cgroup of its own (``group``, named after its pid),
    limited to ``limit_bytes`` (``autograder.cgroup`` says where and why).

    Writes only (no allocation worth the name): it may run between fork and exec."""
    try:
        os.mkdir(group)
    except FileExistsError:  # left by an earlier run that was killed, under a pid now reused
        pass
    write(os.path.join(group, limit_file), limit_bytes)
    swap = os.path.join(group, "memory.memsw.limit_in_bytes")
    if with_swap and os.path.exists(swap):
        write(swap, limit_bytes)  # swap counts too (cgroup v1)
    write(os.path.join(group, "cgroup.procs"), os.getpid())


def write(path: str, value: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)
