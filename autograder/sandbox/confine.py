"""The sandbox confines itself, before it reads a single line of the learner's code.

``python -I -m autograder.sandbox --jail SPEC`` starts as the grader's user (root on a grading
machine, anyone on a laptop). ``enter(spec)`` then runs, still trusted, and returns in a
process that can no longer touch anything of the grader's:

- ``mode "root"``: new mount, PID, network, IPC and UTS namespaces, then a user id of its own
  (``first_uid`` + the outer pid), no groups, no capabilities.
- ``mode "userns"`` (the grader is not root): the same namespaces inside a new user namespace
  that maps only the grader's own user id; every capability is dropped once the view is built.
- ``mode "uid"`` (root, but the machine refuses namespaces, as in a default Docker container):
  only the user id of its own. Nothing is hidden; the grader says so and asks for consent.

In the namespaced modes the process sees a filesystem built for it (``_build_view``), not the
machine's: a private ``/tmp``, ``/dev`` and ``/dev/shm``, then read-only copies (bind mounts)
of the system directories and of the folders its interpreter imports from, its scratch folder
writable at its usual path, and empty read-only folders over every hidden path that lies
inside what it can see. What is not bound does not exist for it, so the hidden suites, the
solutions, other submissions and the results are out of reach by construction, and the
interpreter and the course work wherever they live: under /tmp or /dev/shm (bound after the
private folders, so inside them), behind a symlink (the real folder is bound and the link
made again, so what is hidden stays hidden through the link), or in a venv symlinked into a
pyenv folder under a home the sandbox's user may not enter (bound at its own path, under
folders anyone may enter).

The PID namespace needs a process to be its init. The process the grader started (the
"outer" one, whose pid the grader knows) forks once the namespaces exist; the child is pid 1
inside, runs the sandbox, and dies with the outer one (``PR_SET_PDEATHSIG``); when pid 1 dies
the kernel kills everything else in its namespace, detached or not. The outer process only
waits and passes on the exit status: it holds no file descriptor, so the grader sees the
sandbox's pipes close when the sandbox ends.

Standard library only; nothing here imports the trusted side.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import platform
import re
import resource
import signal
import socket
import struct
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE = 1024, 2048, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x8914, 0x1, 0x8, 0x40
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
LINUX_CAPABILITY_VERSION_3 = 0x20080522
# Flags a bind mount keeps when made read-only: statvfs reports them with the same values,
# and a user namespace may not drop the ones its parent set ("locked" flags).
KEPT_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom")
NEW_ROOT, OLD_ROOT = "/newroot", "/oldroot"

_libc = ctypes.CDLL(None, use_errno=True)


class Spec(TypedDict):
    """How a sandbox confines itself: ``autograder.jail.Jail.spec`` writes it, and it reaches the
    sandbox as JSON (on its command line, or in the template's fork request)."""

    mode: str  # "root" | "userns" | "uid" | "none" (``autograder.types.ConfinementMode``)
    first_uid: int  # the sandbox's user id is this plus its pid outside
    scratch: str  # its only writable folder
    hidden: list[str]  # paths covered in its view
    readable: list[str]  # the project's folders it must read, besides the system's
    processes: int  # RLIMIT_NPROC
    tmp_bytes: int  # the size of its own /tmp and /dev/shm


class ConfinementError(OSError):
    """The machine refused a step of the jail; the grader reports it and does not grade."""


def _call(name: str, *args: object) -> int:
    result: int = getattr(_libc, name)(*args)
    if result == -1 or (name != "syscall" and result != 0):
        error = ctypes.get_errno()
        raise ConfinementError(error, f"{name}{_shown(args)}: {os.strerror(error)}")
    return result


def _shown(args: tuple[object, ...]) -> str:
    return "(" + ", ".join(a.decode() if isinstance(a, bytes) else str(a) for a in args[:2]) + ")"


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _call(
        "mount", source and source.encode(), target.encode(), fstype and fstype.encode(), flags, data and data.encode()
    )


def _pivot_root(new_root: str, put_old: str) -> None:
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise ConfinementError(0, f"pivot_root: no system call number known for {platform.machine()}")
    _call("syscall", number, new_root.encode(), put_old.encode())


# -- entering the jail ------------------------------------------------------------------
def enter(spec: Spec) -> None:
    """Confine this process as ``spec`` says; return in the confined process."""
    mode = spec["mode"]
    if mode == "none":
        return
    readable = readable_paths(spec.get("readable", ()))  # found on the machine's root, before the view
    outer = os.getpid()
    uid = spec["first_uid"] + outer
    scratch = spec["scratch"]
    if mode == "uid":
        _become(uid, scratch, spec["processes"])
        return
    uid_outside, gid_outside = os.getuid(), os.getgid()
    namespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    if mode == "userns":
        _call("unshare", CLONE_NEWUSER | namespaces)
        _map_ids(uid_outside, gid_outside)
        # Counted per user namespace (Linux 5.14 on): a limit for this sandbox alone, not
        # for every process the grader's user runs.
        resource.setrlimit(resource.RLIMIT_NPROC, (spec["processes"], spec["processes"]))
    else:
        _call("unshare", namespaces)
        if mode == "root":
            os.chown(scratch, uid, uid)
    _build_view(spec, readable)
    _loopback_up()
    child = os.fork()
    if child:
        _wait_and_pass_on(child)
    # pid 1 of the new PID namespace from here on.
    _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _enter_view(scratch)
    if mode == "root":
        _become(uid, scratch, spec["processes"])
    else:
        _drop_capabilities()
    _call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _map_ids(uid: int, gid: int) -> None:
    """Map the grader's own ids, and only them: inside, the sandbox is the same user."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as file:
            file.write(text)


def _become(uid: int, scratch: str, processes: int) -> None:
    """Root only: become a user of our own, with no groups and no capabilities left."""
    os.chown(scratch, uid, uid)
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    # A change of user id makes a process undumpable, which gives its /proc/self to root: as
    # after an exec, let it own its /proc entries again (core dumps stay off: RLIMIT_CORE 0).
    _call("prctl", PR_SET_DUMPABLE, 1, 0, 0, 0)


def _drop_capabilities() -> None:
    """In a user namespace we hold every capability over our own namespaces; the learner's
    code must hold none (it could otherwise unmount what covers the hidden paths)."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    _call("capset", ctypes.byref(Header(LINUX_CAPABILITY_VERSION_3, 0)), (Data * 2)())


def _wait_and_pass_on(child: int) -> None:
    """The outer process: hold nothing, wait for pid 1, exit as it did."""
    os.closerange(0, _max_fd())
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # pid 1 died of a signal: die of the same one, so that the grader learns which
        with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP keep their action
            signal.signal(-code, signal.SIG_DFL)
        with contextlib.suppress(OSError):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [-code])
            os.kill(os.getpid(), -code)
    os._exit(128 - code if code < 0 else code)  # the signal could not end us: the shell's way to say it


