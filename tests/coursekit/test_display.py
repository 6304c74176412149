"""How results are shown: every status has a symbol and a word; plain text outside a notebook."""

from __future__ import annotations

from coursekit.display import SYMBOLS, WORDS, display


def test_every_status_has_a_symbol_and_a_word():
    assert SYMBOLS.keys() == WORDS.keys() == {"pass", "todo", "fail"}


def test_outside_a_notebook_the_text_is_printed(capsys):
    display("plain words", "<b>rich words</b>")
    assert capsys.readouterr().out == "plain words\n"
