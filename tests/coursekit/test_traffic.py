"""coursekit.traffic: load from a process of its own, closed and open loops, a server's CPU per window."""

import sys
import tempfile
import time
from pathlib import Path

import pytest

from coursekit.processes import free_port, server_process
from coursekit.traffic import Phase, Sample, compare_servers, traffic

# A raw ASGI app: GET /cpu answers this process's CPU seconds, anything else a short body.
APP = """
import resource


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/cpu":
        usage = resource.getrusage(resource.RUSAGE_SELF)
        body = str(usage.ru_utime + usage.ru_stime).encode()
    else:
        body = b'{"hello":"world"}'
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("traffic-app")
    (folder / "small.py").write_text(APP)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "small:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with server_process(command, port=port, ready_path="/cpu", cwd=folder) as running:
        yield running


def leftovers() -> list[str]:
    return sorted(path.name for path in Path(tempfile.gettempdir()).glob("coursekit-traffic-*"))


def test_a_closed_loop_sends_until_the_block_ends(server, tmp_path, monkeypatch):
    # A temporary folder of this test's own: another worker's traffic may be running meanwhile.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = leftovers()
    with traffic(server.url + "/x", connections=3, keep_body=8) as sent:
        opened = time.monotonic()
        time.sleep(0.3)
        closed = time.monotonic()
    samples = sent.samples
    assert len(samples) > 10 and all(isinstance(sample, Sample) for sample in samples)
    assert all(sample.status == 200 and sample.body == '{"hello"' for sample in samples)
    assert samples == sorted(samples)
    # It starts once a request was answered: the block's window holds nearly all of them.
    assert opened - 0.5 < samples[0].sent_at and samples[-1].sent_at < closed + 0.5
    assert sent.phases == []
    assert leftovers() == before  # its result file's folder went with the block


def test_an_open_loop_keeps_its_rates_and_notes_the_servers_cpu_per_phase(server):
    with traffic(server.url + "/x", rates=[(100, 0.3), (0, 0.2), (200, 0.3)], cpu_path="/cpu", seed=3) as sent:
        sent.wait(20)
    phases, samples = sent.phases, sent.samples
    assert [phase.rate for phase in phases] == [100, 0, 200] and all(isinstance(p, Phase) for p in phases)
    assert all(phase.ended >= phase.started and phase.cpu is not None and phase.cpu >= 0 for phase in phases)
    sent_in = [sum(1 for s in samples if phase.started <= s.sent_at < phase.ended) for phase in phases]
    assert 10 <= sent_in[0] <= 60 and sent_in[1] == 0 and 25 <= sent_in[2] <= 120, sent_in  # Poisson: ~30, 0, ~60
    assert all(sample.status == 200 for sample in samples)


def test_the_same_seed_sends_as_many_requests(server):
    counts = []
    for _ in range(2):
        with traffic(server.url + "/x", rates=[(150, 0.2)], seed=7) as sent:
            sent.wait(20)
        counts.append(len(sent.samples))
    assert counts[0] == counts[1] > 0


def test_without_a_server_every_request_fails_and_the_block_still_starts():
    with traffic(f"http://127.0.0.1:{free_port()}/x", connections=2, max_seconds=0.3, timeout=1) as sent:
        pass
    assert sent.samples and all(sample.status is None for sample in sent.samples)


def test_samples_are_there_only_after_the_block(server):
    with traffic(server.url + "/x", connections=1) as sent:
        with pytest.raises(RuntimeError, match="with-block"):
            sent.samples  # noqa: B018


def test_compare_servers_gives_each_target_its_rounds_and_the_servers_cpu(server):
    rounds = compare_servers(
        {"a": server.url + "/x", "b": server.url + "/y"},
        cpu_path="/cpu",
        rounds=3,
        seconds=0.1,
        warmup_seconds=0.02,
        connections=2,
    )
    assert set(rounds) == {"a", "b"}
    for runs in rounds.values():
        assert len(runs) == 3
        assert all(run["requests"] > 0 and run["failed"] == 0 and run["cpu"] > 0 for run in runs)
        assert all(0.05 < run["seconds"] < 5 for run in runs)
