"""The grading service's instructor page in a real (headless) Chromium, on a class of 34
learners over three lessons: the per-lesson statistics, the learners' table (sorted, filtered,
a row opening the learner's feedback and history), the queue, downloads, regrade and retry,
by mouse and by keyboard, at a laptop's width and a phone's, each view checked by axe-core
(``vendor/axe-core``) for serious or critical accessibility violations. One learner's
submission is uploaded and graded for real, end to end; the others are written into the store
as a worker writes them (``tests/service/graded_class.py``). Screenshots go to
``artifacts/browser/instructor-*.png``."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import httpx
import pytest

from autograder.lessons import find_lesson
from autograder.report import markdown_safe
from autograder.service.app import create_app
from autograder.service.settings import Settings
from autograder.service.store import Store
from autograder.service.tokens import new_token, token_hash
from autograder.suite import collect
from autograder.types import SubmissionResult
from autograder.types import TestResult as Outcome
from coursekit.processes import redis_server
from coursekit.serve import serve
from tests.conftest import run_async
from tests.service.graded_class import backdate, store_result

from .chromium import chromium_page
from .session import ARTIFACTS

pytestmark = pytest.mark.slow
LESSONS = ("01_asgi_by_hand", "02_asgi_to_fastapi", "03_dependency_injection")
NAMES = [
    "Amara Okafor",
    "Ben Carter",
    "Chen Wei",
    "Dana Levi",
    "Elif Yılmaz",  # noqa: RUF001 "Farah Haddad", "Gabriel Silva",
    "Hana Sato",
    "Ivan Petrov",
    "Jonas Berg",
    "Kavya Rao",
    "Liam O'Brien",
    "Maya Cohen",
    "Nia Mensah",
    "Omar Farouk",
    "Priya Nair",
    "Quinn Taylor",
    "Rosa Martínez",
    "Sami Virtanen",
    "Tara Singh",
    "Umar Sheikh",
    "Vera Novak",
    "Wen Li",
    "Ximena Ruiz",
    "Yusuf Demir",
    "Zoe Adams",
    "Aiko Tanaka",
    "Bruno Costa",
    "Chloé Dubois",
    "Dmitri Volkov",
    "Esther Mwangi",
    "Felix Wagner",
]
# Learner-controlled text that would run if the page ever put it in as HTML.
HOSTILE = '<img src=x onerror="window.pwned=1">Mallory'
HOSTILE_FEEDBACK = "<script>window.pwned = 1</script> raised ValueError"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
LAPTOP, PHONE = {"width": 1280, "height": 860}, {"width": 390, "height": 844}


def synthetic_results(rng: random.Random) -> list[tuple[str, SubmissionResult, float, float]]:
    """(learner, result, uploaded at, seconds to feedback) for each learner and lesson, a few
    learners twice: each passes a real hidden test (its name, exercise and points from the
    suite) with a chance that grows with their ability and falls with the test's difficulty,
    and a few tests are coin flips (a test that separates no one: discrimination near 0).
    Most final uploads come in the three hours before a deadline an hour ago: the rush."""
    now = time.time()
    deadline = now - 3600
    found = []
    for lesson in LESSONS:
        hidden = collect(find_lesson(lesson))
        difficulty = {test.name: rng.uniform(-1.5, 2.0) for test in hidden}
        coin = {test.name for test in rng.sample(list(hidden), 2)}
        for name in [*NAMES, HOSTILE]:
            ability = rng.gauss(0.8, 1.2)
            attempts = rng.choice([1, 1, 1, 2, 3])
            for attempt in range(attempts):
                skill = ability - 0.7 * (attempts - 1 - attempt)  # earlier attempts were weaker
                tests = []
                for test in hidden:
                    chance = 0.5 if test.name in coin else 1 / (1 + math.exp(-2.5 * (skill - difficulty[test.name])))
                    passed = rng.random() < chance
                    feedback = (
                        ""
                        if passed
                        else (HOSTILE_FEEDBACK if name == HOSTILE else "the answer differs from what the exercise asks")
                    )
                    tests.append(
                        Outcome(test.name, test.exercise, test.points if passed else 0, test.points, passed, feedback)
                    )
                result = SubmissionResult(submission=name, path="", lesson=lesson, tests=tests)
                result.score, result.max_score = sum(t.points for t in tests), sum(t.points for t in hidden)
                final_at = deadline - min(rng.expovariate(1 / 3), 30) * 3600
                at = final_at - (attempts - 1 - attempt) * rng.uniform(0.5, 6) * 3600
                found.append((name, result, at, 2 + rng.expovariate(1 / 3)))
    return found


def build_class(settings: Settings, tokens: dict[str, str]) -> dict:
    """The class in the store: every learner's results, and a queue with work in every state.
    Returns what the page should show, to compare with."""
    rng = random.Random(31)

    async def fill() -> dict:
        store = Store.connect(settings.database)
        await store.create_tables()
        learners = {
            name: await store.add_learner(name, token_hash(token), name == "prof") for name, token in tokens.items()
        }
        for name in [*NAMES, HOSTILE]:
            learners[name] = await store.add_learner(name, token_hash(new_token()), False)
        results = synthetic_results(rng)
        for name, result, at, seconds in results:
            await store_result(store, learners[name], result, at=at, seconds=seconds)
        # The queue now: three waiting, one grading, one that stopped its worker, two grader errors.
        now = time.time()
        for name in NAMES[:3]:
            accepted = await store.accept(learners[name], LESSONS[2], b"{}", None, per_minute=100)
            await backdate(store, accepted.submission.id, now - 120)
        grading = await store.accept(learners[NAMES[3]], LESSONS[2], b"{}", None, per_minute=100)
        await store.claim(grading.submission.id, "another-worker", 600)
        stopped = SubmissionResult(
            submission=NAMES[4],
            path="",
            lesson=LESSONS[1],
            problems=["grading this notebook stopped its worker 3 times"],
        )
        await store_result(store, learners[NAMES[4]], stopped, status="failed", at=now - 1800)
        for name in NAMES[5:7]:
            error = SubmissionResult(submission=name, path="", lesson=LESSONS[0]).not_graded(
                "the sandbox did not become ready (it ended (exit status 1) before it was ready)"
            )
            await store_result(store, learners[name], error, status="error", at=now - 900)
        await store.close()
        return {"learners": learners, "results": results}

    return run_async(fill())


def grade_for_real(settings: Settings, url: str, token: str) -> dict:
    """Upload lesson 01's solution over HTTP and grade it as a worker does (``Grader.handle``:
    claim, canary, the confined grader, the result written): the feedback the page shows for
    this learner is what the grader wrote."""
    from autograder.service.grading import Grader

    answer = httpx.post(
        f"{url}/api/submissions",
        content=find_lesson("01").solution.read_bytes(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 202, answer.text
    submission = answer.json()["id"]

    async def grade() -> str:
        store = Store.connect(settings.database, pooled=False)
        try:
            return await Grader(settings, store, announce=lambda *_: None).handle(submission)
        finally:
            await store.close()

    assert run_async(grade()) == "done"
    return httpx.get(f"{url}/api/submissions/{submission}", headers={"Authorization": f"Bearer {token}"}).json()


def axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        # Evaluated, not added as a <script>: the page's Content-Security-Policy refuses inline
        # scripts, and it must be tested as it is served.
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate("""async () => {
        const found = await axe.run(document, { resultTypes: ["violations"] });
        return { version: axe.version, passed: found.passes.length, violations: found.violations
            .filter((v) => ["serious", "critical"].includes(v.impact))
            .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                           nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) })) };
    }""")
    assert found["version"] == "4.14.1" and found["passed"] > 10, found  # it ran, and checked something
    return found["violations"]


def overlaps(page, selector: str) -> list[str]:
    """Pairs of the chart's text and bars (within a row and across rows) whose boxes intersect."""
    return page.evaluate(
        """(selector) => {
        const boxes = [];
        for (const [row, item] of [...document.querySelectorAll(selector)].entries()) {
            for (const part of item.children) {
                const r = part.getBoundingClientRect();
                if (r.width && r.height) boxes.push({ name: `${row}:${part.className}`, r });
            }
        }
        const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
            && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
        const found = [];
        boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b) => {
            if (hit(a.r, b.r)) found.push(`${a.name} / ${b.name}`);
        }));
        return found;
    }""",
        selector,
    )


