"""Hidden tests for `make_upload_app`: an upload streamed to disk, hashed, refused past a limit.

A probe (``lesson08.upload_runs``) gives each case a fresh folder (with files in it when the
case says so), sends the body in pieces through an in-process client that plays uvicorn's part,
looks at the folder just before each piece, and lists it after (name -> sha256). Bodies are
described as [size, byte] pairs and made in the sandbox, so large ones do not cross the pipe.
"""

import hashlib

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, same_as_reference, without_errors

pytestmark = pytest.mark.anyio
NAME = "upload_stream"
FACTORY = "make_upload_app"


async def runs(side, cases: list[dict]) -> list[dict]:
    await require(side, FACTORY, kind="function")
    return without_errors(await probe(side, NAME, "lesson08.upload_runs", defined(FACTORY), cases), FACTORY)


def body_of(pieces: list) -> bytes:
    return b"".join(item.encode() if isinstance(item, str) else bytes([item[1]]) * item[0] for item in pieces)


def json_of(seen: dict):
    import json

    try:
        return json.loads(seen["text"])
    except ValueError:
        return None


def header(seen: dict, name: str) -> str:
    return next((value for key, value in seen["headers"] if key == name), "") or ""


def answered(seen: dict) -> str:
    return f"it answered {seen['status']}" + (f" after raising {seen['app_error']}" if seen["app_error"] else "")


@graded(NAME, points=1.5, promises=["stores-and-answers"])
async def test_stores_the_body_and_answers_its_hash(submission):
    """201 with name, size and sha256; folder/name holds the body exactly, replacing an older file."""
    pieces = ["hello ", [3000, 120], "\x00\xff end"]
    cases = [
        {"limit": 10_000, "name": "report.pdf", "pieces": pieces},
        {"limit": 10_000, "name": "notes.txt", "pieces": ["new text"], "existing": {"notes.txt": "old"}},
        {"limit": 10_000, "name": "empty.bin", "pieces": [""]},
    ]
    seen = await runs(submission, cases)
    for case, one in zip(cases, seen, strict=True):
        data = body_of(case["pieces"])
        want = {"name": case["name"], "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        expect(
            one["status"] == 201, f"An upload within the limit should answer 201; for {case['name']} {answered(one)}."
        )
        expect(
            json_of(one) == want,
            'It should answer {"name", "size", "sha256"} (the hex digest of the body); for '
            f"{case['name']} it answered {one['text'][:200]!r}.",
        )
        expect(
            one["after"].get(case["name"]) == want["sha256"],
            f"After the upload, folder/{case['name']} should hold exactly the body (replacing a file of that name).",
        )
        expect(
            set(one["after"]) == set(one["before"]) | {case["name"]},
            "After an upload the folder should hold the uploaded file and nothing else new; "
            f"it holds {sorted(one['after'])}.",
        )


@graded(NAME, points=1, promises=["appears-complete"])
async def test_the_file_appears_only_when_complete(submission):
    """While the pieces arrive, folder/name does not exist (or still holds the old file)."""
    cases = [
        {"limit": 10_000, "name": "a.bin", "pieces": [[500, 1]] * 4},
        {"limit": 10_000, "name": "b.txt", "pieces": [[500, 2]] * 3, "existing": {"b.txt": "old"}},
    ]
    seen = await runs(submission, cases)
    expect(
        all(one["status"] == 201 for one in seen), f"An upload within the limit should answer 201; {answered(seen[0])}."
    )
    expect(
        all(look["name"] in ("absent", "as before") for one in seen for look in one["looked"]),
        "While the upload was still arriving, folder/<name> was already there (or already changed): write to "
        "another name in the folder, and give it its name (os.replace) once the upload is complete.",
    )
    expect(
        all(look["new_files"] >= 1 for one in seen for look in one["looked"][1:]),
        "While the upload was still arriving, the folder held no new file: the bytes received so far should be "
        "written to another name in the same folder (not the system's temporary folder, which may be another "
        "file system, where the final move is a copy), and given their name once the upload is complete.",
    )


