"""Semantic mutation operators: the mistakes learners make by keeping part of a promise.

``autograder.mutation``'s syntactic operators make one small edit of one node (a flipped
comparison, a removed statement). What gets through a hidden suite that kills all of those are
mistakes of another kind, found by plausible wrong answers written from the task statements
(issue 25): a cleanup that runs only on the happy path, a write outside its transaction, one
deadline per call instead of one overall, a pattern that accepts more than it should, state
that outlives a call. Each operator here makes one such mistake in a reference solution.

An operator takes the parsed cell and yields ``Edit``\\ s: the whole cell with the mistake
made, the original nodes it changed or moved (``at``: all of them inside the solution region,
the first naming the place), and what it looked like before and after, for the mutant's id
(``<operator> at <line>:<col>: <before> -> <after>``, the style of the syntactic ones). An
operator works on a copy (``Edited``) and never on the tree it reads. It may make a program
that does not compile (a ``nonlocal`` left without its binding): ``autograder.mutation``
drops those, and any program made twice.
"""

from __future__ import annotations

import ast
import copy
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar, cast

Node = TypeVar("Node", bound=ast.AST)


@dataclass(frozen=True)
class Edit:
    operator: str
    at: tuple[ast.AST, ...]  # original nodes changed or moved: all inside the solution; the first names the place
    before: str
    after: str
    tree: ast.Module  # the whole cell with the mistake made


class Edited:
    """A deep copy of a tree, and the way from each of its original nodes to its copy
    (``ast.walk`` visits two equal trees in the same order)."""

    def __init__(self, tree: ast.Module):
        self.tree = copy.deepcopy(tree)
        self._twins = {id(old): new for old, new in zip(ast.walk(tree), ast.walk(self.tree), strict=True)}

    def __getitem__(self, node: Node) -> Node:
        return cast(Node, self._twins[id(node)])  # a deep copy: a node of the same class


def snippet(node: ast.AST | list[ast.stmt] | None) -> str:
    """A node (or statements) on one line, at most 60 characters, as mutant ids show it."""
    if node is None:
        text = "(removed)"
    elif isinstance(node, list):
        text = "; ".join(ast.unparse(each) for each in node)
    else:
        text = ast.unparse(node)
    return short(text)


def short(text: str) -> str:
    text = text.replace("\n", "; ")
    return text if len(text) <= 60 else text[:57] + "..."


# -- reading a tree -------------------------------------------------------------------------------

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
Function = ast.FunctionDef | ast.AsyncFunctionDef
SCOPES = (*FUNCTIONS, ast.Lambda, ast.ClassDef)
LOOPS = (ast.For, ast.AsyncFor, ast.While)
WITHS = (ast.With, ast.AsyncWith)


