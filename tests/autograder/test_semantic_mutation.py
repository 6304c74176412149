"""The semantic mutation operators (``autograder.semantic_mutation``), on small sources: each
makes its learner's mistake, names it in the style of the syntactic ones, and leaves alone
what is not its kind of code. The mutants are made through ``mutation.semantic_mutants``, as
the gate makes them (inside the solution markers, compiled, each program once)."""

from __future__ import annotations

import ast
import textwrap

from autograder import mutation


def made(body: str, operator: str) -> dict[str, str]:
    """mutant id -> mutated program, for the operators whose names start with ``operator``,
    of ``body`` put inside the markers (its first line is the cell's second)."""
    source = f"{mutation.BEGIN}\n" + textwrap.dedent(body).strip("\n") + f"\n{mutation.END}\n"
    return {
        mutant.id: mutant.source
        for mutant in mutation.semantic_mutants("lesson", "exercise", source)
        if mutant.id.startswith(operator)
    }


def same(program: str, expected: str) -> bool:
    return ast.dump(ast.parse(program)) == ast.dump(ast.parse(textwrap.dedent(expected)))


# -- drop-finally, drop-except --------------------------------------------------------------------

TRY = """
def use(pool):
    connection = pool.acquire()
    try:
        return connection.run()
    except KeyError:
        log("missing")
        raise
    finally:
        pool.release(connection)
"""


def test_a_finally_body_becomes_pass():
    mutants = made(TRY, "drop-finally")
    assert list(mutants) == ["drop-finally at 10:8: pool.release(connection) -> pass"]
    assert "release" not in next(iter(mutants.values()))


def test_an_except_body_becomes_pass():
    mutants = made(TRY, "drop-except")
    assert list(mutants) == ["drop-except at 6:4: except KeyError: log('missing'); raise -> pass"]
    program = next(iter(mutants.values()))
    assert "raise" not in program and "release" in program


def test_a_body_that_is_already_pass_makes_no_mutant():
    assert made("try:\n    x()\nexcept Exception:\n    pass\n", "drop-except") == {}


# -- move-out-of-with, move-before-begin, move-after-commit --------------------------------------


def test_the_last_statement_of_a_with_block_moves_after_it():
    mutants = made(
        """
        async def update(lock, state):
            async with lock:
                value = state.read()
                state.write(value + 1)
        """,
        "move-out-of-with",
    )
    assert list(mutants) == ["move-out-of-with at 3:4: state.write(value + 1) -> after with lock"]
    assert same(
        next(iter(mutants.values())),
        """
        async def update(lock, state):
            async with lock:
                value = state.read()
            state.write(value + 1)
        """,
    )


def test_a_with_block_left_empty_gets_pass():
    mutants = made(
        """
        async def one(gate, call):
            async with gate:
                return await call()
        """,
        "move-out-of-with",
    )
    assert same(
        next(iter(mutants.values())),
        """
        async def one(gate, call):
            async with gate:
                pass
            return await call()
        """,
    )


def test_a_with_block_outside_the_solution_is_not_changed():
    source = f"def given(stack):\n    with stack:\n{mutation.BEGIN}\n        work()\n        more()\n{mutation.END}\n"
    assert mutation.semantic_mutants("lesson", "exercise", source) == []


SQL = """
def pay(db, key):
    db.execute("BEGIN IMMEDIATE")
    try:
        first = db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (key,)).rowcount == 1
        if first:
            db.execute("INSERT INTO payments VALUES (?)", (key,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return first
"""


def test_the_first_statement_of_a_transaction_moves_before_its_begin():
    mutants = made(SQL, "move-before-begin")
    assert list(mutants) == [
        "move-before-begin at 5:8: first = db.execute('INSERT OR IGNORE INTO seen VALUES (?)... "
        "-> before db.execute('BEGIN IMMEDIATE')"
    ]
    program = next(iter(mutants.values()))
    assert program.index("INSERT OR IGNORE") < program.index("BEGIN IMMEDIATE")