@graded(NAME, points=1.5, promises=["limit-413"], unhappy=True)
async def test_refuses_past_the_limit_without_reading_on(submission):
    """413 with Connection: close; nothing read when Content-Length is over; no piece read after the one past it."""
    cases = [
        {"limit": 1000, "name": "c.bin", "pieces": [[300, 3]] * 6},
        {"limit": 1000, "name": "d.bin", "pieces": [[400, 4]] * 5, "content_length": "exact"},
        {"limit": 1000, "name": "e.bin", "pieces": [[1001, 5]]},
        {"limit": 1000, "name": "f.bin", "pieces": [[600, 6], [400, 6]], "content_length": "exact"},
        {"limit": 0, "name": "g.bin", "pieces": [[1, 7], [1, 7]]},
    ]
    over, announced, single, exact, zero = await runs(submission, cases)
    expect(exact["status"] == 201, f"A body of exactly `limit` bytes is within the limit: 201; {answered(exact)}.")
    for one, what in (
        (over, "1800 bytes in pieces of 300"),
        (announced, "Content-Length: 2000"),
        (single, "one piece of 1001 bytes"),
        (zero, "2 bytes with limit=0"),
    ):
        expect(one["status"] == 413, f"A body over the limit ({what}, limit 1000) should get 413; {answered(one)}.")
        expect(
            header(one, "connection").lower() == "close",
            "The 413 should carry Connection: close, or the server reads the rest of the upload to keep the "
            "connection (measured in the notebook).",
        )
    expect(
        over["pieces_read"] == 4,
        f"The 4th piece of 300 bytes passed the limit of 1000, yet your app read "
        f"{over['pieces_read']} pieces: stop reading at the piece that passes the limit.",
    )
    expect(
        announced["pieces_read"] == 0,
        f"Content-Length announced 2000 bytes over a limit of 1000: answer 413 "
        f"before reading the body (your app read {announced['pieces_read']} pieces).",
    )
    expect(zero["pieces_read"] == 1, "With limit=0 the first byte already passes the limit: stop after that piece.")


@graded(NAME, points=1, promises=["bad-name-400"], unhappy=True)
async def test_refuses_names_that_are_not_plain_file_names(submission):
    """400 for names out of 1-64 letters, digits, . _ -, or starting with a dot; 201 for the good ones."""
    bad = [
        "..",
        ".",
        ".hidden",
        "a b",
        "x" * 65,
        "semi;colon",
        "a%2Fb",
        "caf\u00e9",
        "a\\b",
        "%2e%2e",
        "tab\tname",
        "report.pdf\n",
    ]
    good = ["a", "A-1_b.c", "x" * 64, "-dash", "_under", "name."]
    cases = [{"limit": 100, "name": name, "pieces": ["data"]} for name in bad + good]
    seen = await runs(submission, cases)
    for name, one in zip(bad, seen[: len(bad)], strict=True):
        expect(
            one["status"] == 400,
            f"The name {name!r} is not 1 to 64 ASCII letters, digits, '.', '_' or '-' not starting "
            f"with a dot: it should get 400; {answered(one)}.",
        )
    for name, one in zip(good, seen[len(bad) :], strict=True):
        expect(one["status"] == 201, f"The name {name!r} is a valid file name and should be accepted; {answered(one)}.")


@graded(NAME, points=1.5, promises=["leaves-no-trace"], unhappy=True, negative=True)  # doing nothing leaves it too
async def test_a_failed_upload_leaves_the_folder_as_it_was(submission):
    """After a 413, a 400 or a client leaving mid-upload, the folder holds exactly what it held."""
    existing = {"keep.txt": "keep me", "c.bin": "the old c"}
    cases = [
        {"limit": 1000, "name": "c.bin", "pieces": [[300, 3]] * 6, "existing": existing},
        {"limit": 1000, "name": "n.bin", "pieces": [[400, 4]] * 5, "content_length": "exact", "existing": existing},
        {"limit": 1000, "name": ".c.bin", "pieces": ["x"], "existing": existing},
        {"limit": 10_000, "name": "c.bin", "pieces": [[300, 3]] * 5, "hang_up_after": 2, "existing": existing},
        {"limit": 10_000, "name": "new.bin", "pieces": [[300, 3]] * 5, "hang_up_after": 3, "existing": existing},
    ]
    seen = await runs(submission, cases)
    for what, one in zip(
        [
            "a 413 after some pieces",
            "a 413 from Content-Length",
            "a 400 for a bad name",
            "a client leaving mid-upload (a file of that name existed)",
            "a client leaving mid-upload",
        ],
        seen,
        strict=True,
    ):
        expect(
            one["after"] == one["before"],
            f"After {what}, the folder should hold what it held before (no partial file, the old file untouched); "
            f"it held {sorted(one['before'])} and now holds {sorted(one['after'])}.",
        )