def statement_lists(tree: ast.AST) -> Iterator[tuple[ast.AST, str, list[ast.stmt]]]:
    """Every list of statements in the tree: (its owner, the owner's field, the list)."""
    for owner in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            value = getattr(owner, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                yield owner, field, value


def parents(tree: ast.AST) -> dict[int, ast.AST]:
    return {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def callee(node: ast.AST) -> str:
    """The name a call calls (``x.y.close()``: "close"), or ""."""
    if not isinstance(node, ast.Call):
        return ""
    function = node.func
    return (
        function.attr if isinstance(function, ast.Attribute) else function.id if isinstance(function, ast.Name) else ""
    )


def own_scope(function: Function) -> Iterator[ast.AST]:
    """The nodes of a function's own scope: not the bodies of the functions, lambdas and classes
    defined in it (their decorators and defaults are evaluated in it, so they are)."""
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, FUNCTIONS):
            stack += [*node.decorator_list, *node.args.defaults, *filter(None, node.args.kw_defaults)]
        elif isinstance(node, ast.ClassDef):
            stack += [*node.decorator_list, *node.bases]
        elif not isinstance(node, ast.Lambda):
            stack += ast.iter_child_nodes(node)


def parameters(function: Function | ast.Lambda) -> set[str]:
    arguments = function.args
    named = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
    return {each.arg for each in named if each is not None}


def bound_names(function: Function) -> set[str]:
    """The names local to a function: its parameters and what its own scope binds."""
    names = parameters(function)
    for node in own_scope(function):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (*FUNCTIONS, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def loaded_names(node: ast.AST) -> set[str]:
    return {each.id for each in ast.walk(node) if isinstance(each, ast.Name) and isinstance(each.ctx, ast.Load)}


def stores(nodes: Iterable[ast.AST], name: str) -> list[ast.AST]:
    return [
        node for node in nodes if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load)
    ]


def after_docstring(body: list[ast.stmt]) -> int:
    first = body[0] if body else None
    return int(
        isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    )


def is_pass(body: list[ast.stmt]) -> bool:
    return all(isinstance(statement, ast.Pass) for statement in body)


def single_name_assignment(statement: ast.stmt) -> str | None:
    """The name ``statement`` assigns, if it is ``name = value`` (or annotated, with a value)."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
        return statement.targets[0].id
    if isinstance(statement, ast.AnnAssign) and statement.value is not None and isinstance(statement.target, ast.Name):
        return statement.target.id
    return None


# -- the operators --------------------------------------------------------------------------------


def drop_cleanup_body(tree: ast.Module) -> Iterator[Edit]:
    """A ``finally`` or ``except`` body that does nothing: the cleanup or rollback runs on no path
    (learners write it for the happy path and lose it on the others)."""
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Try, ast.TryStar)):
            continue
        if node.finalbody and not is_pass(node.finalbody):
            edited = Edited(tree)
            edited[node].finalbody = [ast.Pass()]
            yield Edit("drop-finally", tuple(node.finalbody), snippet(node.finalbody), "pass", edited.tree)
        for handler in node.handlers:
            if not is_pass(handler.body):
                edited = Edited(tree)
                edited[handler].body = [ast.Pass()]
                caught = f"except {ast.unparse(handler.type)}" if handler.type else "except"
                yield Edit("drop-except", (handler,), f"{caught}: {snippet(handler.body)}", "pass", edited.tree)


def _transaction_step(statement: ast.stmt) -> str | None:
    """ "begin" or "commit" for a statement that opens or ends a transaction (or takes or gives
    back a lock) by an explicit call: ``db.execute("BEGIN IMMEDIATE")``, ``await conn.begin()``,
    ``lock.acquire()``; None for any other statement."""
    if not isinstance(statement, ast.Expr):
        return None
    call = statement.value.value if isinstance(statement.value, ast.Await) else statement.value
    name = callee(call)
    if name in ("begin", "acquire"):
        return "begin"
    if name in ("commit", "release"):
        return "commit"
    if (
        name in ("execute", "exec_driver_sql", "executescript")
        and isinstance(call, ast.Call)
        and call.args
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
        and call.args[0].value.split()
    ):
        word = call.args[0].value.split()[0].upper().rstrip(";")
        return {"BEGIN": "begin", "START": "begin", "COMMIT": "commit", "END": "commit"}.get(word)
    return None


def move_out_of_block(tree: ast.Module) -> Iterator[Edit]:
    """A statement done outside the block that should hold it: the last statement of a ``with``
    (a lock, a session, a pool, a deadline) moved after it; the first statement after an
    explicit BEGIN (or ``begin()``, ``acquire()``) moved before it; the statement before an
    explicit COMMIT (or ``commit()``, ``release()``) moved after it."""
    for owner, field, body in statement_lists(tree):
        for index, statement in enumerate(body):
            if isinstance(statement, WITHS):
                edited = Edited(tree)
                block = edited[statement]
                moved = block.body.pop()
                block.body = block.body or [ast.Pass()]
                getattr(edited[owner], field).insert(index + 1, moved)
                items = ", ".join(ast.unparse(item) for item in statement.items)
                yield Edit(
                    "move-out-of-with",
                    (statement,),
                    snippet(statement.body[-1]),
                    short(f"after with {items}"),
                    edited.tree,
                )
            step = _transaction_step(statement)
            if step == "begin" and index + 1 < len(body):
                following = body[index + 1]
                inner = following if isinstance(following, (ast.Try, ast.TryStar)) else None
                first = inner.body[0] if inner else following
                if _transaction_step(first) is not None:
                    continue
                edited = Edited(tree)
                if inner:
                    edited[inner].body.pop(0)
                    edited[inner].body = edited[inner].body or [ast.Pass()]
                else:
                    getattr(edited[owner], field).pop(index + 1)
                getattr(edited[owner], field).insert(index, edited[first])
                yield Edit(
                    "move-before-begin", (first, statement), snippet(first), f"before {snippet(statement)}", edited.tree
                )
            elif step == "commit" and index > 0 and _transaction_step(body[index - 1]) is None:
                edited = Edited(tree)
                statements = getattr(edited[owner], field)
                statements[index - 1], statements[index] = statements[index], statements[index - 1]
                yield Edit(
                    "move-after-commit",
                    (body[index - 1], statement),
                    snippet(body[index - 1]),
                    f"after {snippet(statement)}",
                    edited.tree,
                )


DEADLINES = {"timeout", "timeout_at", "fail_after", "move_on_after", "fail_at", "move_on_at"}
CLOCKS = {"monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "time", "time_ns"}


def _innermost_body(function: Function) -> list[ast.stmt]:
    """The body that does a helper's work: inside the ``with`` blocks its body is made of only."""
    body = function.body
    while len(body) == 1 and isinstance(body[0], WITHS):
        body = body[0].body
    return body


def deadline_per_call(tree: ast.Module) -> Iterator[Edit]:
    """One deadline per call where the task sets one overall: a ``with asyncio.timeout(...)``
    around a loop moved inside the loop, or around the tasks of a helper coroutine moved into
    that helper; ``wait_for(gather(*(... for ...)), t)`` made a ``wait_for`` per awaitable; a
    deadline computed once before a loop computed again on every turn."""
    up = parents(tree)
    for owner, field, body in statement_lists(tree):
        for index, statement in enumerate(body):
            if (
                isinstance(statement, WITHS)
                and len(statement.items) == 1
                and callee(statement.items[0].context_expr) in DEADLINES
            ):
                yield from _timeout_per_call(tree, owner, field, index, statement, up)
            name = single_name_assignment(statement)
            value = statement.value if isinstance(statement, (ast.Assign, ast.AnnAssign)) else None
            if name and value and any(callee(node) in CLOCKS for node in ast.walk(value)):
                for later in body[index + 1 :]:
                    if isinstance(later, LOOPS) and name in loaded_names(later) and not stores(ast.walk(later), name):
                        edited = Edited(tree)
                        getattr(edited[owner], field).remove(edited[statement])
                        edited[later].body.insert(0, edited[statement])
                        yield Edit(
                            "deadline-per-call",
                            (statement, later),
                            snippet(statement),
                            "(computed again on every turn of the loop)",
                            edited.tree,
                        )
                        break
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and callee(node) == "wait_for"
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Call)
            and callee(node.args[0]) == "gather"
        ):
            gather = node.args[0]
            spread = [
                arg.value
                for arg in gather.args
                if isinstance(arg, ast.Starred) and isinstance(arg.value, (ast.ListComp, ast.GeneratorExp, ast.SetComp))
            ]
            if len(spread) == 1:
                edited = Edited(tree)
                comprehension = edited[spread[0]]
                comprehension.elt = ast.Call(
                    copy.deepcopy(edited[node].func), [comprehension.elt, copy.deepcopy(edited[node].args[1])], []
                )
                _put(edited, up, node, edited[gather])
                yield Edit("deadline-per-call", (node,), snippet(node), snippet(edited[gather]), edited.tree)


