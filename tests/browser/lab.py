"""The course's JupyterLab as a learner opens it, in a headless Chromium, for the browser test.

The Lab is started the way the README says (``python3 course.py lab``), in a copy of the
course's tracked files, so that running, saving and autosaving notebooks never touch the
checkout; the copy shares the checkout's ``.venv`` (the same lock, so ``course.py`` finds it
ready). The browser is the system's Chromium (Debian's ``chromium``), driven by Playwright's
Python client with its own driver: Playwright's browser downloads are not used.

Offline (as root): the Lab, and so every kernel it starts, runs in a network namespace of its
own with only loopback (``confine.offline``, as the headless notebook runs do), and Chromium
joins that namespace (``nsenter``), so a notebook run there proves the lesson needs no network.
The test reaches the Lab from a thread that joins the namespace too (``in_network_of``).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from autograder import jail
from autograder.lessons import ROOT
from autograder.publish import course_files
from autograder.sandbox import confine
from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS, playwright

TOKEN = "browser-test"
START_SECONDS = 120
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def copy_course(target: Path) -> Path:
    """The course's tracked files (the notebooks as committed) in ``target``, sharing .venv.

    The copy's ``course.py`` would set the shared .venv up again if it found it out of date
    (a lock or pyproject.toml changed since), and point its install of the course at the copy,
    which goes when the test ends: so an out-of-date .venv stops the test here instead."""
    entry = importlib.util.spec_from_file_location("course_entry", ROOT / "course.py")
    course = importlib.util.module_from_spec(entry)
    entry.loader.exec_module(course)
    if not course.STAMP.exists() or course.STAMP.read_text() != course._wanted_stamp():
        raise RuntimeError(
            "the course's .venv is older than requirements.lock or pyproject.toml: "
            "run `python3 course.py test` (or `lab`) once to bring it up to date"
        )
    for path in course_files():
        if (ROOT / path).is_file():
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / path, target / path)
    (target / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    return target


PORT_TRIES = 5


class PortTaken(RuntimeError):
    """The port chosen for a Lab was taken by someone else before the Lab could bind it."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def can_run_offline() -> bool:
    """Whether this machine can prove a run offline: a network namespace needs root here."""
    return jail.confinement().mode == "root"


@dataclass(frozen=True)
class Lab:
    base: str  # its URL
    pid: int  # the server's process
    offline: bool  # in a network namespace of its own, with only loopback

    def call(self, work: Callable[[], T]) -> T:
        """``work()``, able to reach the Lab: in its network namespace when it has one."""
        return in_network_of(self.pid, work) if self.offline else work()


@contextmanager
def lab_server(course: Path, log: Path, *extra: str, offline: bool = False, beside: Lab | None = None) -> Iterator[Lab]:
    """``python3 course.py lab`` in ``course``, without opening a browser. ``offline``: in a
    network namespace of its own, where the machine allows it; ``beside``: in that Lab's
    network, offline or not (a browser beside it reaches both)."""
    if beside is not None and beside.offline:
        offline, network = True, partial(_join_network, beside.pid)
    else:
        offline = offline and can_run_offline()
        network = confine.offline if offline else None
    with tempfile.TemporaryDirectory(prefix="lab-workspaces-") as workspaces:
        # A free port is free when asked, not when the server binds it: another test's server may
        # take it in between (the faster the run, the likelier). Such a start is made again.
        for _ in range(PORT_TRIES):
            port = free_port()
            command = [
                sys.executable,
                "course.py",
                "lab",
                *extra,
                "--no-browser",
                f"--ServerApp.port={port}",
                f"--IdentityProvider.token={TOKEN}",
                "--ServerApp.port_retries=0",
                # Workspaces of its own: Lab writes a workspace file in place while another Lab's
                # listing reads every file in the folder, so two Labs on the user's folder (the
                # test's run side by side) answered a listing with a 500 for a half-written file.
                f"--LabApp.workspaces_dir={workspaces}",
            ]
            with log.open("wb") as output:
                # A session of its own: whatever the server starts outside its kernels goes with it.
                server = subprocess.Popen(
                    command,
                    cwd=course,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=network,
                )
            lab = Lab(f"http://127.0.0.1:{port}", server.pid, offline)
            try:
                lab.call(partial(wait_until_up, f"{lab.base}/api/status?token={TOKEN}", server, log))
            except PortTaken:
                stop(server)
                continue
            except BaseException:
                stop(server)
                raise
            break
        else:
            raise RuntimeError(f"JupyterLab found no free port in {PORT_TRIES} tries:\n{log.read_text()[-3000:]}")
        try:
            yield lab
        finally:
            stop(server)


@contextmanager
def running_lab(course: Path, log: Path, *extra: str) -> Iterator[str]:
    """``python3 course.py lab`` in ``course``, without opening a browser; yields its base URL."""
    with lab_server(course, log, *extra) as lab:
        yield lab.base


def _join_network(pid: int) -> None:
    """Join the network namespace of process ``pid`` (this thread's, or a child's before exec)."""
    descriptor = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(descriptor, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into the network of process {pid}")
    finally:
        os.close(descriptor)


def in_network_of(pid: int, work: Callable[[], T]) -> T:
    """``work()`` in a thread that has joined the network namespace of process ``pid`` (a
    thread's own: the rest of this process stays where it was)."""
    outcome: dict = {}

    def joined() -> None:
        try:
            _join_network(pid)
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=joined, name=f"in-network-of-{pid}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def stop(server: subprocess.Popen) -> None:
    """Stop the server (it stops its kernels on SIGTERM), and kill what is left of its group."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_until_up(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            said = log.read_text()[-3000:]
            if "is not available" in said:  # "the Jupyter server could not be started because port N ..."
                raise PortTaken(said)
            raise RuntimeError(f"JupyterLab exited with {server.returncode}:\n{said}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not answer within {START_SECONDS} s:\n{log.read_text()[-3000:]}")


@contextmanager
def chromium(profile: Path, lab: Lab | None = None) -> Iterator[object]:
    """A headless Chromium with a new, empty profile; yields a Playwright browser context.
    Beside an offline ``lab``, it runs in the Lab's network namespace (all it can reach)."""
    executable = CHROMIUM
    if lab is not None and lab.offline:
        executable = profile.parent / "chromium-in-the-labs-network"
        executable.write_text(f'#!/bin/sh\nexec nsenter --net=/proc/{lab.pid}/ns/net -- {CHROMIUM} "$@"\n')
        executable.chmod(0o755)
    with playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(executable),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
