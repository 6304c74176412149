"""How far a sandbox is confined on this machine, and ending sandboxes for good.

The sandbox confines itself at start-up (``autograder.sandbox.confine``) as the grader tells
it; this module decides what to tell it, finds out once per run what the machine really
allows (a real sandbox is started in each mode and must prove it), states it in the run's
first line, and ends sandboxes, with everything they started, when grading is over.

The modes, best first:

- ``root``: the grader is root on Linux. Own user id (``FIRST_UID`` + pid), and mount, PID,
  network, IPC and UTS namespaces: the sandbox sees a filesystem built for it (the system,
  the interpreter, its scratch folder; hidden paths covered), only loopback, only its own
  processes.
- ``userns``: the grader is not root, and the kernel allows unprivileged user namespaces
  (most laptops; Binder when the host allows it). The same namespaces and filesystem; the
  user id is the grader's own, mapped, with every capability dropped, so the view and the PID
  namespace are what keep the grader's files and processes out of reach.
- ``uid``: root, but namespaces are refused (a default Docker container). Own user id only:
  it cannot write or signal anything of the grader's, but it can read whatever is readable
  by everyone, the solutions of a world-readable checkout included.
- ``none``: not root and no user namespaces. Resource limits only: the code runs with the
  grader's rights.

``uid`` and ``none`` do not protect the hidden tests or the other submissions, so grading
other people's work refuses them unless the instructor accepts the risk (``--accept-risk``);
``autograder check`` (a learner's own notebook) runs in whatever mode there is.

Always, in every mode: resource limits (CPU seconds, address space, file size, no core
dumps), a process group of its own and, where the machine has a memory cgroup to give (root),
one memory limit for the sandbox and all it starts (``autograder.cgroup``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from . import cgroup
from . import template as sandbox_template
from .errors import SandboxBroken
from .lessons import FOLDER as LESSONS
from .lessons import PACKAGE, ROOT
from .sandbox import limits as sandbox_limits
from .sandbox.protocol import REFUSED
from .types import ConfinementMode, Limits

if TYPE_CHECKING:  # a sandbox's own module: its types only
    from .sandbox.confine import Spec

FIRST_UID = 200_000
# Modes that keep the hidden tests, the solutions and other submissions out of the
# sandbox's reach; the others need the instructor's consent to grade other people's code.
PROTECTIVE: tuple[ConfinementMode, ...] = ("root", "userns")
DESCRIPTION: dict[ConfinementMode, str] = {
    "root": "own user id; mount, PID and network namespaces (only loopback); resource limits",
    "userns": "user namespace (your user id, no capabilities); mount, PID and network namespaces "
    "(only loopback); resource limits",
    "uid": "own user id and resource limits only: NO namespaces, so the submission can read "
    "everything readable by all users, including the solutions and the hidden tests",
    "none": "resource limits only: NO confinement, the submission runs with your own rights",
}
TMP_BYTES = 256 * 1024**2  # the sandbox's private /tmp and /dev/shm, each (they are memory)


@dataclass(frozen=True)
class Confinement:
    """What this machine gives a sandbox, and, below the best mode, why not better."""

    mode: ConfinementMode
    refused: tuple[str, ...] = ()  # "mode: reason" for each better mode that failed

    @property
    def protective(self) -> bool:
        return self.mode in PROTECTIVE

    @property
    def as_root(self) -> bool:
        """Whether a sandbox would keep root's rights: never allowed, whatever the consent."""
        return self.mode == "none" and os.geteuid() == 0

    def describe(self) -> str:
        why = f" ({'; '.join(self.refused)})" if self.refused and not self.protective else ""
        return DESCRIPTION[self.mode] + why


