"""The service as it runs: real processes, killed for real.

- ``autograder serve`` plus ``autograder submit`` grade lesson 01's solution with full marks,
  and nothing a learner reads (status, stream) holds a hidden test's source;
- nothing lost, nothing twice: uploads racing a web app killed with SIGKILL, a worker killed
  with SIGKILL while it grades, a submission stored whose message was never sent: every
  accepted submission is graded exactly once;
- two workers with scratch roots of their own on one broker and one database, as two
  machines would run them, share the class.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from autograder.lessons import find_lesson
from autograder.service import processes, queue
from autograder.service.processes import answers, start_web, stop
from autograder.service.settings import Settings
from coursekit.processes import free_port, wait_until
from coursekit.submit import Service, submit, upload
from tests.conftest import run_async

from .service_processes import query, with_port

pytestmark = pytest.mark.slow
SOLUTION = find_lesson("01").solution
UNTOUCHED = find_lesson("02").release  # graded quickly, to nothing


def autograder(*args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, **options)


def strings(document) -> list[str]:
    """Every string in a JSON document, as a learner's program would read it."""
    if isinstance(document, str):
        return [document]
    if isinstance(document, dict):
        return [text for value in document.values() for text in strings(value)]
    if isinstance(document, list):
        return [text for value in document for text in strings(value)]
    return []


@dataclasses.dataclass
class Serving:
    url: str
    output: str = ""  # what `serve` printed, once it has stopped


