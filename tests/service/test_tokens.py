"""Tokens are random and stored as hashes; a roster is read with messages that say what to fix."""

from __future__ import annotations

import pytest

from autograder.service.errors import BadRoster
from autograder.service.tokens import new_token, read_roster, token_hash


def test_tokens_are_unguessable_and_their_hashes_fixed_length():
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(token) >= 40 for token in tokens)
    assert token_hash("a") == token_hash("a") != token_hash("b") and len(token_hash("a")) == 64


def test_a_roster_names_people_and_marks_instructors(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("\ufeffname,instructor\nAda Lovelace,\nprof,yes\nGrace, TRUE \n", encoding="utf-8")
    assert read_roster(roster) == [("Ada Lovelace", False), ("prof", True), ("Grace", True)]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("who,role\nx,y\n", "no `name` column"),
        ("name\nada\n\n,\n", "line 4 has no name"),
    ],
)
def test_a_broken_roster_says_where(tmp_path, text, says):
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    with pytest.raises(BadRoster, match=says):
        read_roster(roster)
