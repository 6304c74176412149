from autograder.sandbox import protocol


def test_bytes_and_tuples_round_trip():
    message = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
    decoded = protocol.loads(protocol.dumps(message))
    assert decoded == {"type": "http.response.start", "status": 200, "headers": [[b"content-type", b"text/plain"]]}


def test_bytearray_and_memoryview_become_bytes():
    decoded = protocol.loads(protocol.dumps({"a": bytearray(b"x"), "b": memoryview(b"y")}))
    assert decoded == {"a": b"x", "b": b"y"}


def test_objects_cross_as_descriptions_only():
    class Sneaky:
        def __eq__(self, other):
            return True

    decoded = protocol.loads(protocol.dumps({"value": Sneaky()}))["value"]
    assert isinstance(decoded, protocol.Opaque)
    assert decoded.type_name == "Sneaky"
    assert decoded != 1 and decoded != "anything"


def test_subclasses_of_plain_types_arrive_plain():
    class AlwaysEqual(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    decoded = protocol.loads(protocol.dumps({"value": AlwaysEqual(3)}))["value"]
    assert type(decoded) is int and decoded == 3 and decoded != 4


def test_a_line_must_be_an_object():
    import pytest

    with pytest.raises(ValueError):
        protocol.loads(b"[1, 2]\n")