@dataclass(frozen=True)
class Jail:
    """How to start a sandbox: what it may not see, how it is confined; and a ledger of the
    sandboxes started, so that the grader can end them even when their worker was killed."""

    hidden: tuple[str, ...] = ()
    ledger: str | None = None
    # Found out once per run by the grader and handed down (a worker need not probe again);
    # None: find out now.
    mode: ConfinementMode | None = None
    # Where its sandboxes' scratch folders go (None: ``submission.SCRATCH_ROOT``): a run can
    # keep its own, and count and clean only what is its own.
    scratch: str | None = None
    # The sandbox template its sandboxes are forked from (None: this process's own, started
    # when first needed): a grading run starts one and hands it to its workers.
    template: sandbox_template.Address | None = None

    @property
    def confinement(self) -> ConfinementMode:
        return confinement().mode if self.mode is None else self.mode

    # The ledger: one line a sandbox started ("started", pid, its start time, scratch), one a
    # sandbox ended ("ended", pid). A pid is reused once its process is gone (within minutes on
    # a busy machine: pid_max is often 32768, and threads take pids too), so a sandbox is ended
    # by pid only while that pid is still its own: see ``end_all``.
    def record(self, pid: int, scratch: Path) -> None:
        self._write_ledger(f"started\t{pid}\t{_start_time(pid)}\t{scratch}")

    def _write_ledger(self, line: str) -> None:
        if self.ledger:
            with open(self.ledger, "a") as ledger:
                ledger.write(line + "\n")

    @property
    def memory(self) -> cgroup.Hierarchy | None:
        """Where each sandbox gets a memory cgroup of its own, if anywhere."""
        found = cgroup.available()
        return found if isinstance(found, cgroup.Hierarchy) else None

    def spec(self, scratch: Path, limits: Limits, also_hidden: tuple[str, ...] = ()) -> Spec:
        """How the sandbox confines itself (``autograder.sandbox.confine.enter``)."""
        return {
            "mode": self.confinement,
            "first_uid": FIRST_UID,
            "scratch": str(scratch),
            "hidden": [*self.hidden, *also_hidden],
            "readable": readable_for_sandbox(),
            "processes": limits.processes,
            "tmp_bytes": TMP_BYTES,
        }

    def command(self, scratch: Path, limits: Limits) -> list[str]:
        """A new interpreter's command line for a sandbox (the probe starts one so): it
        confines itself as the spec says before anything else."""
        return [sys.executable, "-I", "-m", "autograder.sandbox", "--jail", json.dumps(self.spec(scratch, limits))]

    def fork_request(
        self, address: sandbox_template.Address, scratch: Path, limits: Limits, env: dict[str, str]
    ) -> dict[str, Any]:
        """What the sandbox template at ``address`` needs to fork a sandbox
        (``autograder.sandbox.template``): the spec (the template's own folder hidden too), and
        what a new interpreter would get from ``preexec`` and its start."""
        memory = self.memory
        return {
            "spec": self.spec(scratch, limits, (address.folder,)),
            "limits": [limits.cpu_seconds, limits.memory_bytes, limits.output_bytes],
            "memory": cgroup.spec(memory, limits.memory_bytes) if memory else None,
            "env": env,
            "cwd": str(scratch),
        }

    def preexec(self, limits: Limits) -> Callable[[], None]:
        memory = self.memory

        def run_in_child() -> None:  # between fork and exec: keep it to system calls
            _limit(limits)
            if memory:
                cgroup.enter(memory, limits.memory_bytes)

        return run_in_child

    def end_all(self) -> None:
        """End every sandbox of the ledger not ended yet (its worker was killed), and whatever
        each left behind, but never by a pid that is now another process's."""
        if not self.ledger or not os.path.exists(self.ledger):
            return
        not_ended: dict[int, tuple[str, str]] = {}  # pid -> (its start time, its scratch folder)
        for line in Path(self.ledger).read_text().splitlines():
            kind, number, *rest = line.split("\t", 3)
            if kind == "started":
                not_ended[int(number)] = (rest[0], rest[1])
            else:
                not_ended.pop(int(number), None)
        for pid, (started, scratch) in not_ended.items():
            now = _start_time(pid)
            # Its own (the same start time), or free: its process group, memory cgroup and user
            # id can hold only what it left. Another process's: they may be that one's.
            if now == started or now is None:
                self.end(pid)
            shutil.rmtree(scratch, ignore_errors=True)  # its worker, killed, could not

    def end(self, pid: int) -> int:
        """Kill the sandbox ``pid`` and every process it left. Return how many were killed.

        Its process group holds the outer process and the PID namespace's init; the kernel
        ends a PID namespace with its init. Outside a PID namespace (``uid``, ``none``), the
        members of its memory cgroup and anything under its user id go one by one."""
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        memory, uid, killed = self.memory, uid_for(pid), 0
        by_uid = self.confinement in ("root", "uid")
        for _ in range(50):  # a fork bomb refills; its process limit bounds the rounds
            found = {each: _status(each) for each in (cgroup.members(memory, pid) if memory else [])}
            if by_uid:
                for entry in os.listdir("/proc"):
                    if entry.isdigit() and (status := _status(int(entry))) is not None and status.uid == uid:
                        found[int(entry)] = status
            for each in found:
                try:
                    os.kill(each, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            # Killed processes stay zombies until their parent reaps them, which can take a
            # while: looking again for as long as one is found cost up to 50 scans of /proc a
            # sandbox (most of a grading run's CPU). A zombie runs nothing, but it is killed
            # too (a thread-group leader that exited alone looks dead while its threads run:
            # SIGKILL to it ends them all).
            if not any(status is not None and status.running for status in found.values()):
                break
        if memory:
            cgroup.remove(memory, pid)
        self._write_ledger(f"ended\t{pid}")
        return killed


def readable_for_sandbox() -> list[str]:
    """What of the project a sandbox needs beside its interpreter's own folders: the two
    packages (the sandbox's code, the notebooks' helpers) and the data the lessons read. An
    editable install does not put the project on ``sys.path``, so they are named here, both
    where they really are and where imports find them (through a symlinked checkout, if the
    install names one: the sandbox binds the real folder and makes the link again)."""
    places = {PACKAGE, ROOT / "coursekit", ROOT / "datasets"}
    for package in ("autograder", "coursekit"):
        found = importlib.util.find_spec(package)
        if found is not None:
            places.update(Path(each) for each in found.submodule_search_locations or [])
    return sorted(str(path) for path in places if path.exists())


def uid_for(pid: int) -> int:
    return FIRST_UID + pid


def _limit(limits: Limits) -> None:
    sandbox_limits.apply(limits.cpu_seconds, limits.memory_bytes, limits.output_bytes)


class _Status(NamedTuple):
    uid: int
    running: bool  # not a zombie (nor dead): it can still run code


def _start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks after boot, from ``/proc``), or None if no process has
    it: with the pid, it names one process, as a pid alone does not once reused."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]  # field 22; the name before ")" may hold spaces
    except (OSError, IndexError):
        return None