def _put(edited: Edited, up: dict[int, ast.AST], node: ast.AST, replacement: ast.AST) -> None:
    """Put ``replacement`` where the original ``node`` is, in the edited copy."""
    parent = edited[up[id(node)]]
    target = edited[node]
    for name, value in ast.iter_fields(parent):
        if value is target:
            setattr(parent, name, replacement)
            return
        if isinstance(value, list) and any(item is target for item in value):
            value[next(i for i, item in enumerate(value) if item is target)] = replacement
            return


def _enclosing_function(node: ast.AST, up: dict[int, ast.AST]) -> Function | None:
    parent = up.get(id(node))
    while parent is not None and not isinstance(parent, FUNCTIONS):
        parent = up.get(id(parent))
    return parent


def _timeout_per_call(
    tree: ast.Module, owner: ast.AST, field: str, index: int, block: ast.With | ast.AsyncWith, up: dict[int, ast.AST]
) -> Iterator[Edit]:
    """A ``with <deadline>`` block's deadline moved into the first loop of its body, and into
    the helper coroutine (defined beside it) that the block calls."""
    around = short(f"with {ast.unparse(block.items[0])}")
    function = _enclosing_function(block, up)
    helpers = {
        node.name: node for node in (function.body if function else []) if isinstance(node, ast.AsyncFunctionDef)
    }
    loops = [statement for statement in block.body if isinstance(statement, LOOPS)]
    called = [helpers[name] for name in sorted({callee(node) for node in ast.walk(block)} & helpers.keys())]
    for loop in loops[:1]:
        edited = Edited(tree)
        moved = edited[block]
        edited[loop].body = [type(block)(items=copy.deepcopy(moved.items), body=edited[loop].body)]
        getattr(edited[owner], field)[index : index + 1] = moved.body
        yield Edit("deadline-per-call", (block,), around, "(one per turn of the loop)", edited.tree)
    for helper in called[:1]:
        edited = Edited(tree)
        moved = edited[block]
        work = _innermost_body(edited[helper])
        work[:] = [type(block)(items=copy.deepcopy(moved.items), body=list(work))]
        getattr(edited[owner], field)[index : index + 1] = moved.body
        yield Edit("deadline-per-call", (block, helper), around, f"(one per call of {helper.name})", edited.tree)