def test_the_last_statement_of_a_transaction_moves_after_its_commit():
    mutants = made(SQL, "move-after-commit")
    assert len(mutants) == 1
    assert next(iter(mutants)).startswith("move-after-commit at 6:8: if first:")
    program = next(iter(mutants.values()))
    assert program.index("COMMIT") < program.index("INSERT INTO payments") < program.index("ROLLBACK")


def test_an_explicit_begin_call_counts_as_a_transaction():
    mutants = made(
        """
        async def open_session(connection):
            await connection.begin()
            session = Session(bind=connection)
            return session
        """,
        "move-before-begin",
    )
    assert list(mutants) == [
        "move-before-begin at 4:4: session = Session(bind=connection) -> before await connection.begin()"
    ]


# -- deadline-per-call ----------------------------------------------------------------------------


def test_a_timeout_around_a_loop_moves_inside_it():
    mutants = made(
        """
        async def run_all(calls, seconds):
            async with asyncio.timeout(seconds):
                for call in calls:
                    await call()
        """,
        "deadline-per-call",
    )
    assert list(mutants) == ["deadline-per-call at 3:4: with asyncio.timeout(seconds) -> (one per turn of the loop)"]
    assert same(
        next(iter(mutants.values())),
        """
        async def run_all(calls, seconds):
            for call in calls:
                async with asyncio.timeout(seconds):
                    await call()
        """,
    )


def test_a_timeout_around_tasks_moves_into_the_helper_they_run():
    mutants = made(
        """
        async def fetch_all(calls, limit, seconds):
            gate = asyncio.Semaphore(limit)

            async def one(call):
                async with gate:
                    return await call()

            async with asyncio.timeout(seconds):
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(one(call)) for call in calls]
            return [task.result() for task in tasks]
        """,
        "deadline-per-call",
    )
    assert list(mutants) == ["deadline-per-call at 9:4: with asyncio.timeout(seconds) -> (one per call of one)"]
    # around the call itself, inside the semaphore: a call that waited for its place still gets all its time
    assert same(
        next(iter(mutants.values())),
        """
        async def fetch_all(calls, limit, seconds):
            gate = asyncio.Semaphore(limit)

            async def one(call):
                async with gate:
                    async with asyncio.timeout(seconds):
                        return await call()
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(call)) for call in calls]
            return [task.result() for task in tasks]
        """,
    )


def test_wait_for_around_gather_becomes_one_wait_for_per_awaitable():
    mutants = made(
        """
        async def fetch_all(calls, seconds):
            return await asyncio.wait_for(asyncio.gather(*(call() for call in calls)), seconds)
        """,
        "deadline-per-call",
    )
    assert same(
        next(iter(mutants.values())),
        """
        async def fetch_all(calls, seconds):
            return await asyncio.gather(*(asyncio.wait_for(call(), seconds) for call in calls))
        """,
    )


def test_a_deadline_computed_once_is_computed_on_every_turn():
    mutants = made(
        """
        def poll(check, seconds):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if check():
                    return True
            return False
        """,
        "deadline-per-call",
    )
    assert list(mutants) == [
        "deadline-per-call at 3:4: deadline = time.monotonic() + seconds -> (computed again on every turn of the loop)"
    ]
    assert "    while time.monotonic() < deadline:\n        deadline = time.monotonic() + seconds" in next(
        iter(mutants.values())
    )


# -- unanchor-regex -------------------------------------------------------------------------------


def test_anchors_are_dropped_one_at_a_time():
    mutants = made(
        """
        def valid(text):
            return re.search(r"^\\d{4}$", text) is not None
        """,
        "unanchor-regex",
    )
    assert list(mutants) == [
        "unanchor-regex at 3:21: '^\\\\d{4}$' -> '\\\\d{4}$'",
        "unanchor-regex at 3:21: '^\\\\d{4}$' -> '^\\\\d{4}'",
    ]


