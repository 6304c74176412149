"""Confining the sandbox process with what the operating system offers.

Always: resource limits (CPU seconds, address space, file size, no core dumps) and a process
group of its own. Where the grader runs as root on Linux (an instructor's grading machine,
CI), also, set up between fork and exec:

- a user id of its own (200000 + its pid), so it cannot signal, ptrace or write anything
  of the grader's or of another submission's, and the process limit counts only its own;
- a mount namespace in which the hidden suites, the solutions, the submissions and the
  results are covered by empty read-only filesystems;
- a network namespace with only a loopback interface, so it reaches nothing outside itself;
- no_new_privs, so no setuid program gives privileges back.

Where the machine has a memory cgroup to give (root, cgroup v1 or v2), the sandbox and all it
starts also share one memory limit (``autograder.cgroup``), and the cgroup lists them for
``Jail.end``.

Where that is impossible (not root, not Linux, namespaces refused) the grader says so in its
output rather than pretending; the process limits still apply.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from . import cgroup
from .types import Limits

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWIPC = 0x00020000, 0x40000000, 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x8914, 0x1, 0x8, 0x40
FIRST_UID = 200_000


@dataclass(frozen=True)
class Jail:
    """Where the sandbox may not look; and a ledger of the sandboxes started, so that the
    grader can end them even when the worker that started them was killed."""

    hidden: tuple[str, ...] = ()
    ledger: str | None = None
    # Whether this machine gives the full jail: found out once per process, or handed down
    # by the grader, which found out already (a worker then need not probe again).
    confined: bool | None = None

    @property
    def full(self) -> bool:
        return confinement() == FULL if self.confined is None else self.confined

    def record(self, pid: int, scratch: Path) -> None:
        if self.ledger:
            with open(self.ledger, "a") as ledger:
                ledger.write(f"{pid}\t{scratch}\n")

    @property
    def memory(self) -> cgroup.Hierarchy | None:
        """Where each sandbox gets a memory cgroup of its own, if anywhere."""
        found = cgroup.available()
        return found if isinstance(found, cgroup.Hierarchy) else None

    def end_all(self) -> None:
        """End every sandbox in the ledger and whatever each left behind."""
        if not self.ledger or not os.path.exists(self.ledger):
            return
        for line in Path(self.ledger).read_text().splitlines():
            pid, scratch = line.split("\t", 1)
            self.end(int(pid))
            shutil.rmtree(scratch, ignore_errors=True)  # its worker, killed, could not

    def end(self, pid: int) -> int:
        """Kill the sandbox ``pid`` and every process it left: its process group, the members
        of its memory cgroup, and (in the full jail) anything under its user id. Return how
        many were killed."""
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        memory, uid, killed = self.memory, uid_for(pid), 0
        for _ in range(50):  # a fork bomb refills; its process limit bounds the rounds
            found = set(cgroup.members(memory, pid)) if memory else set()
            if self.full:
                found.update(int(entry) for entry in os.listdir("/proc") if entry.isdigit() and _owner(entry) == uid)
            if not found:
                break
            for each in found:
                try:
                    os.kill(each, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
        if memory:
            cgroup.remove(memory, pid)
        return killed

    def preexec(self, scratch: Path, limits: Limits) -> Callable[[], None]:
        confine = self.full
        # A folder the sandbox itself needs (its scratch dir, Python, the sandbox package)
        # cannot be covered, nor anything above one: a class graded straight out of /tmp
        # keeps /tmp visible. Grade from a folder of its own to have it hidden.
        needed = [scratch.resolve(), Path(sys.prefix).resolve(), Path(__file__).resolve().parent]
        hidden = tuple(
            path for path in self.hidden
            if os.path.exists(path) and not any(_within(each, Path(path)) for each in needed)
        )

        memory = self.memory

        def run_in_child() -> None:  # between fork and exec: keep it to system calls
            _limit(limits)
            if memory:
                cgroup.enter(memory, limits.memory_bytes)
            if confine:
                _confine(scratch, hidden, limits)
        return run_in_child


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def uid_for(pid: int) -> int:
    return FIRST_UID + pid


def _limit(limits: Limits) -> None:
    for kind, value in ((resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_AS, limits.memory_bytes),
                        (resource.RLIMIT_FSIZE, limits.output_bytes), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(kind, (value, value))


def _libc_call(name: str, *args) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{name}: {os.strerror(error)}")


def _confine(scratch: Path, hidden: tuple[str, ...], limits: Limits) -> None:
    uid = uid_for(os.getpid())
    os.chown(scratch, uid, uid)
    _libc_call("unshare", CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
    _libc_call("mount", None, b"/", None, MS_REC | MS_PRIVATE, None)
    for path in hidden:
        if os.path.isdir(path):
            _libc_call("mount", b"tmpfs", path.encode(), b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, b"size=4k,mode=0555")
        else:
            _libc_call("mount", b"/dev/null", path.encode(), None, MS_BIND, None)
    _loopback_up()
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    _libc_call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def offline() -> None:
    """For preexec_fn: put the new process in a network namespace with only loopback, so
    nothing it does can reach beyond the machine (used to prove notebooks run offline)."""
    _libc_call("unshare", CLONE_NEWNET)
    _loopback_up()


def _loopback_up() -> None:
    """A new network namespace starts with `lo` down; lessons may serve on 127.0.0.1 inside."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING))


def _owner(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


FULL = "own user id, mount and network namespaces, resource limits"


def isolation() -> str:
    """What a grading run states first: the jail, and how memory is limited."""
    memory = cgroup.available()
    if isinstance(memory, cgroup.Hierarchy):
        shared = f"memory limited per submission (cgroup v{memory.version})"
    else:
        shared = f"memory limited per process only ({memory})"
    return f"{confinement()}; {shared}"


@lru_cache(maxsize=1)
def confinement() -> str:
    """What isolation this machine gives the sandbox, tried once for real."""
    if not sys.platform.startswith("linux"):
        return "process and resource limits only (user and namespace isolation needs Linux)"
    if os.geteuid() != 0:
        return "process and resource limits only (user and namespace isolation needs the grader to run as root)"
    probe_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    try:
        scratch = Path(subprocess.check_output(["mktemp", "-d", str(probe_dir / "jail-probe-XXXXXX")], text=True).strip())
        subprocess.run(
            [sys.executable, "-I", "-c", "import os; assert os.getuid() != 0"], check=True, timeout=30,
            preexec_fn=lambda: _confine(scratch, (), Limits()), cwd=scratch, capture_output=True,
        )
        subprocess.run(["rm", "-rf", str(scratch)])
    except (OSError, subprocess.SubprocessError) as exc:
        return f"process and resource limits only (namespaces refused: {exc})"
    return FULL