REGEX_FUNCTIONS = {"compile", "match", "fullmatch", "search", "findall", "finditer", "sub", "subn", "split"}


def _unanchored(pattern: str) -> Iterator[str]:
    if pattern.startswith("^"):
        yield pattern[1:]
    elif pattern.startswith("\\A"):
        yield pattern[2:]
    trailing_backslashes = len(pattern[:-1]) - len(pattern[:-1].rstrip("\\"))
    if pattern.endswith("$") and trailing_backslashes % 2 == 0:
        yield pattern[:-1]
    elif pattern.endswith(("\\Z", "\\z")) and (len(pattern[:-2]) - len(pattern[:-2].rstrip("\\"))) % 2 == 0:
        yield pattern[:-2]


def unanchor_regex(tree: ast.Module) -> Iterator[Edit]:
    """A pattern that accepts more than the whole string: an anchor (``^``, ``$``, ``\\A``,
    ``\\Z``) dropped from a pattern given to ``re`` or as ``pattern=``, ``fullmatch`` called as
    ``search`` or ``match``, ``re.match`` as ``re.search``."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        patterns = [keyword.value for keyword in node.keywords if keyword.arg in ("pattern", "regex")]
        function = node.func
        is_re = (
            isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name) and function.value.id == "re"
        )
        if is_re and isinstance(function, ast.Attribute) and function.attr in REGEX_FUNCTIONS and node.args:
            patterns.append(node.args[0])
        for pattern in patterns:
            if isinstance(pattern, ast.Constant) and isinstance(pattern.value, str):
                for looser in _unanchored(pattern.value):
                    edited = Edited(tree)
                    edited[pattern].value = looser
                    yield Edit("unanchor-regex", (pattern,), repr(pattern.value), repr(looser), edited.tree)
        if isinstance(function, ast.Attribute) and (
            function.attr == "fullmatch" or (is_re and function.attr == "match")
        ):
            for looser in ["search", "match"] if function.attr == "fullmatch" else ["search"]:
                edited = Edited(tree)
                edited[function].attr = looser
                yield Edit("unanchor-regex", (node,), f".{function.attr}(...)", f".{looser}(...)", edited.tree)


def _observable_dicts(tree: ast.Module) -> list[ast.Dict]:
    """Dict literals whose key order reaches the outside: returned, or given to something that
    writes JSON (a call whose name says json or dump), directly or through a name."""
    found, names = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict):
            found.append(node.value)
        elif isinstance(node, ast.Call) and any(word in callee(node).lower() for word in ("json", "dump")):
            for value in [*node.args, *(keyword.value for keyword in node.keywords)]:
                if isinstance(value, ast.Dict):
                    found.append(value)
                elif isinstance(value, ast.Name):
                    names.add(value.id)
    for node in ast.walk(tree):
        if (
            isinstance(node, (ast.Assign, ast.AnnAssign))
            and isinstance(node.value, ast.Dict)
            and (name := single_name_assignment(node)) is not None
            and name in names
        ):
            found.append(node.value)
    return found


def reorder_fields(tree: ast.Module) -> Iterator[Edit]:
    """Two adjacent fields of a class (a model, a dataclass) swapped, or two adjacent keys of a
    dict whose order reaches the outside: the order the output, or a validator, sees."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for first, second in itertools.pairwise(node.body):
                if (
                    isinstance(first, ast.AnnAssign)
                    and isinstance(second, ast.AnnAssign)
                    and isinstance(first.target, ast.Name)
                    and isinstance(second.target, ast.Name)
                ):
                    edited = Edited(tree)
                    body = edited[node].body
                    i = body.index(edited[first])
                    body[i], body[i + 1] = body[i + 1], body[i]
                    yield Edit(
                        "swap-fields",
                        (first, second),
                        f"{first.target.id}, {second.target.id}",
                        f"{second.target.id}, {first.target.id}",
                        edited.tree,
                    )
    for literal in _observable_dicts(tree):
        for i in range(len(literal.keys) - 1):
            key, next_key = literal.keys[i], literal.keys[i + 1]
            if key is None or next_key is None:
                continue  # a ** entry: swapping it changes which value wins, another mistake
            edited = Edited(tree)
            twin = edited[literal]
            twin.keys[i], twin.keys[i + 1] = twin.keys[i + 1], twin.keys[i]
            twin.values[i], twin.values[i + 1] = twin.values[i + 1], twin.values[i]
            shown = [ast.unparse(key), ast.unparse(next_key)]
            yield Edit(
                "swap-keys",
                (key, literal.values[i + 1]),
                ", ".join(shown),
                ", ".join(reversed(shown)),
                edited.tree,
            )