def test_pattern_keywords_and_backslash_anchors_are_unanchored_but_not_an_escaped_dollar():
    mutants = made(
        """
        class Payment(BaseModel):
            last4: str = Field(pattern=r"\\A\\d{4}\\Z")
            price: str = Field(pattern=r"^\\d+\\$")
        """,
        "unanchor-regex",
    )
    assert sorted(mutants) == [
        "unanchor-regex at 3:31: '\\\\A\\\\d{4}\\\\Z' -> '\\\\A\\\\d{4}'",
        "unanchor-regex at 3:31: '\\\\A\\\\d{4}\\\\Z' -> '\\\\d{4}\\\\Z'",
        "unanchor-regex at 4:31: '^\\\\d+\\\\$' -> '\\\\d+\\\\$'",
    ]


def test_fullmatch_becomes_search_or_match_and_re_match_becomes_search():
    mutants = made(
        """
        def route(regex, pattern, path):
            return regex.fullmatch(path) or re.match(pattern, path)
        """,
        "unanchor-regex",
    )
    assert list(mutants) == [
        "unanchor-regex at 3:11: .fullmatch(...) -> .search(...)",
        "unanchor-regex at 3:11: .fullmatch(...) -> .match(...)",
        "unanchor-regex at 3:36: .match(...) -> .search(...)",
    ]


def test_match_on_something_else_than_re_is_left_alone():
    assert made("def f(x, y):\n    return x.match(y)\n", "unanchor-regex") == {}


# -- swap-fields, swap-keys -----------------------------------------------------------------------


def test_adjacent_fields_of_a_class_are_swapped():
    mutants = made(
        """
        class Invoice(BaseModel):
            issued_on: date
            due_on: date
            note: str = ""
        """,
        "swap-fields",
    )
    assert list(mutants) == [
        "swap-fields at 3:4: issued_on, due_on -> due_on, issued_on",
        "swap-fields at 4:4: due_on, note -> note, due_on",
    ]
    assert same(
        mutants["swap-fields at 3:4: issued_on, due_on -> due_on, issued_on"],
        """
        class Invoice(BaseModel):
            due_on: date
            issued_on: date
            note: str = ""
        """,
    )


def test_keys_are_swapped_only_where_their_order_reaches_the_outside():
    mutants = made(
        """
        async def app(send, data):
            await send({"type": "http.response.start", "status": 200})
            payload = {"method": data.method, "path": data.path}
            body = json.dumps(payload)
            await send_json({"a": 1, "b": 2, **data.extra})
            return {"x": 1, "y": 2}
        """,
        "swap-keys",
    )
    assert sorted(mutants) == [
        "swap-keys at 4:15: 'method', 'path' -> 'path', 'method'",
        "swap-keys at 6:21: 'a', 'b' -> 'b', 'a'",
        "swap-keys at 7:12: 'x', 'y' -> 'y', 'x'",
    ]


# -- state-to-module, state-per-call --------------------------------------------------------------


def test_a_cache_made_per_app_moves_to_module_level_and_per_request():
    mutants = made(
        """
        def make_app():
            answers = {}
            app = App()

            @app.get("/")
            def index(key):
                if key not in answers:
                    answers[key] = compute(key)
                return answers[key]

            return app
        """,
        "state-",
    )
    assert list(mutants) == [
        "state-to-module at 3:4: answers = {} -> (module level)",
        "state-per-call at 3:4: answers = {} -> (made on every call of index)",
        "state-to-module at 4:4: app = App() -> (module level)",
    ]
    module = mutants["state-to-module at 3:4: answers = {} -> (module level)"]
    assert module.startswith("answers = {}\n\ndef make_app():\n    app = App()\n")
    per_call = mutants["state-per-call at 3:4: answers = {} -> (made on every call of index)"]
    assert "    def index(key):\n        answers = {}\n" in per_call


def test_a_rebound_counter_goes_global():
    mutants = made(
        """
        def run(jobs):
            done = 0
            for job in jobs:
                done += 1
            return done
        """,
        "state-to-module",
    )
    assert same(
        next(iter(mutants.values())),
        """
        done = 0
        def run(jobs):
            global done
            for job in jobs:
                done += 1
            return done
        """,
    )


