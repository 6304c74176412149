"""Hidden tests for `make_room_app`: a WebSocket room with a token check, a broadcast, and slow members.

A probe (``lesson08.room_sessions``) plays scripted clients against one app per scenario
(``coursekit.streams.websocket_clients``: a client that stops reading makes its endpoint's
`send` wait, as uvicorn's does), with a short pause after every step, and reports what each
client read, how it was closed, and whether its endpoint ended.
"""

import json

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, same_as_reference, without_errors

pytestmark = pytest.mark.anyio
NAME = "ws_room"
FACTORY = "make_room_app"
TOKENS = {"t1": "ada", "t2": "bob", "t3": "cy", "t4": "dee"}


async def sessions(side, cases: list[dict]) -> list[dict]:
    await require(side, FACTORY, kind="function")
    return without_errors(await probe(side, NAME, "lesson08.room_sessions", defined(FACTORY), cases), FACTORY)


def said(user: str, text: str) -> dict:
    return {"user": user, "text": text}


def read(client: dict) -> list:
    """The JSON messages a client read (a text that is not JSON stays as it is)."""
    out = []
    for text in client["texts"]:
        try:
            out.append(json.loads(text))
        except (TypeError, ValueError):
            out.append(text)
    return out


@graded(NAME, points=1, promises=["refuses-bad-token"], unhappy=True)
async def test_refuses_unknown_tokens_before_accepting(submission):
    """A wrong or missing token is closed with 1008 before accept; a known one is accepted."""
    (seen,) = await sessions(
        submission,
        [
            {
                "tokens": TOKENS,
                "script": [
                    ["connect", "wrong", "/rooms/a?token=nope"],
                    ["connect", "none", "/rooms/a"],
                    ["connect", "empty", "/rooms/a?token="],
                    ["connect", "name", "/rooms/a?token=ada"],
                    ["connect", "ok", "/rooms/a?token=t1"],
                ],
            }
        ],
    )
    clients = seen["clients"]
    for name in ("wrong", "none", "empty", "name"):
        expect(
            not clients[name]["accepted"] and clients[name]["close_code"] == 1008,
            "A missing token, or one that is not a key of `tokens` (a user name is not a token), must be refused "
            "before accepting, by closing with code 1008 (uvicorn then refuses the handshake with 403); "
            f"for the path with {name} token: accepted={clients[name]['accepted']}, "
            f"close code {clients[name]['close_code']}.",
        )
    expect(
        clients["ok"]["accepted"] and clients["ok"]["close_code"] is None,
        "A member with a known token should be accepted and stay connected.",
    )


@graded(NAME, points=1.5, promises=["broadcasts"])
async def test_broadcasts_to_the_room_the_sender_included(submission):
    """Every member of the room, the sender too, reads each message as {"user", "text"}, in order; no other room."""
    (seen,) = await sessions(
        submission,
        [
            {
                "tokens": TOKENS,
                "script": [
                    ["connect", "ada", "/rooms/a?token=t1"],
                    ["connect", "bob", "/rooms/a?token=t2"],
                    ["connect", "cy", "/rooms/b?token=t3"],
                    ["connect", "tab", "/rooms/a?token=t1"],
                    ["say", "ada", "hi"],
                    ["say", "bob", "hello"],
                    ["say", "cy", "elsewhere"],
                    ["say", "ada", '{"json": true}'],
                    ["leave", "tab"],
                    ["say", "bob", "bye"],
                ],
            }
        ],
    )
    clients = seen["clients"]
    want = [said("ada", "hi"), said("bob", "hello"), said("ada", '{"json": true}')]
    expect(
        read(clients["bob"]) == [*want, said("bob", "bye")],
        "Each text a member sends should reach every member of its room as the JSON text "
        '{"user": <the sender\'s name from tokens>, "text": <the message>}, in order; '
        f"bob read {clients['bob']['texts']}.",
    )
    expect(
        read(clients["tab"]) == want,
        "Two connections with the same token (the same user in two tabs) are two "
        f"members: each should read every message; the second read {clients['tab']['texts']}.",
    )
    expect(
        read(clients["ada"]) == [*want, said("bob", "bye")],
        "The sender is a member too: it should read its own messages, in order; and two connections with the same "
        "token (the same user in two tabs) are two members, each reading every message, the first staying when the "
        f"second leaves. ada (the first) read {clients['ada']['texts']}.",
    )
    expect(
        read(clients["cy"]) == [said("cy", "elsewhere")],
        f"A member of another room should read only its room's messages; cy read {clients['cy']['texts']}.",
    )


