"""Where a command's CPU goes, by kind of process: for making the test suite (or a grading run) cheaper.

    sudo .venv/bin/python scripts/cpu_by_process.py RECORD -- python3 course.py test
    .venv/bin/python scripts/cpu_by_process.py RECORD           (the table again, from RECORD.*)

A sampler in a thread cannot see a sandbox that lives a tenth of a second, and most of the
test suite's processes are such: so the kernel counts. BSD process accounting (``acct(2)``,
root only) writes each process's CPU time when it exits, however short its life, to
RECORD.acct; meanwhile a thread notes every process's command line while it lives
(RECORD.procs), four times a second, to name what accounting calls only ``python3``. A
process is then of the first kind in ``KINDS`` that its own command line, or an ancestor's,
matches; a sandbox is recognised by its user id (200000 and up, ``autograder.jail``). Only
processes that end while the command runs are counted (compare the total with the machine's
busy CPU over the same time: a full test run's came to 95 % of it).
"""

from __future__ import annotations

import collections
import ctypes
import json
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
ACCT_HZ = 100  # acct_v3 counts CPU in AHZ ticks: 100 a second on Linux
SANDBOX_UIDS = 200_000  # autograder.jail gives each sandbox a user id from here up
# The first that a process's command line, then its parent's and so on, contains. Forked
# children keep their parent's command line: a grading worker reads as the forkserver.
KINDS = [
    ("sandbox templates", "autograder.sandbox.template"),
    ("grading workers (pytest on a hidden suite)", "multiprocessing.forkserver"),
    ("notebook kernels", "ipykernel_launcher"),
    ("JupyterLab servers", "jupyter-lab"),
    ("JupyterLab servers", "jupyter lab"),
    ("Chromium", "chromium"),
    ("Playwright's driver", "playwright"),
    ("nbgrader", "nbgrader"),
    ("uvicorn servers", "uvicorn"),
    ("Redis", "redis"),
    ("pyright (node)", "node"),
    ("pytest (xdist workers, the grading runs they hold, tests' own work)", "pytest"),
    ("pytest (xdist workers, the grading runs they hold, tests' own work)", "exec(eval(sys.stdin.readline()))"),
    ("course.py (set-up, lint and type checks)", "course.py"),
]
Seen = tuple[int, int, float, str]  # pid, parent pid, start (epoch seconds), command line


def _boot_time() -> int:
    with open("/proc/stat") as stat:
        return next(int(line.split()[1]) for line in stat if line.startswith("btime"))


def _note_processes(record: Path, stop: threading.Event) -> None:
    seen: dict[tuple[int, int], Seen] = {}
    boot = _boot_time()
    while not stop.is_set():
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                start = boot + int(fields[19]) / TICKS
                key = (int(name), round(start))
                if key not in seen:
                    command = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ")
                    seen[key] = (int(name), int(fields[1]), start, command.decode(errors="replace")[:300])
            except (OSError, ValueError, IndexError):  # it ended meanwhile
                continue
        time.sleep(0.25)
    record.with_suffix(".procs").write_text(json.dumps(list(seen.values())))


def run(record: Path, command: list[str]) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    accounting = record.with_suffix(".acct")
    accounting.write_bytes(b"")
    if libc.acct(str(accounting).encode()) != 0:
        raise OSError(ctypes.get_errno(), "acct(2): process accounting needs root")
    stop = threading.Event()
    noting = threading.Thread(target=_note_processes, args=(record, stop))
    noting.start()
    try:
        return subprocess.call(command)
    finally:
        libc.acct(None)
        stop.set()
        noting.join()


def _comp_t(value: int) -> int:
    """acct's 16-bit float: a 13-bit mantissa and a base-8 exponent."""
    return (value & 0x1FFF) << (3 * ((value >> 13) & 7))


def _kind(pid: int, parent: int, started: float, uid: int, command: str, seen: dict[int, list[Seen]]) -> str:
    if uid >= SANDBOX_UIDS:
        return "sandboxes (the learner's cells)"

    def noted(pid: int, before: float) -> Seen | None:
        earlier = [each for each in seen.get(pid, []) if each[2] <= before + 2]
        return max(earlier, key=lambda each: each[2]) if earlier else None

    found = noted(pid, started)
    chain = [found] if found else []
    at, when = (found[1], found[2]) if found else (parent, started)
    while at > 1 and len(chain) < 30 and (up := noted(at, when)) is not None:
        chain.append(up)
        at, when = up[1], up[2]
    for _, _, _, line in chain:
        for kind, needle in KINDS:
            if needle in line:
                return kind
    return f"other ({command})"


def report(record: Path) -> None:
    seen: dict[int, list[Seen]] = collections.defaultdict(list)
    for pid, parent, start, line in json.loads(record.with_suffix(".procs").read_text()):
        seen[pid].append((pid, parent, start, line))
    cpu: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    data = record.with_suffix(".acct").read_bytes()
    for offset in range(0, len(data) - 63, 64):  # struct acct_v3, 64 bytes
        entry = data[offset : offset + 64]
        uid, _, pid, parent, started = struct.unpack("<IIIII", entry[8:28])
        user, system = struct.unpack("<HH", entry[32:36])
        name = entry[48:64].split(b"\0")[0].decode(errors="replace")
        kind = _kind(pid, parent, started, uid, name, seen)
        cpu[kind] += (_comp_t(user) + _comp_t(system)) / ACCT_HZ
        count[kind] += 1
    total = sum(cpu.values())
    print(f"{'CPU s':>8} {'share':>6} {'processes':>9}  kind")
    for kind, seconds in cpu.most_common():
        if seconds >= 0.5:
            print(f"{seconds:8.0f} {seconds / total:6.1%} {count[kind]:9d}  {kind}")
    print(f"{total:8.0f}  in all (processes that ended while the command ran)")


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    record = Path(argv[0]).resolve()
    status = 0
    if "--" in argv:
        status = run(record, argv[argv.index("--") + 1 :])
    report(record)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