def move_state(tree: ast.Module) -> Iterator[Edit]:
    """State kept at the wrong level: ``name = value`` at the top of a function, when it makes
    state (``_is_state``), moved to module level (shared by every call and every app made;
    ``global name`` added where the function rebinds it); or any such assignment moved into
    the one nested function that uses it (made again on every call of that function, a
    request, instead of once per app)."""
    up = parents(tree)
    for function in ast.walk(tree):
        if not isinstance(function, FUNCTIONS):
            continue
        local = bound_names(function)
        enclosing = set()
        outer = up.get(id(function))
        while outer is not None:
            if isinstance(outer, FUNCTIONS):
                enclosing |= bound_names(outer)
            outer = up.get(id(outer))
        scope = list(own_scope(function))
        nested = [node for node in scope if isinstance(node, FUNCTIONS)]
        for statement in function.body:
            name = single_name_assignment(statement)
            if name is None or name in parameters(function):
                continue
            if not isinstance(statement, (ast.Assign, ast.AnnAssign)) or statement.value is None:
                continue  # not so: single_name_assignment found a name (the checker cannot tell)
            value = statement.value
            target = statement.targets[0] if isinstance(statement, ast.Assign) else statement.target
            others = [node for node in stores(scope, name) if node is not target]  # rebound in the function
            if (
                _is_state(function, statement, name, bool(others))
                and not loaded_names(value) & (local | enclosing)
                and not any(isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom)) for node in ast.walk(value))
            ):
                yield _to_module_level(tree, up, function, statement, name, rebound=bool(others))
            users = [
                inner
                for inner in nested
                if any(isinstance(node, ast.Name) and node.id == name for node in ast.walk(inner))
            ]
            used_here = [
                node
                for node in scope
                if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)
            ]
            if len(users) == 1 and not others and not used_here:
                inner = users[0]
                if (
                    not stores(ast.walk(inner), name)
                    and not loaded_names(value) & bound_names(inner)
                    and not any(isinstance(node, ast.Nonlocal) and name in node.names for node in ast.walk(inner))
                ):
                    edited = Edited(tree)
                    edited[function].body.remove(edited[statement])
                    inner_body = edited[inner].body
                    inner_body.insert(after_docstring(inner_body), edited[statement])
                    yield Edit(
                        "state-per-call",
                        (statement, inner),
                        snippet(statement),
                        f"(made on every call of {inner.name})",
                        edited.tree,
                    )