@contextlib.contextmanager
def serve(data: str) -> Iterator[Serving]:
    """`autograder serve` with its data in ``data``, on a free port of loopback, answering; stopped
    with SIGINT (as Ctrl+C) after the block, what it printed kept on ``output``."""
    port = free_port()
    serving = subprocess.Popen(
        [sys.executable, "-m", "autograder", "serve", "--data", data, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Serving(f"http://127.0.0.1:{port}")
    try:
        assert wait_until(lambda: answers(served.url) or serving.poll() is not None, 60, 0.2) and serving.poll() is None
        yield served
    finally:
        serving.send_signal(signal.SIGINT)
        served.output, _ = serving.communicate(timeout=30)


def test_serve_and_submit_grade_the_lesson_01_solution_with_full_marks(tmp_path):
    data = str(tmp_path / "data")
    token = autograder("tokens", "add", "alice", "--data", data, check=True).stdout.strip()
    roster = tmp_path / "roster.csv"
    roster.write_text("name,instructor\nprof,yes\nbob,\n")
    imported = autograder("tokens", "import", str(roster), "--data", data, check=True).stdout.splitlines()
    assert imported[0] == "name,token" and [line.split(",")[0] for line in imported[1:]] == ["prof", "bob"]
    prof = {"Authorization": f"Bearer {imported[1].split(',')[1]}"}
    with serve(data) as served:
        url = served.url
        submitted = autograder("submit", str(SOLUTION), "--server", url, "--token", token, timeout=300)
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        assert "graded: 50 / 50" in submitted.stdout
        assert "Score: 50 / 50" in submitted.stdout  # the feedback `autograder grade` writes
        # Nothing the learner can read holds a hidden test's source.
        [submission_id] = [
            line.split("(id ")[1].rstrip(")") for line in submitted.stdout.splitlines() if "(id " in line
        ]
        headers = {"Authorization": f"Bearer {token}"}
        status = httpx.get(f"{url}/api/submissions/{submission_id}", headers=headers).json()
        stream = httpx.get(f"{url}/api/submissions/{submission_id}/events", headers=headers).text
        events = [json.loads(line.removeprefix("data: ")) for line in stream.splitlines() if line.startswith("data: ")]
        assert [event["status"] for event in events][-1] == "done" and events[-1]["score"] == 50
        readable = "\n".join(strings(status) + [text for event in events for text in strings(event)])
        assert "Score: 50 / 50" in readable
        suite_lines = {
            line.strip()
            for test_file in find_lesson("01").suite.glob("*.py")
            for line in test_file.read_text().splitlines()
            if len(line.strip()) > 25
        }
        assert suite_lines and not [line for line in suite_lines if line in readable]
        # The instructor sees the class and exports it as `autograder grade` would write it.
        base = f"{url}/api/instructor"
        view = httpx.get(f"{base}/class", headers=prof).json()
        assert [(row["learner"], row["score"]) for row in view["rows"]] == [("alice", 50)]
        assert view["pass_rates"] and all(rate["rate"] == 1 for rate in view["pass_rates"])
        grades = httpx.get(f"{base}/grades.csv", headers=prof).text.splitlines()
        assert grades[0].startswith("submission,lesson,score,max_score,json_app")
        assert grades[1].startswith("alice,01_asgi_by_hand,50,50")
        with zipfile.ZipFile(io.BytesIO(httpx.get(f"{base}/gradescope.zip", headers=prof).content)) as archive:
            document = json.loads(archive.read("alice-01_asgi_by_hand/results.json"))
        assert document["score"] == 50 and all(test["status"] == "passed" for test in document["tests"])
        regraded = httpx.post(f"{base}/regrade/01_asgi_by_hand", headers=prof).json()
        assert regraded == {"lesson": "01_asgi_by_hand", "queued": 1}
        graded_again = lambda: httpx.get(f"{base}/class", headers=prof).json()["counts"]["done"] == 1  # noqa: E731
        assert wait_until(graded_again, 120, 0.5)
    assert "serving on http://127.0.0.1:" in served.output
    assert "broker redis://:***@127.0.0.1:" in served.output  # its password is not printed


CAPSTONE = find_lesson("10")
# Seconds one capstone submission may take to grade in a service worker (its result's `seconds`,
# the canary apart): the heaviest lesson, seven steps and the learner's tests run against ten
# services. The README's "The grading service" states it; this test measures it.
CAPSTONE_BUDGET = 60.0


def hand_in(notebook, folder, server: str, token: str) -> tuple[str, str]:
    """Run the learner notebook's last cell, "Hand it in", as the learner does, beside ``notebook``
    saved under the name the cell submits: its output, and the submission's id."""
    cells = json.loads(CAPSTONE.release.read_text())["cells"]
    source = "".join(cells[-1]["source"])
    assert "submit_notebook(" in source, source
    folder.mkdir()
    (folder / f"{CAPSTONE.slug}.ipynb").write_bytes(notebook.read_bytes())
    env = {**os.environ, "AUTOGRADER_SERVER": server, "AUTOGRADER_TOKEN": token, "HOME": str(folder)}
    ran = subprocess.run(
        [sys.executable, "-c", source], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [submission_id] = [line.split("(id ")[1].rstrip(")") for line in ran.stdout.splitlines() if "(id " in line]
    return ran.stdout, submission_id


def test_serve_and_the_hand_in_cell_grade_the_capstone_reference_fully_and_its_untouched_notebook_0(tmp_path):
    """Lesson 10 as a learner hands it in: the notebook's "Hand it in" cell, run against `autograder
    serve`, gives the reference full marks and the untouched learner notebook 0, each graded within
    the capstone's budget per submission."""
    data = str(tmp_path / "data")
    token = autograder("tokens", "add", "alice", "--data", data, check=True).stdout.strip()
    with serve(data) as served:
        url = served.url
        graded = {}
        for name, notebook in (("reference", CAPSTONE.solution), ("untouched", CAPSTONE.release)):
            output, submission_id = hand_in(notebook, tmp_path / name, url, token)
            status = httpx.get(f"{url}/api/submissions/{submission_id}", headers={"Authorization": f"Bearer {token}"})
            graded[name] = (output, status.json())
        output, reference = graded["reference"]
        assert reference["status"] == "done" and reference["score"] == reference["max_score"] > 0, output
        assert f"graded: {reference['max_score']:g} / {reference['max_score']:g}" in output
        assert f"Score: {reference['max_score']:g} / {reference['max_score']:g}" in output  # the feedback, shown
        output, untouched = graded["untouched"]
        assert untouched["status"] == "done" and untouched["score"] == 0, output
        assert f"graded: 0 / {reference['max_score']:g}" in output
        seconds = {name: document["result"]["seconds"] for name, (_, document) in graded.items()}
        print(f"capstone grading through the service: {seconds}")  # seen with -s: the README's numbers
        assert all(each <= CAPSTONE_BUDGET for each in seconds.values()), seconds


def test_a_worker_machine_takes_the_broker_and_database_urls_from_its_environment(settings, tmp_path):
    """As another machine runs it: `autograder worker` with the URLs (the broker's with its
    password) in AUTOGRADER_BROKER and AUTOGRADER_DATABASE, so that no command line shows them."""
    from urllib.parse import urlsplit

    env = {**os.environ, "AUTOGRADER_BROKER": settings.broker_url, "AUTOGRADER_DATABASE": settings.database}
    worker = subprocess.Popen(
        [sys.executable, "-m", "autograder", "worker", "--data", settings.data, "--scratch", str(tmp_path / "scratch")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    broker = queue.broker_for(settings)
    try:
        assert wait_until(lambda: queue.workers_alive(broker) == 1 or worker.poll() is not None, 120, 0.2)
        assert worker.poll() is None  # it authenticated, and fetches
    finally:
        worker.send_signal(signal.SIGINT)
        output, _ = worker.communicate(timeout=60)
        broker.close()
    assert "1 worker(s) on broker redis://:***@127.0.0.1:" in output, output
    assert urlsplit(settings.broker_url).password not in output


def redis_says(port: int, command: bytes) -> bytes:
    """What Redis answers a client that sends ``command`` straight away, as a submission's
    code sharing loopback with it could (no client library, no AUTH)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(command + b"\r\n")
        return connection.recv(200)


def test_the_broker_serve_starts_refuses_clients_without_its_password_and_no_other_user_reads_it(tmp_path):
    from urllib.parse import urlsplit

    import redis

    with processes.broker(Settings(data=str(tmp_path / "data"), scratch=str(tmp_path / "scratch"))) as served:
        parts = urlsplit(served.broker_url)
        assert parts.password and len(parts.password) >= 40  # new and random for each `serve`
        for command in (b"PING", b"LPUSH dramatiq:grading x", b"DEL dramatiq:grading"):
            assert redis_says(parts.port, command).startswith(b"-NOAUTH")
        for url in (f"redis://127.0.0.1:{parts.port}/0", f"redis://:wrong@127.0.0.1:{parts.port}/0"):
            with pytest.raises(redis.AuthenticationError):
                redis.Redis.from_url(url).lpush("dramatiq:grading", "x")
        assert redis.Redis.from_url(served.broker_url).ping()
        served.make_folder()
        worker = processes.start("worker", served)
        broker = queue.broker_for(served)
        try:
            # Checked once it runs: /proc/<pid>/environ reads empty until exec has set up the new
            # program's memory, which can be after Popen returns (exec closes the pipe Popen waits
            # on before it builds the new stack), so a loaded machine could read it empty.
            assert wait_until(lambda: queue.workers_alive(broker) == 1 or worker.poll() is not None, 120, 0.2)
            assert worker.poll() is None, "the worker ended at start-up"
            # No process's command line (readable by every user) holds the password ...
            for folder in os.listdir("/proc"):
                if folder.isdigit():
                    try:
                        assert parts.password.encode() not in Path(f"/proc/{folder}/cmdline").read_bytes()
                    except (FileNotFoundError, ProcessLookupError):
                        pass  # it ended meanwhile
            # ... the worker's environment holds it, and only its own user id may read that.
            environ = f"/proc/{worker.pid}/environ"
            assert parts.password.encode() in Path(environ).read_bytes()
            if os.geteuid() == 0:
                other = subprocess.run(
                    [sys.executable, "-c", f"open({environ!r}).read()"],
                    user=65534,
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                assert other.returncode != 0 and "PermissionError" in other.stderr
        finally:
            stop(worker)
            broker.close()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_submission_is_graded_through_a_real_postgresql(settings, people):
    settings = with_port(settings)
    broker = queue.broker_for(settings)
    assert queue.workers_alive(broker) == 0
    workers = [processes.start("worker", settings)]
    web = start_web(settings)
    seen: list[str] = []
    try:
        assert wait_until(lambda: queue.workers_alive(broker) == 1, 120, 0.2)  # it fetches: it started
        state = submit(
            SOLUTION, Service(f"http://127.0.0.1:{settings.port}", people.alice), on_progress=seen.append, timeout=300
        )
    finally:
        stop(web, *workers)
        broker.close()
    assert (state["status"], state["score"], state["max_score"]) == ("done", 50, 50), state.get("feedback")
    assert any("graded" in line for line in seen)
    assert query(settings, "SELECT status, score, gradings, attempts FROM submissions") == [("done", 50, 1, 1)]


@pytest.fixture
def fast(settings, tmp_path):
    """Short heartbeats and leases, so a dead worker's job moves on within seconds."""
    return with_port(
        dataclasses.replace(settings, heartbeat_ms=3000, lease_seconds=6, sweep_seconds=5, submissions_per_minute=1000)
    )


def test_every_accepted_submission_is_graded_exactly_once_whatever_is_killed(fast, people, tmp_path):
    machines = [dataclasses.replace(fast, scratch=str(tmp_path / f"machine-{n}")) for n in (1, 2)]
    workers = [processes.start("worker", each) for each in machines]
    web = start_web(fast)
    service = Service(f"http://127.0.0.1:{fast.port}", people.alice)
    accepted: list[str] = []
    failures: list[BaseException] = []

    def learner() -> None:  # uploads with retries that keep their idempotency key
        try:
            accepted.append(upload(service, UNTOUCHED, attempts=12)["id"])
        except BaseException as exc:
            failures.append(exc)

    try:
        # 1. The web app is killed while uploads are in flight; their clients retry.
        first = [threading.Thread(target=learner) for _ in range(4)]
        for thread in first:
            thread.start()
        assert wait_until(lambda: len(accepted) >= 2, 60)
        web.send_signal(signal.SIGKILL)
        web.wait()
        killed_web_after = len(accepted)
        # 2. A submission stored whose message never went out (the web app died between its
        #    commit and its send): the next web app's start-up sweep sends it.
        _store_without_sending(fast, people)
        web = start_web(fast)
        for thread in first:
            thread.join(120)
        # 3. A worker is killed while it grades; its job goes to the other.
        running = lambda: query(fast, "SELECT id, claimed_by FROM submissions WHERE status = 'running'")  # noqa: E731
        assert wait_until(running, 120)
        victim_id, claimed_by = running()[0]
        victim = next(worker for worker in workers if f":{worker.pid}:" in claimed_by)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        survivors = [worker for worker in workers if worker is not victim]
        # 4. One more upload after both kills.
        second = [threading.Thread(target=learner)]
        for thread in second:
            thread.start()
        for thread in second:
            thread.join(120)
        assert not failures, failures
        done = lambda: query(fast, "SELECT count(*) FROM submissions WHERE status != 'done'")[0][0] == 0  # noqa: E731
        assert wait_until(done, 400, 0.5), query(fast, "SELECT id, status, attempts FROM submissions")
    finally:
        stop(web, *workers)
    rows = query(fast, "SELECT id, status, gradings, attempts, claimed_by FROM submissions")
    print(
        f"web killed after {killed_web_after} accepted; worker {victim.pid} killed grading {victim_id}; "
        f"{len(rows)} submissions, attempts {[row[3] for row in rows]}"
    )
    assert len(rows) == 4 + 1 + 1  # one per upload (retries included) and the unsent one
    assert set(accepted) <= {row[0] for row in rows}
    assert all(row[1] == "done" and row[2] == 1 for row in rows)  # each graded exactly once
    assert dict((row[0], row[3]) for row in rows)[victim_id] == 2  # claimed again after its worker died
    graded_by = {row[4].split(":")[1] for row in rows}
    assert {str(worker.pid) for worker in survivors} <= graded_by  # both machines graded


def _store_without_sending(settings, people) -> None:

    from autograder.service.store import Store
    from autograder.service.tokens import token_hash

    async def store() -> None:
        database = Store.connect(settings.database)
        alice = await database.learner_by_token(token_hash(people.alice))
        await database.accept(alice, "02_asgi_to_fastapi", UNTOUCHED.read_bytes(), None, per_minute=1000)
        await database.close()

    run_async(store())


def test_serve_refuses_where_submissions_cannot_be_confined(tmp_path):
    """The rules of `autograder grade`: played here by allowing no confinement at all."""
    refused = autograder(
        "serve",
        "--data",
        str(tmp_path),
        "--port",
        str(free_port()),
        env={**os.environ, "AUTOGRADER_CONFINEMENT": "none"},
        timeout=60,
    )
    assert refused.returncode == 1
    assert "Refusing to" in refused.stderr  # as root: never root's rights; otherwise: --accept-risk
    assert "serving on" not in refused.stdout


def test_fault_injection_every_202_is_graded_exactly_once_whichever_process_is_killed(fast, people, capsys):
    """`serve` as it runs (its Supervisor: its own broker, the web app, two workers) under a
    steady stream of uploads, each of its processes killed with SIGKILL in turn, each while it
    has work where it can (a worker while it grades). Counted at the end: every upload that got
    a 202 is one submission, graded once."""
    from autograder.service.broker import OwnBroker

    own = OwnBroker.fresh(fast.folder / "broker")
    settings = dataclasses.replace(fast, broker_url=own.url, sweep_seconds=2)
    supervisor = processes.Supervisor(settings, ["broker", "web", "worker", "worker"], own)
    supervisor.start()
    stopping = threading.Event()
    watcher = threading.Thread(target=supervisor.watch, args=(stopping.is_set,))
    watcher.start()
    service = Service(f"http://127.0.0.1:{settings.port}", people.alice)
    accepted: list[str] = []
    failures: list[BaseException] = []

    def learners() -> None:  # one upload every 0.3 s, each retried under its key until it gets an answer
        while not stopping.is_set() and not failures:
            try:
                accepted.append(upload(service, UNTOUCHED, attempts=20)["id"])
            except BaseException as exc:
                failures.append(exc)
            stopping.wait(0.3)

    def grading_by(pid: int) -> bool:
        return bool(
            query(settings, f"SELECT id FROM submissions WHERE status = 'running' AND claimed_by LIKE '%:{pid}:%'")
        )

    killed: list[str] = []
    started = time.monotonic()
    stream = threading.Thread(target=learners)
    try:
        assert wait_until(lambda: answers(service.server), 60, 0.1)
        stream.start()
        for index, role in [*list(enumerate(supervisor.roles))[1:], (0, "broker")]:  # the broker last
            victim = supervisor.children[index]
            if role == "worker":
                wait_until(lambda victim=victim: grading_by(victim.pid), 60, 0.05)  # mid-job if it gets one
            else:
                wait_until(lambda: len(accepted) > len(killed) * 3 + 2, 30, 0.05)
            victim.send_signal(signal.SIGKILL)
            killed.append(
                f"{role} {victim.pid}{' grading' if role == 'worker' and grading_by(victim.pid) else ''}"
                f" at {time.monotonic() - started:.0f} s"
            )
            assert wait_until(
                lambda index=index, victim=victim: supervisor.children[index].pid != victim.pid, 10, 0.05
            ), f"{role} not restarted"
            before = len(accepted)
            assert wait_until(lambda before=before: len(accepted) > before, 60, 0.05), (
                f"no upload accepted after killing {role}"
            )
        stopping.set()
        stream.join(120)
        assert not failures, failures
        finished = lambda: query(settings, "SELECT count(*) FROM submissions WHERE status != 'done'")[0][0] == 0  # noqa: E731
        assert wait_until(finished, 300, 0.5), query(settings, "SELECT id, status, attempts FROM submissions")
        health = httpx.get(f"{service.server}/api/health").json()
        killed.append(f"all graded at {time.monotonic() - started:.0f} s")
    finally:
        stopping.set()
        watcher.join(30)
        supervisor.stop()
    rows = query(settings, "SELECT id, status, gradings, attempts FROM submissions")
    with capsys.disabled():
        print(
            f"\nfault injection: killed {', '.join(killed)}; {len(accepted)} uploads got 202, {len(rows)} "
            f"submissions, {sum(row[1] == 'done' for row in rows)} graded, gradings per submission "
            f"{sorted({row[2] for row in rows})}, claimed more than once {sum(row[3] > 1 for row in rows)}"
        )
    assert len(killed) == 5 and health == {"ok": True, "broker": "up"}
    assert sorted(set(accepted)) == sorted(row[0] for row in rows)  # every 202 is one submission, and no other
    assert all(row[1] == "done" and row[2] == 1 for row in rows)  # each graded exactly once