def _status(pid: int) -> _Status | None:
    """Its real user id and whether it can still run, from ``/proc``; None once it is gone."""
    uid, running = None, True
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("State:"):
                    running = line.split()[1] not in ("Z", "X")
                elif line.startswith("Uid:"):
                    uid = int(line.split()[1])
                    break
    except (OSError, ValueError):
        return None
    return None if uid is None else _Status(uid, running)


def isolation() -> str:
    """What a grading run states first: the jail, and how memory is limited."""
    memory = cgroup.available()
    if isinstance(memory, cgroup.Hierarchy):
        shared = f"memory limited per submission (cgroup v{memory.version})"
    else:
        shared = f"memory limited per process only ({memory})"
    return f"{confinement().describe()}; {shared}"


def candidates() -> list[ConfinementMode]:
    """The modes worth trying here, best first."""
    return ["root", "uid"] if os.geteuid() == 0 else ["userns"]


def allowed(mode: ConfinementMode) -> bool:
    """``AUTOGRADER_CONFINEMENT=uid,none`` (modes separated by commas) allows only those: how
    the tests play a machine that refuses the others, and how an instructor can insist on one."""
    setting = os.environ.get("AUTOGRADER_CONFINEMENT")
    return not setting or mode in setting.split(",")


@lru_cache(maxsize=1)
def confinement() -> Confinement:
    """The best mode this machine really gives: each is tried with a real sandbox, which must
    prove it (``_prove``). Found out once per process."""
    if not sys.platform.startswith("linux"):
        return Confinement("none", ("namespaces and user ids of its own need Linux",))
    refused: list[str] = []
    for mode in candidates():
        if not allowed(mode):
            refused.append(f"{mode}: not allowed by AUTOGRADER_CONFINEMENT")
            continue
        try:
            _prove(mode)
        except (OSError, subprocess.SubprocessError, ValueError, ModeRefused) as exc:
            lines = str(exc).strip().splitlines()
            refused.append(f"{mode}: {lines[-1] if lines else type(exc).__name__}")
            continue
        return Confinement(mode, tuple(refused))
    if os.geteuid() != 0:
        refused.append("not root, so no user id of its own")
    return Confinement("none", tuple(refused))