@graded(NAME, points=1, promises=["leaving"], unhappy=True)
async def test_a_member_that_leaves_is_removed(submission):
    """After a member leaves, the others go on; its endpoint ends, and nothing it started runs on."""
    (seen,) = await sessions(
        submission,
        [
            {
                "tokens": TOKENS,
                "await_end": ["bob"],
                "end_wait": 0.5,
                "script": [
                    # (a message first: whatever the room makes on its first broadcast is counted both times)
                    ["connect", "ada", "/rooms/a?token=t1"],
                    ["connect", "cy", "/rooms/a?token=t3"],
                    ["say", "ada", "one"],
                    ["count_tasks"],
                    ["connect", "bob", "/rooms/a?token=t2"],
                    ["say", "cy", "two"],
                    ["leave", "bob"],
                    ["wait", 0.1],
                    ["count_tasks"],
                    ["say", "ada", "three"],
                ],
            }
        ],
    )
    clients = seen["clients"]
    expect(clients["bob"]["ended"], "A member that left should have its endpoint end.")
    before, after = seen["running_tasks"]
    expect(
        after <= before,
        f"A member joined and left, and {after - before} more task(s) were running than before it joined: when a "
        "member leaves, cancel the tasks it started (and wait for them to end), so that nothing of it stays in the "
        "room.",
    )
    for name in ("ada", "cy"):
        expect(
            read(clients[name]) == [said("ada", "one"), said("cy", "two"), said("ada", "three")]
            and clients[name]["error"] is None,
            "After a member left, the room should go on for the others, without errors; "
            f"{name} read {clients[name]['texts']} ({clients[name]['error'] or 'no error'}).",
        )


@graded(NAME, points=1, promises=["no-stall"], unhappy=True)
async def test_a_member_that_does_not_read_holds_nobody_back(submission):
    """While one member reads nothing, the others get every message at once."""
    script = [
        ["connect", "ada", "/rooms/a?token=t1"],
        ["connect", "bob", "/rooms/a?token=t2"],
        ["connect", "dee", "/rooms/a?token=t4"],
        ["stop_reading", "dee"],
    ]
    script += [["timed_say", "ada", f"m{n}", ["ada", "bob"]] for n in range(5)]
    (seen,) = await sessions(submission, [{"tokens": TOKENS, "backlog": 10, "script": script}])
    clients = seen["clients"]
    expect(
        [m.get("text") for m in read(clients["bob"]) if isinstance(m, dict)] == [f"m{n}" for n in range(5)],
        "A member that does not read held the others back: give each member its own queue and a task that sends "
        f"from it, so that only that task waits for it; bob read {clients['bob']['texts']}.",
    )
    expect(
        max(seen["delays"]) < 0.5,
        f"While a member read nothing, the others waited up to {max(seen['delays']):.2f} s "
        "for a message: nobody should wait for a slow member.",
    )