@graded(NAME, points=1.5, promises=["constant-memory"])
async def test_memory_does_not_grow_with_the_upload(submission, reference):
    """From 128 kB to 960 kB, memory grows far less than the upload does, as the reference's.

    (A sandbox's files are limited to 1 MiB, so the upload stays under it.)"""

    def big(pieces):
        return {"limit": 10**8, "name": "big.bin", "pieces": [[65536, 9]] * pieces, "memory": True}

    cases = [big(2), big(15)]
    small, large = await runs(submission, cases)
    want_small, want_large = await runs(reference, cases)
    expect(
        small["status"] == large["status"] == 201,
        f"A 960 kB upload within the limit should get 201; {answered(large)}.",
    )
    extra = 13 * 65536
    growth, reference_growth = large["peak"] - small["peak"], want_large["peak"] - want_small["peak"]
    expect(
        growth < max(0.5 * extra, 5 * reference_growth),
        f"From a 128 kB to a 960 kB upload, your app's peak memory grew by {growth / 1e3:.0f} kB: hash and write each "
        "piece of request.stream() as it comes, never the whole body (request.body()).",
    )


# Uploads: 1 to 5 pieces of 0 to 700 bytes, limits around the total, with or without an
# honest Content-Length, a client that may leave, names good and bad, a file of that name or not.
PIECES = st.lists(
    st.builds(lambda size, byte: [size, byte], st.integers(0, 700), st.integers(0, 255)), min_size=1, max_size=5
)
UPLOADS = st.builds(
    lambda pieces, limit, length, leave, name, existing: {
        "limit": limit,
        "name": name,
        "pieces": pieces,
        "content_length": length,
        "hang_up_after": None if leave is None else leave % (len(pieces) + 1),
        "existing": {name: "older", "other.txt": "other"} if existing else {"other.txt": "other"},
    },
    PIECES,
    st.sampled_from([0, 1, 300, 699, 700, 1000, 1500, 5000]),
    st.sampled_from([None, "exact"]),
    st.none() | st.none() | st.integers(0, 5),
    st.sampled_from(["ok.bin", "a", "..", ".x", "a b", "x" * 64, "x" * 65]),
    st.booleans(),
)


def shown_upload(case: dict) -> str:
    sizes = [piece[0] for piece in case["pieces"]]
    leave = "" if case["hang_up_after"] is None else f", the client leaving after {case['hang_up_after']} pieces"
    length = ", with Content-Length" if case["content_length"] else ""
    return (
        f"POST /uploads/{case['name']} with limit={case['limit']}, pieces of {sizes} bytes{length}{leave}; "
        f"the folder held {sorted(case['existing'])}"
    )


def promised(seen: dict) -> dict:
    if seen["status"] is None:  # the client left: what is left behind is promised, not an answer
        return {
            "status": None,
            "after": seen["after"],
            "changed early": [look["name"] == "changed" for look in seen["looked"]],
        }
    return {
        "status": seen["status"],
        "json": json_of(seen) if seen["status"] == 201 else None,
        "close": header(seen, "connection").lower() == "close" if seen["status"] == 413 else None,
        "pieces read": seen["pieces_read"] if seen["status"] == 413 else None,
        "after": seen["after"],
        "changed early": [look["name"] == "changed" for look in seen["looked"]],
    }


@graded(
    NAME, points=1, promises=["stores-and-answers", "appears-complete", "limit-413", "bad-name-400", "leaves-no-trace"]
)
async def test_generated_uploads_as_the_task_says(submission, reference):
    """On generated uploads (pieces, limits, Content-Length or not, clients leaving, names), answers and folders are as
    the task says."""
    await require(submission, FACTORY, kind="function")

    async def batch(side, cases):
        return [promised(seen) for seen in await runs(side, cases)]

    await same_as_reference(
        submission,
        reference,
        NAME,
        UPLOADS,
        batch=batch,
        examples=12,
        show=shown_upload,
        promise="201 {name, size, sha256} with folder/name then holding the body (and only then); "
        "413 with Connection: close past the limit, reading nothing more (nothing at all "
        "when Content-Length is over); 400 for a bad name; after a failure or a client "
        "leaving, the folder as it was.",
    )
