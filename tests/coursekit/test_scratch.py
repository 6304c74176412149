"""coursekit.scratch: a lesson's folder goes when its kernel stops, and each cell starts clean."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coursekit.scratch import lesson_folder

MAKE = textwrap.dedent("""
    import sys
    from coursekit.scratch import lesson_folder
    work = lesson_folder("lessontest")
    (work / "queue.db").write_text("jobs")
    print(work, flush=True)
""")


def python(code: str, tmp_path: Path, **kwargs) -> subprocess.Popen:
    """A Python running ``code``, its output piped: use it in a with-block, which closes the pipe."""
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        **kwargs,
    )


def test_the_folder_is_removed_when_the_process_exits(tmp_path):
    with python(MAKE, tmp_path) as process:
        folder = Path(process.stdout.readline().strip())
        assert process.wait(30) == 0
    assert folder.parent == tmp_path and folder.name.startswith(f"lessontest-{process.pid}-")
    assert not folder.exists()


def test_a_killed_kernels_folder_is_removed_by_the_next_one(tmp_path):
    with python(MAKE + "import time; time.sleep(60)\n", tmp_path) as killed:
        left = Path(killed.stdout.readline().strip())
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
    assert left.exists()  # no handler ran
    with python(MAKE, tmp_path) as process:
        process.stdout.readline()
        process.wait(30)
    assert not left.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_forked_child_leaves_its_parents_folder_alone(tmp_path):
    code = MAKE + textwrap.dedent("""
        import os
        child = os.fork()
        if child == 0:
            sys.exit(0)  # runs the inherited atexit handlers, as a child that returns normally would
        os.waitpid(child, 0)
        print(work.path.exists(), flush=True)
    """)
    with python(code, tmp_path) as process:
        process.stdout.readline()
        assert process.stdout.readline().strip() == "True"
        assert process.wait(30) == 0


def test_one_folder_per_kernel_and_fresh_empties_a_cells_subfolder(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    work = lesson_folder("lessontest")
    assert lesson_folder("lessontest") is work  # a re-run of the cell that asks keeps it
    first = work.fresh("kill-test")
    (first / "log").write_text("start 1\n")
    again = work.fresh("kill-test")
    assert again == first and list(again.iterdir()) == []
    assert os.fspath(work) == str(work.path) and (work / "x").parent == work.path


@pytest.mark.slow
def test_a_jupyter_kernel_removes_its_folder_when_it_shuts_down(tmp_path):
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        reply = client.execute_interactive(
            "from coursekit.scratch import lesson_folder\nwork = lesson_folder('lessontest')\n"
            "(work / 'trap.db').write_text('x')",
            timeout=60,
        )
        assert reply["content"]["status"] == "ok"
        [folder] = list(tmp_path.glob("lessontest-*"))
        assert (folder / "trap.db").exists()
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)
    assert not folder.exists()