def shoot(page, name: str, *, full_page: bool = True) -> None:
    """The whole page, or (``full_page=False``) the screen as the user sees it: a dialog's view."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"instructor-{name}.png"), full_page=full_page)


def overflows_sideways(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")


def test_the_instructor_page_shows_every_view_of_a_class_of_34(tmp_path):
    tokens = {"ada": new_token(), "bob": new_token(), "prof": new_token()}
    with redis_server() as broker:
        settings = Settings(data=str(tmp_path / "data"), broker_url=broker, scratch=str(tmp_path / "scratch"))
        settings.make_folder()
        built = build_class(settings, tokens)
        latest = {(name, result.lesson): result for name, result, _, _ in sorted(built["results"], key=lambda r: r[2])}
        with serve(create_app(settings)) as running, chromium_page() as page:
            graded = grade_for_real(settings, running.url, tokens["ada"])
            assert graded["status"] == "done" and graded["score"] == graded["max_score"] > 0
            page.set_viewport_size(LAPTOP)
            page.goto(f"{running.url}/instructor")
            assert axe_violations(page) == []  # the sign-in form

            # A learner's token is refused with the service's own message.
            page.fill("#token", tokens["bob"])
            page.click("text=Show the class")
            page.wait_for_selector("#error:has-text('Only instructors')")
            assert page.is_hidden("#lessons-view") and page.is_hidden("#views")
            # From here on, no script error and no failed request (the refusal above logs one).
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "console",
                lambda message: (
                    message.type == "error" and problems.append(f"{message.text} ({message.location.get('url')})")
                ),
            )

            # Signing in with the keyboard alone: the token field, then Enter.
            page.fill("#token", "")
            page.focus("#token")
            page.keyboard.type(tokens["prof"])
            page.keyboard.press("Enter")
            check_lesson_view(page, latest, running.url, tokens["prof"])
            shoot(page, "lesson-01-laptop")
            assert axe_violations(page) == []

            page.select_option("#lesson", LESSONS[2])
            page.wait_for_selector(f"#lessons-title:has-text('{LESSONS[2]}')")
            # Predicates as functions: a bare expression would be eval'd in the page, which its CSP forbids.
            page.wait_for_function("() => document.querySelectorAll('#test-chart li').length > 0")
            assert overlaps(page, "#test-chart li") == []
            shoot(page, "lesson-03-laptop")

            check_learners_view(page, latest)
            check_learner_detail(page, built["learners"], graded)
            assert axe_violations(page) == []
            page.keyboard.press("Escape")  # closes the learner, back on the table
            # The focus goes back to the row's link (in the dialog's close event, just after it closes).
            page.wait_for_function(
                "(name) => !document.querySelector('#learner').open && document.activeElement.textContent === name",
                arg=HOSTILE,
            )
            assert page.evaluate("location.hash") == "#learners"

            with page.expect_download() as download:
                page.click("text=Download grades.csv")
            lines = download.value.path().read_text().splitlines()
            assert lines[0].startswith("submission,lesson,score,max_score")
            assert len(lines) == 1 + len(latest) + 1  # each learner's latest per lesson, and ada's real one
            with page.expect_download() as download:
                page.click("text=Download Gradescope results")
            assert download.value.suggested_filename == "gradescope.zip"

            check_queue_view(page)
            assert axe_violations(page) == []

            # A phone: every view in one column, nothing wider than the screen, still accessible.
            page.set_viewport_size(PHONE)
            page.reload()  # the filters as they are on opening (the token stays in the tab)
            for view, name in (
                ("#lessons/" + LESSONS[0], "lesson-01-phone"),
                ("#learners", "learners-phone"),
                ("#queue", "queue-phone"),
            ):
                page.goto(f"{running.url}/instructor{view}")
                page.wait_for_selector(f"{view.split('/')[0]}-view:not([hidden])")
                page.wait_for_load_state("networkidle")
                assert not overflows_sideways(page), view
                assert axe_violations(page) == [], view
                if view.startswith("#lessons"):
                    assert overlaps(page, "#test-chart li") == []
                if view == "#queue":
                    assert overlaps(page, "#per-hour-axis") == []
                    page.select_option("#hours", "168")
                    page.wait_for_function("() => document.querySelectorAll('#per-hour .column').length === 168")
                    assert overlaps(page, "#per-hour-axis") == []
                    page.select_option("#hours", "48")
                    page.wait_for_function("() => document.querySelectorAll('#per-hour .column').length === 48")
                shoot(page, name)
            page.click("nav a[href='#learners']")
            page.click(f"#learners a:text-is('{HOSTILE}') >> nth=0")
            page.wait_for_selector("#learner[open]")
            assert not overflows_sideways(page)
            assert page.evaluate("(d => d.scrollWidth <= d.clientWidth + 1)(document.querySelector('#learner'))")
            shoot(page, "learner-feedback-phone", full_page=False)

            # The actions: regrade a lesson, retry the grader errors.
            page.set_viewport_size(LAPTOP)
            page.goto(f"{running.url}/instructor#lessons/{LESSONS[1]}")
            page.wait_for_selector(f"#lessons-title:has-text('{LESSONS[1]}')")
            page.click("#regrade")
            regraded = sum(1 for _, result, _, _ in built["results"] if result.lesson == LESSONS[1]) + 1  # + failed
            page.wait_for_selector(f"#regraded:has-text('{regraded} submission(s) of {LESSONS[1]} queued again')")
            page.goto(f"{running.url}/instructor#queue")
            page.click("#retry")
            page.wait_for_selector("#retried:has-text('2 submission(s) queued again')")
            assert problems == [] and page.evaluate("window.pwned") is None


def check_lesson_view(page, latest: dict, url: str, token: str) -> None:
    """Lesson 01 (the first lesson with grades), as the page draws it and as the API gives it."""
    page.wait_for_selector("#lessons-view:not([hidden]) #test-chart li")
    api = httpx.get(f"{url}/api/instructor/lessons/{LESSONS[0]}", headers={"Authorization": f"Bearer {token}"}).json()
    learners = sum(1 for _, lesson in latest if lesson == LESSONS[0]) + 1  # and ada, graded for real
    assert api["learners"] == learners
    assert f"{learners} learners graded" in page.inner_text("#lesson-summary")
    columns = page.locator("#histogram .column")
    assert columns.count() == len(api["histogram"]) == 10  # 50 points: ten bins of 5
    assert sum(int(text or 0) for text in page.locator("#histogram .value").all_inner_texts()) == learners
    # One row per hidden test, hardest first, in the chart and in the table (full names there).
    rows = page.locator("#tests tbody tr")
    assert rows.count() == page.locator("#test-chart li").count() == len(api["tests"]) > 10
    assert [row.split("\t")[0] for row in rows.all_inner_texts()] == [test["test"] for test in api["tests"]]
    rates = [test["rate"] for test in api["tests"]]
    assert rates == sorted(rates) and rates[0] < rates[-1]
    assert {test["discrimination"] is not None for test in api["tests"]} == {True}
    strong = [test for test in api["tests"] if test["discrimination"] > 0.3]
    assert strong, "the simulated class has tests that separate strong and weak learners"
    # Labels are abbreviated, never overlapping, with the full name on hover.
    first = page.locator("#test-chart li .label").first
    assert first.get_attribute("title") == f"{api['tests'][0]['exercise']}: {api['tests'][0]['test']}"
    assert overlaps(page, "#test-chart li") == []
    assert page.locator("#exercises tbody tr").count() == len(api["exercises"])


def shares(rows) -> list[float]:
    """The score column ("41 / 50") of the learners' table as fractions, in the table's order."""
    return [float(got) / float(top) for got, top in (row.split("\t")[2].split(" / ") for row in rows.all_inner_texts())]


def check_learners_view(page, latest: dict) -> None:
    """The table: every learner's latest score per lesson; sorted by a header, filtered by name
    and by lesson, reached with the keyboard."""
    page.focus("nav a[href='#learners']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#learners-view:not([hidden]) #learners tbody tr")
    rows = page.locator("#learners tbody tr")
    assert rows.count() == len(latest) + 1
    page.click("#learners th[data-key=score] button")
    assert page.get_attribute("#learners th[data-key=score]", "aria-sort") == "ascending"
    assert shares(rows) == sorted(shares(rows))
    page.focus("#learners th[data-key=score] button")
    page.keyboard.press("Enter")
    assert page.get_attribute("#learners th[data-key=score]", "aria-sort") == "descending"
    assert shares(rows) == sorted(shares(rows), reverse=True)
    shoot(page, "learners-by-score-laptop")
    page.fill("#filter", "ro")  # Rosa, Ivan Petrov, the hostile name's "onerror": names with "ro" in them
    wanted = {name for name, _ in latest if "ro" in name.lower()}
    assert {row.split("\t")[0] for row in rows.all_inner_texts()} == wanted
    page.select_option("#lesson-filter", LESSONS[1])
    assert {tuple(row.split("\t")[:2]) for row in rows.all_inner_texts()} == {(name, LESSONS[1]) for name in wanted}
    assert page.inner_text("#shown") == f"{len(wanted)} of {len(latest) + 1} shown"
    page.fill("#filter", "")
    page.select_option("#lesson-filter", "")
    page.click("#learners th[data-key=learner] button")


def check_learner_detail(page, learners: dict, graded: dict) -> None:
    """A row opens the learner's latest feedback, as they read it (their own text shown as text),
    and their history; the real submission's feedback is the grader's."""
    page.fill("#filter", "ada")  # ada, and Zoe Adams
    page.click("#learners tbody tr:has(a:text-is('ada')) td >> nth=2")  # a click anywhere on the row opens it
    page.wait_for_selector("#learner[open]")
    assert page.inner_text("#feedback").strip() == graded["feedback"].strip()
    assert page.locator("#history tbody tr").count() == 1
    page.keyboard.press("Escape")
    page.fill("#filter", "Mallory")
    page.select_option("#lesson-filter", LESSONS[0])
    page.focus(f"#learners a:text-is('{HOSTILE}')")
    page.keyboard.press("Enter")
    page.wait_for_selector("#learner[open]")
    assert page.inner_text("#learner-title") == f"{HOSTILE}: {LESSONS[0]}"
    feedback = page.inner_text("#feedback")
    # The Markdown the learner gets, shown as text: their "<" keeps the escape that makes it
    # inert wherever the Markdown is rendered (``report.markdown_safe``).
    assert feedback.startswith(f"# Feedback for {markdown_safe(HOSTILE)}")
    assert markdown_safe(HOSTILE_FEEDBACK) in feedback
    assert page.locator("#learner img, #learner script").count() == 0 and page.evaluate("window.pwned") is None
    history = page.locator("#history tbody tr").all_inner_texts()
    assert {row.split("\t")[1] for row in history} == set(LESSONS)  # all their lessons, newest first
    shoot(page, "learner-feedback-laptop", full_page=False)


def check_queue_view(page) -> None:
    page.click("nav a[href='#queue']")
    page.wait_for_selector("#queue-view:not([hidden]) #now li")
    cards = dict(reversed(text.split("\n", 1)) for text in page.locator("#now li").all_inner_texts())
    assert cards["waiting"] == "3" and cards["grading now"] == "1" and cards["not graded: grader error"] == "2"
    assert cards["failed (stopped its worker 3 times)"] == "1"
    assert cards["median time to feedback, last 48 h"].endswith(" s")
    assert page.locator("#per-hour .column").count() == 48
    assert "Busiest hour" in page.inner_text("#busiest")
    reasons = page.locator("#failures tbody tr").all_inner_texts()
    assert len(reasons) == 2 and all("sandbox did not become ready" in row for row in reasons)
    assert overlaps(page, "#per-hour-axis") == []
    shoot(page, "queue-48-hours-laptop")
    page.select_option("#hours", "168")
    page.wait_for_function("() => document.querySelectorAll('#per-hour .column').length === 168")
    assert overlaps(page, "#per-hour-axis") == []
    shoot(page, "queue-7-days-laptop")
