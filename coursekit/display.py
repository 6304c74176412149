"""How the course shows a result: a status's symbol and word, and output that is rich in a
notebook and plain text anywhere else. Shared by the self-checks (``coursekit.checks``) and
the progress table (``coursekit.progress``)."""

from __future__ import annotations

SYMBOLS: dict[str, str] = {"pass": "✅", "todo": "⏳", "fail": "❌"}
# The words carry the meaning; the symbols only help the eye (a machine without an emoji font
# shows them as empty boxes). Every line and table that shows a symbol shows its word too.
WORDS: dict[str, str] = {"pass": "passes", "todo": "not solved yet", "fail": "fails"}


def display(text: str, html_text: str | None = None) -> None:
    """Show rich output in a notebook, plain text anywhere else."""
    try:
        from IPython import get_ipython
        from IPython.display import display as show
    except ImportError:
        get_ipython = None  # type: ignore[assignment]
    if get_ipython is None or get_ipython() is None:
        print(text)
        return
    bundle = {"text/plain": text}
    if html_text is not None:
        bundle["text/html"] = html_text
    show(bundle, raw=True)


class Shown(list):
    """What a function that has already displayed its results returns: a plain list that
    Jupyter does not show again.

    When the call is the last line of a cell, Jupyter would also display the returned value
    (its repr: objects, absolute paths). ``_ipython_display_`` doing nothing prevents that
    second, noisier copy. Everywhere else it is an ordinary list.
    """

    def _ipython_display_(self) -> None:
        pass