@graded(NAME, points=1.5, promises=["drops-slow-member"], unhappy=True)
async def test_a_member_too_far_behind_is_dropped_with_1013(submission):
    """A member with `backlog` messages waiting is dropped: nothing later, closed with 1013 once it reads, endpoint
    ends."""

    def falling_behind(messages: int) -> list:
        return [
            ["connect", "ada", "/rooms/a?token=t1"],
            ["connect", "dee", "/rooms/a?token=t4"],
            ["stop_reading", "dee"],
            *[["say", "ada", f"m{n}"] for n in range(messages)],
            ["resume_reading", "dee"],
            ["wait", 0.2],
            ["say", "ada", "after"],
        ]

    (seen,) = await sessions(
        submission,
        [{"tokens": TOKENS, "backlog": 2, "await_end": ["dee"], "end_wait": 0.5, "script": falling_behind(7)}],
    )
    ada, dee = seen["clients"]["ada"], seen["clients"]["dee"]
    got = [m.get("text") for m in read(dee) if isinstance(m, dict)]
    expect(
        got == [f"m{n}" for n in range(len(got))] and len(got) <= 3,
        "With backlog=2, a member that reads nothing should get at most the message being sent and the 2 waiting; "
        f"the rest is not for it once it is dropped. It read {got}.",
    )
    expect(
        dee["close_code"] == 1013,
        f"A dropped member should be closed with code 1013 once it can take the close "
        f"(it was closed with {dee['close_code']}).",
    )
    expect(dee["ended"], "A dropped member's endpoint should end.")
    expect(
        [m.get("text") for m in read(ada) if isinstance(m, dict)] == [f"m{n}" for n in range(7)] + ["after"]
        and ada["error"] is None,
        f"After a member was dropped, the room should go on for the others; ada read {ada['texts']}.",
    )
    # Just within its backlog (the message being sent and `backlog` waiting, none more): not dropped.
    (behind,) = await sessions(submission, [{"tokens": TOKENS, "backlog": 3, "script": falling_behind(4)}])
    dee = behind["clients"]["dee"]
    expect(
        [m.get("text") for m in read(dee) if isinstance(m, dict)] == [f"m{n}" for n in range(4)] + ["after"]
        and dee["close_code"] is None,
        "With backlog=3, a member that stopped reading while 4 messages came (one being sent, 3 waiting) was "
        f"dropped or missed some (it read {dee['texts']}, close code {dee['close_code']}): drop a member only when "
        "`backlog` messages already wait for it and another one arrives.",
    )


# Scripts of 2 to 4 clients joining rooms a and b with known, unknown or no tokens, then
# saying things and some leaving, one step at a time.
PATHS = st.sampled_from(
    [
        "/rooms/a?token=t1",
        "/rooms/a?token=t2",
        "/rooms/b?token=t3",
        "/rooms/a?token=t4",
        "/rooms/b?token=t1",
        "/rooms/a?token=x",
        "/rooms/b",
        "/rooms/a?other=t1",
    ]
)
ACTIONS = st.one_of(
    st.builds(lambda who, text: ["say", who, text], st.integers(0, 3), st.sampled_from(["hi", "ça va", "", "{}"])),
    st.builds(lambda who: ["leave", who], st.integers(0, 3)),
)


def scripted(paths: list, actions: list) -> list:
    steps = [["connect", f"c{n}", path] for n, path in enumerate(paths)]
    left: set = set()
    for kind, who, *rest in actions:
        name = f"c{who % len(paths)}"
        if name in left:
            continue
        if kind == "leave":
            left.add(name)
        steps.append([kind, name, *rest])
    return steps


ROOMS = st.builds(
    lambda paths, actions: {"tokens": TOKENS, "script": scripted(paths, actions)},
    st.lists(PATHS, min_size=2, max_size=4),
    st.lists(ACTIONS, max_size=6),
)


def shown_room(case: dict) -> str:
    return "; ".join(" ".join(str(part) for part in step) for step in case["script"])


def promised(seen: dict) -> dict:
    return {
        name: {
            "accepted": client["accepted"],
            "refused with": None if client["accepted"] else client["close_code"],
            "read": read(client),
        }
        for name, client in seen["clients"].items()
    }


@graded(NAME, points=1, promises=["refuses-bad-token", "broadcasts", "leaving"])
async def test_generated_rooms_as_the_task_says(submission, reference):
    """On generated scripts (rooms, tokens good and bad, messages, members leaving), every client reads what the task
    says."""
    await require(submission, FACTORY, kind="function")

    async def batch(side, cases):
        return [promised(seen) for seen in await sessions(side, cases)]

    await same_as_reference(
        submission,
        reference,
        NAME,
        ROOMS,
        batch=batch,
        examples=8,
        show=shown_room,
        promise="a missing or unknown token is closed with 1008 before accept; each message reaches "
        'every member of the sender\'s room, sender included, as {"user", "text"}, in '
        "order; a member that left gets nothing more and the room goes on.",
    )
