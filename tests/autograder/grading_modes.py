"""The ways an instructor runs the grader, played on this machine for the adversarial suite.

CI runs as root, so the modes of a grader that is not root are played by dropping to the
user ``nobody`` (``setpriv``). ``nobody`` must be able to reach the interpreter and the
project, which may live under a folder only root may enter (a pyenv in /root, a checkout in
/root/...): the command then runs in a mount namespace of its own in which each such folder
is replaced by an open one holding only the needed entries, bound from the original. That
namespace is the command's alone; nothing on the machine changes.
"""

from __future__ import annotations

import copy
import hashlib
import os
import pwd
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder import jail
from autograder.lessons import ROOT

NOBODY = pwd.getpwnam("nobody")


@dataclass(frozen=True)
class Mode:
    name: str
    confinement: str  # the jail mode the grader must report (autograder.jail.DESCRIPTION)
    user: str = "self"  # "self", or "nobody" (needs root)
    interpreter: str = "project"  # "project" (.venv), or "symlinked" (a plain `python3 -m venv`)
    allowed: str | None = None  # AUTOGRADER_CONFINEMENT: how a machine without the better modes is played
    # Reach the interpreter and the project through open folders (see ``opened_paths_script``):
    # always for nobody; for root's own user id too, as on a machine whose Python anyone may read.
    opened: bool = False

    @property
    def protective(self) -> bool:
        return self.confinement in jail.PROTECTIVE


MODES = [
    Mode("root", "root"),
    Mode("root-symlinked-venv", "root", interpreter="symlinked"),
    Mode("root-without-namespaces", "uid", allowed="uid", opened=True),
    Mode("not-root-userns", "userns", user="nobody"),
    Mode("not-root-without-userns", "none", user="nobody", allowed="none"),
]


def unavailable(mode: Mode) -> str | None:
    """Why ``mode`` cannot be played here, or None."""
    root = os.geteuid() == 0
    if mode.user == "nobody" and not root:
        return "playing another user needs root"
    if mode.confinement in ("root", "uid") and not root:
        return "the grader is not root here"
    if mode.confinement == "root" and jail.confinement().mode != "root":
        return f"this machine gives no namespaces to root: {jail.confinement().describe()}"
    if mode.confinement == "userns" and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is missing"
    return None


def symlinked_venv(folder: Path) -> Path:
    """A venv made the ordinary way (the interpreter symlinked to the base one), seeing the
    project's installed packages through a .pth file rather than a second install."""
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", "--symlinks", "--without-pip", str(folder)], check=True)
    site_packages = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    target = next(folder.glob("lib/python3*/site-packages"))
    (target / "course.pth").write_text(f"import site; site.addsitedir({str(site_packages)!r})\n")
    python = folder / "bin" / "python"
    assert python.is_symlink()
    return python


def command(
    mode: Mode,
    argv: list[str],
    python: str,
    workdir: Path,
    stash: Path,
    *,
    prelude: str = "",
    needed: list[Path] | None = None,
) -> tuple[list[str], dict]:
    """The command line and environment that run ``python argv`` as ``mode`` says. ``stash``:
    an empty folder outside every folder ``nobody`` may not enter (root's mount points).
    ``prelude``: shell steps run as root in the command's own mount namespace (mounts
    that place the course somewhere else); ``needed``: what ``nobody`` must reach (by default
    the project, its interpreter and ``workdir``)."""
    env = {key: value for key, value in os.environ.items() if key != "AUTOGRADER_CONFINEMENT"}
    if mode.allowed:
        env["AUTOGRADER_CONFINEMENT"] = mode.allowed
    run = [python, *argv]
    tmp = temporary_folder(workdir)
    tmp.mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmp)
    if mode.user == "nobody":
        give_to(tmp, mode)
        env.update(HOME=str(workdir))
        run = [
            "setpriv",
            f"--reuid={NOBODY.pw_uid}",
            f"--regid={NOBODY.pw_gid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--",
            *run,
        ]
    if mode.user != "nobody" and not mode.opened and not prelude:
        return run, env
    if needed is None:
        needed = [ROOT, Path(sys.prefix), Path(sys.base_prefix), Path(python).resolve().parent, workdir]
    # The prelude first: its sources may lie in folders the opened ones replace (whose binds carry its mounts).
    script = prelude + (opened_paths_script(needed, stash) if mode.user == "nobody" or mode.opened else "")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script + " exec " + shlex.join(run)], env


def temporary_folder(workdir: Path) -> Path:
    """The TMPDIR of the commands run for ``workdir``: its sandboxes' scratch folders, and the
    sandbox template's socket (named on the template's command line, as every sandbox forked
    from it is), lie in it, so the processes it started can be told from another grader's. A
    short path in /tmp, named after ``workdir``: sockets live there, and a socket's path may not
    be longer than 107 bytes."""
    return Path("/tmp") / f"grading-{hashlib.sha256(str(workdir).encode()).hexdigest()[:12]}"


def opened_paths_script(needed: list[Path], stash: Path) -> str:
    """Shell steps (in a private mount namespace) that let any user reach ``needed``."""
    children: dict[Path, set[str]] = {}
    for path in needed:
        path = path.resolve()
        for parent in [*reversed(path.parents), path][:-1]:
            child = path.relative_to(parent).parts[0]
            if not os.stat(parent).st_mode & 0o001:
                children.setdefault(parent, set()).add(child)
    steps = []
    for number, (closed, names) in enumerate(sorted(children.items())):
        saved = stash / str(number)
        steps += [
            f"mkdir -p {saved}",
            f"mount --rbind {shlex.quote(str(closed))} {saved}",
            f"mount -t tmpfs -o mode=0755 tmpfs {shlex.quote(str(closed))}",
        ]
        for name in sorted(names):
            inside = shlex.quote(str(closed / name))
            steps += [f"mkdir -p {inside}", f"mount --rbind {shlex.quote(str(saved / name))} {inside}"]
    return "".join(step + "; " for step in steps)


def give_to(path: Path, mode: Mode) -> None:
    """Let ``mode``'s user read (and, for folders it writes, write) ``path``."""
    if mode.user == "nobody":
        for each in [path, *path.rglob("*")]:
            os.chown(each, NOBODY.pw_uid, NOBODY.pw_gid, follow_symlinks=False)


def with_exercise(notebook, exercise: str, source: str):
    """A copy of ``notebook`` whose cell for ``exercise`` holds ``source`` (an attack)."""
    changed = copy.deepcopy(notebook)
    for cell in changed.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == exercise:
            cell.source = source
    return changed


def class_folders(mode: Mode, tmp_path_factory, prefix: str) -> tuple[Path, Path, Path]:
    """A work folder for one class graded in ``mode`` (skipped where the mode cannot be
    played here), its folder of notebooks (made) and where its grades go."""
    why = unavailable(mode)
    if why:
        pytest.skip(why)
    workdir = tmp_path_factory.mktemp(f"{prefix}-{mode.name}")
    folder, out = workdir / "class", workdir / "grades"
    folder.mkdir()
    return workdir, folder, out