def test_values_that_are_not_state_or_need_the_call_stay_put():
    assert (
        made(
            """
        def make(limit):
            converters = {"int": int}
            gate = Semaphore(limit)
            refused = HTTPException(401)
            return converters, gate, refused
        """,
            "state-to-module",
        )
        == {}
    )


def test_a_move_that_leaves_a_nonlocal_without_its_binding_is_not_made():
    # at module level, `nonlocal items` has no binding: that program does not compile
    assert (
        made(
            """
        def collect():
            items = []

            def add(item):
                nonlocal items
                items.append(item)
            return add
        """,
            "state-to-module",
        )
        == {}
    )


# -- decode-first, encode-first, skip-decode, skip-encode -----------------------------------------


def test_a_parser_given_str_or_bytes_gets_one_of_them_first():
    mutants = made(
        """
        def parse(raw):
            return adapter.validate_json(raw)
        """,
        "",
    )
    assert sorted(mutants) == ["decode-first at 3:33: raw -> raw.decode()", "encode-first at 3:33: raw -> raw.encode()"]


def test_an_encode_or_decode_is_dropped():
    mutants = made(
        """
        def header(name, size):
            return (name.decode("latin-1"), str(size).encode("ascii"))
        """,
        "skip-",
    )
    assert sorted(mutants) == [
        "skip-decode at 3:12: name.decode('latin-1') -> name",
        "skip-encode at 3:36: str(size).encode('ascii') -> str(size)",
    ]


# -- float-for-decimal ----------------------------------------------------------------------------


def test_decimal_goes_through_float():
    mutants = made(
        """
        def total(price, quantity):
            return Decimal(price) * quantity
        """,
        "float-for-decimal",
    )
    assert sorted(mutants.values(), key=len) == [
        "def total(price, quantity):\n    return float(price) * quantity",
        "def total(price, quantity):\n    return Decimal(float(price)) * quantity",
    ]


def test_a_decimal_field_becomes_float_without_decimal_only_constraints():
    mutants = made(
        """
        Amount = Annotated[Decimal, Field(gt=0, decimal_places=2)]

        class Line(BaseModel):
            unit_price: Decimal = Field(ge=0, max_digits=9, decimal_places=2)
        """,
        "float-for-decimal",
    )
    assert sorted(mutants) == [
        "float-for-decimal at 2:19: Decimal -> float",
        "float-for-decimal at 5:16: Decimal -> float",
    ]
    assert "Amount = Annotated[float, Field(gt=0)]" in mutants["float-for-decimal at 2:19: Decimal -> float"]
    assert "unit_price: float = Field(ge=0)" in mutants["float-for-decimal at 5:16: Decimal -> float"]


# -- skip-await-cleanup ---------------------------------------------------------------------------


def test_a_cleanup_is_not_awaited_or_not_done():
    mutants = made(
        """
        async def stop(server, task):
            task.cancel()
            await asyncio.wait({task})
            server.close()
            await server.wait_closed()
            result = await server.result()
            return result
        """,
        "skip-await-cleanup",
    )
    assert list(mutants) == [
        "skip-await-cleanup at 4:4: await asyncio.wait({task}) -> asyncio.wait({task})",
        "skip-await-cleanup at 4:4: await asyncio.wait({task}) -> (removed)",
        "skip-await-cleanup at 6:4: await server.wait_closed() -> server.wait_closed()",
        "skip-await-cleanup at 6:4: await server.wait_closed() -> (removed)",
    ]


def test_any_await_in_a_finally_is_a_cleanup():
    mutants = made(
        """
        async def use(pool, job):
            connection = await pool.acquire()
            try:
                return await job(connection)
            finally:
                await asyncio.shield(pool.give_back(connection))
        """,
        "skip-await-cleanup",
    )
    # removing the only statement of the finally is drop-finally's mutant: made once, by it
    assert list(mutants) == [
        "skip-await-cleanup at 7:8: await asyncio.shield(pool.give_back(connection)) "
        "-> asyncio.shield(pool.give_back(connection))"
    ]
