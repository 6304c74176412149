"""How the course shows a result: a status's symbol and word, and output that is rich in a
notebook and plain text anywhere else. Shared by the self-checks (``coursekit.checks``) and
the progress table (``coursekit.progress``)."""

from __future__ import annotations

from typing import Any

SYMBOLS: dict[str, str] = {"pass": "✅", "todo": "⏳", "fail": "❌"}
# The words carry the meaning; the symbols only help the eye (a machine without an emoji font
# shows them as empty boxes). Every line and table that shows a symbol shows its word too.
WORDS: dict[str, str] = {"pass": "passes", "todo": "not solved yet", "fail": "fails"}


def display(text: str, html_text: str | None = None) -> None:
    """Show rich output in a notebook, plain text anywhere else."""
    bundle = {"text/plain": text}
    if html_text is not None:
        bundle["text/html"] = html_text
    show_bundle(bundle)


def show_bundle(bundle: dict[str, str]) -> None:
    """Show a MIME bundle ({"text/html": ..., "text/plain": ...}) in a notebook, which picks the
    richest type its front end renders; anywhere else print its plain text."""
    try:
        from IPython import get_ipython
        from IPython.display import display as show
    except ImportError:
        print(bundle["text/plain"])
        return
    if get_ipython() is None:
        print(bundle["text/plain"])
        return
    show(bundle, raw=True)


class Shown(list[Any]):
    """What a function that has already displayed its results returns: a plain list that
    Jupyter does not show again.

    When the call is the last line of a cell, Jupyter would also display the returned value
    (its repr: objects, absolute paths). ``_ipython_display_`` doing nothing prevents that
    second, noisier copy. Everywhere else it is an ordinary list.
    """

    def _ipython_display_(self) -> None:
        pass