def _max_fd() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if 0 < soft < 1 << 20 else 1 << 16


# -- the view ---------------------------------------------------------------------------
def _build_view(spec: Spec, readable: tuple[list[str], dict[str, str]]) -> None:
    """Build the sandbox's filesystem under NEW_ROOT, with the machine's at OLD_ROOT.

    The same steps as bubblewrap: a tmpfs stands in for a directory we do not need (/tmp),
    becomes the root, and the old root hangs below it, so every source is reachable by path
    while the new root is put together. ``_enter_view`` makes the new root the root and
    detaches the old one.

    The order matters. The private folders come first: what the sandbox may read can live
    inside them (a clone or a venv under /tmp, an interpreter under /dev/shm), and a mount made
    after it would cover it. The hidden paths come last, over whatever brought them."""
    folders, links = readable
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
    os.mkdir("/tmp" + OLD_ROOT)
    _pivot_root("/tmp", "/tmp" + OLD_ROOT)
    os.chdir("/")
    os.mkdir(NEW_ROOT)
    _mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    _tmpfs("/tmp", f"mode=1777,size={spec['tmp_bytes']}")
    _devices(spec["tmp_bytes"])
    for path in folders:
        _bind(path, writable=False)
    for link, target in sorted(links.items()):
        _link(link, target)
    _bind(spec["scratch"], writable=True)
    for path in spec.get("hidden", ()):
        _cover(path)
    os.mkdir(NEW_ROOT + "/proc")


