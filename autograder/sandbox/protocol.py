"""The wire format between the grader and a sandbox: one JSON document per line.

JSON rather than pickle, because unpickling runs code chosen by whoever wrote the bytes, and
the sandbox's bytes are written by the submission. ASGI messages carry ``bytes`` (bodies,
header names and values), which JSON lacks, so they travel tagged:

    b"hi"              -> {"$bytes": "aGk="}
    any other object   -> {"$object": "<repr>", "$type": "<type name>"}

Tuples become lists (ASGI allows any iterable where it shows tuples). An object JSON cannot
carry arrives as a description, never as a live object: the trusted side can still say
"your header value was an int", and it can never be handed something that acts.
"""

from __future__ import annotations

import base64
import json
from typing import Any

MAX_LINE = 32 * 1024 * 1024  # the largest message either side accepts
# Exit statuses that tell the grader why a sandbox never became ready (``launch``; anything
# else is a crash of the grader's own code). REFUSED: the machine refused a step of the jail
# (an OSError while confining): the grader then tries a weaker mode. BLIND: confined, it
# cannot see a folder it must read.
REFUSED, BLIND = 3, 4

# One line of the protocol, decoded: a JSON object (a request, an event, an ASGI message in one).
Document = dict[str, Any]


def encode_value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if value is None or isinstance(value, (bool, int, float, str)):
        # Subclasses (an int whose __eq__ always says yes) survive only as their JSON text:
        # what the trusted side decodes is a plain int, str... with honest comparisons.
        return value
    if isinstance(value, (list, tuple)):
        return [encode_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode_value(item) for key, item in value.items()}
    try:
        shown = repr(value)
    except Exception:  # a repr that raises is the submission's problem, not ours
        shown = "<unprintable>"
    return {"$object": shown[:200], "$type": type(value).__name__}


def decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return [decode_value(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return base64.b64decode(value["$bytes"])
        if set(value) == {"$object", "$type"}:
            return Opaque(value["$type"], value["$object"])
        return {key: decode_value(item) for key, item in value.items()}
    return value


class Opaque:
    """Stands for an object that could not cross the boundary; only its type and repr did."""

    def __init__(self, type_name: str, shown: str) -> None:
        self.type_name = type_name
        self.shown = shown

    def __repr__(self) -> str:
        return f"<{self.type_name} {self.shown}>"


def dumps(document: Document) -> bytes:
    return (json.dumps(encode_value(document), separators=(",", ":")) + "\n").encode()


def loads(line: bytes) -> Document:
    document = decode_value(json.loads(line))
    if not isinstance(document, dict):
        raise ValueError("a protocol line must be a JSON object")
    return document