# Methods that change the object they are called on (a route decorator registers a route).
MUTATORS = {
    "append",
    "extend",
    "insert",
    "add",
    "update",
    "setdefault",
    "pop",
    "popitem",
    "clear",
    "remove",
    "discard",
    "set",
    "put",
    "put_nowait",
    "include_router",
    "mount",
    "add_route",
    "add_api_route",
    "add_middleware",
    "add_exception_handler",
    "register",
}


def _is_state(function: Function, statement: ast.Assign | ast.AnnAssign, name: str, rebound: bool) -> bool:
    """Whether ``name = value`` at the top of ``function`` makes state, whose place matters:
    a name the function rebinds, a value read from a clock, or a new object that the function
    (or a function inside it) changes, holds as a context manager (a lock), or hands out."""
    value = statement.value
    if rebound or (value is not None and any(callee(node) in CLOCKS for node in ast.walk(value))):
        return True
    if not isinstance(value, (ast.Call, ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)):
        return False

    def named(node: ast.AST | None) -> bool:
        return isinstance(node, ast.Name) and node.id == name

    for node in ast.walk(function):
        if node is statement:
            continue
        if (
            isinstance(node, (ast.Subscript, ast.Attribute))
            and not isinstance(node.ctx, ast.Load)
            and named(node.value)
        ):
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and named(node.func.value)
            and node.func.attr in MUTATORS
        ):
            return True
        if isinstance(node, FUNCTIONS) and any(
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and named(decorator.func.value)
            for decorator in node.decorator_list
        ):
            return True
        if isinstance(node, ast.withitem) and named(node.context_expr):
            return True
        if isinstance(node, (ast.Yield, ast.Return)) and named(node.value):
            return True
    return False


def _to_module_level(
    tree: ast.Module, up: dict[int, ast.AST], function: Function, statement: ast.stmt, name: str, rebound: bool
) -> Edit:
    edited = Edited(tree)
    edited[function].body.remove(edited[statement])
    if rebound:
        body = edited[function].body
        body.insert(after_docstring(body), ast.Global([name]))
    top: ast.AST = function
    while up.get(id(top)) is not tree:
        top = up[id(top)]
    module = edited.tree.body
    module.insert(module.index(cast(ast.stmt, edited[top])), edited[statement])  # the module's child: a statement
    return Edit(
        "state-to-module",
        (statement,),
        snippet(statement),
        "(module level, global)" if rebound else "(module level)",
        edited.tree,
    )


TEXT_OR_BYTES = {"loads", "validate_json", "model_validate_json"}


def decode_or_encode_first(tree: ast.Module) -> Iterator[Edit]:
    """str and bytes mixed up: an ``.encode(...)`` or ``.decode(...)`` dropped, or one put
    first on a parameter that a parser accepts as either (``json.loads``,
    ``validate_json``): the answer then takes only one of the two."""
    for function in ast.walk(tree):
        if not isinstance(function, FUNCTIONS):
            continue
        given = parameters(function)
        for node in own_scope(function):
            if (
                isinstance(node, ast.Call)
                and callee(node) in TEXT_OR_BYTES
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id in given
            ):
                for method in ("decode", "encode"):
                    argument = node.args[0]
                    edited = Edited(tree)
                    edited[node].args[0] = ast.Call(
                        ast.Attribute(ast.Name(argument.id, ast.Load()), method, ast.Load()), [], []
                    )
                    yield Edit(f"{method}-first", (argument,), argument.id, f"{argument.id}.{method}()", edited.tree)
    up = parents(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and callee(node) in ("encode", "decode")
            and isinstance(node.func, ast.Attribute)
            and id(node) in up
            and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "codecs")
        ):
            edited = Edited(tree)
            _put(edited, up, node, edited[node.func.value])
            yield Edit(f"skip-{node.func.attr}", (node,), snippet(node), snippet(node.func.value), edited.tree)


DECIMAL_ONLY = {"decimal_places", "max_digits"}


def _type_positions(tree: ast.Module) -> Iterator[ast.AST]:
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign):
            yield node.annotation
        elif isinstance(node, ast.arg) and node.annotation is not None:
            yield node.annotation
        elif isinstance(node, FUNCTIONS) and node.returns is not None:
            yield node.returns
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Annotated":
            yield node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice


def float_for_decimal(tree: ast.Module) -> Iterator[Edit]:
    """Money through ``float``: ``Decimal(x)`` made ``Decimal(float(x))``, a ``Decimal(...)`` in
    arithmetic made ``float(...)``, and ``Decimal`` as a field's or parameter's type made
    ``float`` (without the constraints only ``Decimal`` takes, as a learner would write it)."""
    up = parents(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and callee(node) == "Decimal"
            and len(node.args) == 1
            and callee(node.args[0]) != "float"
        ):
            edited = Edited(tree)
            edited[node].args[0] = ast.Call(ast.Name("float", ast.Load()), [edited[node].args[0]], [])
            yield Edit("float-for-decimal", (node,), snippet(node), snippet(edited[node]), edited.tree)
            if isinstance(up.get(id(node)), ast.BinOp):
                edited = Edited(tree)
                edited[node].func = ast.Name("float", ast.Load())
                yield Edit("float-for-decimal", (node,), snippet(node), snippet(edited[node]), edited.tree)
    for position in _type_positions(tree):
        for name in ast.walk(position):
            if isinstance(name, ast.Name) and name.id == "Decimal":
                edited = Edited(tree)
                edited[name].id = "float"
                declaration = up.get(id(position))
                if isinstance(declaration, ast.Tuple):  # Annotated[Decimal, Field(...)]
                    declaration = up.get(id(declaration))
                for call in ast.walk(edited[declaration]) if declaration is not None else ():
                    if isinstance(call, ast.Call):
                        call.keywords = [keyword for keyword in call.keywords if keyword.arg not in DECIMAL_ONLY]
                yield Edit("float-for-decimal", (name,), "Decimal", "float", edited.tree)


CLEANUPS = {"close", "aclose", "wait_closed", "shutdown", "release", "dispose", "stop", "terminate", "join"}


def _cleanup_awaits(tree: ast.Module) -> Iterator[ast.Await]:
    """Awaits that finish a cleanup: of a call named like one (also wrapped, as in
    ``shield(pool.release(c))``), any await in a ``finally``, and waiting for a task just
    cancelled (``task.cancel()`` then ``await asyncio.wait({task})``)."""
    in_finally = {
        id(node)
        for each in ast.walk(tree)
        if isinstance(each, (ast.Try, ast.TryStar))
        for statement in each.finalbody
        for node in ast.walk(statement)
    }
    cancelled_then: set[int] = set()
    for _, _, body in statement_lists(tree):
        for first, second in itertools.pairwise(body):
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Call)
                and callee(first.value) == "cancel"
                and isinstance(first.value.func, ast.Attribute)
            ):
                task = ast.unparse(first.value.func.value)
                cancelled_then |= {
                    id(node)
                    for node in ast.walk(second)
                    if isinstance(node, ast.Await) and task in {ast.unparse(each) for each in ast.walk(node.value)}
                }
    for node in ast.walk(tree):
        if isinstance(node, ast.Await) and (
            id(node) in in_finally
            or id(node) in cancelled_then
            or any(callee(each) in CLEANUPS for each in ast.walk(node.value))
        ):
            yield node


def skip_awaiting_cleanup(tree: ast.Module) -> Iterator[Edit]:
    """A cleanup not waited for: its ``await`` dropped (the coroutine is made and never run, or
    runs on its own while the caller goes on) or the whole statement dropped."""
    up = parents(tree)
    for node in _cleanup_awaits(tree):
        edited = Edited(tree)
        _put(edited, up, node, edited[node.value])
        yield Edit("skip-await-cleanup", (node,), snippet(node), snippet(node.value), edited.tree)
        statement = up.get(id(node))
        if isinstance(statement, ast.Expr):
            edited = Edited(tree)
            statements = next(
                getattr(edited[owner], field)
                for owner, field, body in statement_lists(tree)
                if any(each is statement for each in body)
            )
            statements.remove(edited[statement])
            statements[:] = statements or [ast.Pass()]
            yield Edit("skip-await-cleanup", (node,), snippet(node), "(removed)", edited.tree)


OPERATORS: list[Callable[[ast.Module], Iterator[Edit]]] = [
    drop_cleanup_body,
    move_out_of_block,
    deadline_per_call,
    unanchor_regex,
    reorder_fields,
    move_state,
    decode_or_encode_first,
    float_for_decimal,
    skip_awaiting_cleanup,
]