# The view's own folders: nothing of the machine's may be bound over them or over a folder
# holding them (a venv at /tmp itself would bring every other user's files back).
PRIVATE_MOUNTS = ("/tmp", "/dev", "/dev/shm", "/proc", "/sys")


def readable_paths(extra: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """What the sandbox may read, as (folders to bind, symlinks to make again): the system,
    the project's folders (``extra``), and where this interpreter imports from and loaded its
    library from.

    A path reached through a symlink (a checkout linked from elsewhere, /bin -> usr/bin) is
    bound at its real place and the link is made again in the view: a hidden path under the
    real place is then hidden through the link too. Folders inside another are dropped (the
    outer one brings them), and so are folders that would cover the view's own
    (``PRIVATE_MOUNTS``)."""
    wanted = set(SYSTEM) | set(extra) | set(_library_folders())
    package = sys.modules.get(__package__.partition(".")[0])  # as imported: perhaps through a link
    for each in (
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(sys.executable),
        os.path.dirname(os.path.realpath(sys.executable)),
        *sys.path,
        *getattr(package, "__path__", ()),
    ):
        if each and os.path.isabs(each):
            wanted.add(each)
    real, links = set(), {}
    for path in wanted:
        if os.path.lexists(path):
            links.update(_links_along(path))
            real.add(os.path.realpath(path))
    found = sorted(path for path in real if os.path.exists(path) and not _holds_private(path))
    return [path for path in found if not any(_inside(path, other) for other in found if other != path)], links


def _links_along(path: str) -> dict[str, str]:
    """The symlinks met on the way to ``path``, each with what it says (``os.readlink``)."""
    links, reached = {}, "/"
    for part in path.strip("/").split("/"):
        reached = os.path.join(reached, part)
        if os.path.islink(reached):
            links[reached] = os.readlink(reached)
            reached = os.path.realpath(reached)
    return links


def _library_folders() -> list[str]:
    """Where the running interpreter's own library (libpython) was loaded from: a python that
    the sandbox starts needs it, and it may lie outside every prefix (a relocated pyenv)."""
    try:
        with open("/proc/self/maps") as maps:
            return sorted(
                {
                    os.path.dirname(line.split(None, 5)[5].strip())
                    for line in maps
                    if "/libpython" in line and len(line.split(None, 5)) == 6
                }
            )
    except OSError:
        return []


def _holds_private(path: str) -> bool:
    return any(path == private or _inside(private, path) for private in PRIVATE_MOUNTS)


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def _link(link: str, target: str) -> None:
    """Make a symlink of the machine again in the view, unless a bound folder brings it."""
    if os.path.lexists(NEW_ROOT + link):
        return
    os.makedirs(os.path.dirname(NEW_ROOT + link), mode=0o755, exist_ok=True)
    os.symlink(target, NEW_ROOT + link)


def _bind(path: str, writable: bool) -> None:
    source, target = OLD_ROOT + path, NEW_ROOT + path
    _make_mount_point(target, directory=os.path.isdir(source))
    _mount(source, target, None, MS_BIND | MS_REC)
    if not writable:
        for mount_point in _mounts_under(target):
            _readonly(mount_point)


def _readonly(mount_point: str) -> None:
    kept = os.statvfs(mount_point).f_flag & KEPT_FLAGS
    _mount(None, mount_point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | kept)


def _mounts_under(target: str) -> list[str]:
    """The mount points at or below ``target`` (a recursive bind brings the submounts)."""
    with open(OLD_ROOT + "/proc/self/mountinfo") as info:  # the machine's /proc, until _enter_view
        points = [_unescape(line.split()[4]) for line in info]
    return [point for point in points if point == target or _inside(point, target)]


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``).
    (No codec here: after the first pivot nothing new can be imported.)"""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def _make_mount_point(target: str, directory: bool) -> None:
    if directory:
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()


def _tmpfs(path: str, options: str) -> None:
    os.makedirs(NEW_ROOT + path, mode=0o755, exist_ok=True)
    _mount("tmpfs", NEW_ROOT + path, "tmpfs", MS_NOSUID | MS_NODEV, options)


def _devices(shm_bytes: int) -> None:
    """A /dev of its own: the harmless devices, and a /dev/shm (multiprocessing's semaphores
    live there) that no other sandbox shares."""
    _tmpfs("/dev", "mode=0755,size=64k")
    for name in DEVICES:
        if os.path.exists(f"{OLD_ROOT}/dev/{name}"):
            _make_mount_point(f"{NEW_ROOT}/dev/{name}", directory=False)
            _mount(f"{OLD_ROOT}/dev/{name}", f"{NEW_ROOT}/dev/{name}", None, MS_BIND)
    _tmpfs("/dev/shm", f"mode=1777,size={shm_bytes}")
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"{NEW_ROOT}/dev/{name}")


def _cover(path: str) -> None:
    """Hide a path that lies inside what the sandbox can read: an empty read-only folder over
    a folder, the empty device over a file."""
    target = NEW_ROOT + path
    if os.path.isdir(target) and not os.path.islink(target):
        _mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")
    elif os.path.exists(target):
        _mount(NEW_ROOT + "/dev/null", target, None, MS_BIND)
        _readonly(target)


def _enter_view(scratch: str) -> None:
    """pid 1: a /proc for the new PID namespace, then the new root becomes the root."""
    try:
        _mount("proc", NEW_ROOT + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except ConfinementError:
        pass  # a container may forbid a new procfs inside a user namespace: go without /proc
    _call("umount2", OLD_ROOT.encode(), MNT_DETACH)
    os.chdir(NEW_ROOT)
    _pivot_root(".", ".")  # the new root over the old; the old one is then detached below it
    _call("umount2", b".", MNT_DETACH)
    os.chdir("/")
    _mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(scratch)


def _loopback_up() -> None:
    """A new network namespace starts with `lo` down; lessons serve on 127.0.0.1 inside."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING))