@dataclass(frozen=True)
class Probed:
    """What a probing sandbox said: what it became (``autograder.sandbox.confine.report``),
    and, once confined, whether it could import what every sandbox needs (``unready``: why not)."""

    seen: dict[str, Any]
    unready: str = ""


def probe(jail: Jail, scratch: Path, paths: list[str]) -> Probed:
    """Start a sandbox as ``jail`` says, on ``scratch``, and return what it reports about
    itself: which of ``paths`` it can still see, and more. ``OSError`` if the machine refused
    a step of the jail (the sandbox exits ``REFUSED`` then)."""
    completed = subprocess.run(
        [*jail.command(scratch, Limits()), "--probe", *paths],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=scratch,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        preexec_fn=jail.preexec(Limits()),
        start_new_session=True,
    )
    lines, said = completed.stdout.strip().splitlines(), completed.stderr.strip().splitlines()
    if completed.returncode == REFUSED:
        raise OSError(said[-1] if said else "the machine refused a step of the jail")
    unready = (
        ""
        if completed.returncode == 0 and len(lines) == 2
        else (said[-1] if said else f"it exited {completed.returncode} before it was ready")
    )
    return Probed(json.loads(lines[0]) if lines else {}, unready)


class ModeRefused(Exception):
    """A confinement mode does not give, on this machine, what it promises: a weaker one is tried."""


def _require(condition: bool, reason: str) -> None:
    # Not an ``assert``: ``python -O`` strips those, and the grader would then trust a sandbox
    # that kept its user id, its network or a view of the hidden tests.
    if not condition:
        raise ModeRefused(reason)


def _prove(mode: ConfinementMode) -> None:
    """Start a sandbox in ``mode`` on a probe folder and check what it reports: its own pid 1,
    user id and loopback-only network where the mode promises them, and a hidden file gone
    (else the mode is refused: ``ModeRefused``). Then that, confined, it still works: it sees
    the folders it must read and imports what a real sandbox imports; if not, the grader is
    broken here (``SandboxBroken``), which no weaker mode would mend."""
    with tempfile.TemporaryDirectory(prefix="jail-probe-") as folder:
        scratch, secret = Path(folder) / "scratch", Path(folder) / "secret"
        scratch.mkdir()
        secret.mkdir()
        (secret / "answer").write_text("hidden")
        probed = probe(
            Jail(hidden=(str(secret), str(LESSONS)), mode=mode), scratch, [str(secret / "answer"), str(LESSONS)]
        )
        seen = probed.seen
        if not seen:  # it died before it could say what it became: its own code is broken
            raise SandboxBroken(mode, f"it cannot start ({probed.unready})")
        if mode in ("root", "uid"):
            _require(seen["uid"] not in (0, os.getuid()), "the sandbox kept the grader's user id")
        _require(
            not seen["denied"],
            f"the sandbox's user may not enter {', '.join(seen['denied'])}: install Python where every "
            "user can read it (or let the grader make namespaces)",
        )
        if mode in PROTECTIVE:
            _require(seen["pid"] == 1, "the sandbox is not alone in a PID namespace")
            _require(seen["interfaces"] == ["lo"], f"the sandbox sees network interfaces {seen['interfaces']}")
            _require(seen["visible"] == [], f"the sandbox sees hidden paths: {seen['visible']}")
    if seen["unseen"]:
        raise SandboxBroken(mode, f"it cannot find {', '.join(seen['unseen'])}, which it must read")
    if probed.unready:
        raise SandboxBroken(mode, f"it cannot import its own code ({probed.unready})")