def report(hidden: list[str], readable: Sequence[str] = ()) -> dict[str, Any]:
    """What a confined process can tell about itself (the grader's probe checks it): which of
    the ``hidden`` paths it can still see (a covered folder is empty), and which of the
    folders it must read (its interpreter's and the project's, ``readable``) it may not enter
    (``denied``) or cannot find at all (``unseen``)."""
    visible = [path for path in hidden if os.path.isfile(path) or (os.path.isdir(path) and os.listdir(path))]
    wanted = [path for path in dict.fromkeys([*sys.path, *readable]) if os.path.isabs(path)]
    return {
        "pid": os.getpid(),
        "uid": os.getuid(),
        "visible": visible,
        "denied": _failing(wanted, PermissionError),
        "unseen": _failing(readable, FileNotFoundError),
        "interfaces": [name for _, name in socket.if_nameindex()],
    }


def _failing(paths: Iterable[str], error: type[OSError]) -> list[str]:
    """The ``paths`` whose ``os.stat`` fails with ``error``: folders a user id of its own may
    not enter (a pyenv under /root, for one), or that the view does not have."""
    failing = []
    for path in paths:
        try:
            os.stat(path)
        except error:
            failing.append(path)
        except OSError:
            pass
    return failing


def offline() -> None:
    """For preexec_fn (as root): put the new process in a network namespace with only
    loopback, so nothing it does can reach beyond the machine (proves notebooks run offline)."""
    _call("unshare", CLONE_NEWNET)
    _loopback_up()
