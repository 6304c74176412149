"""Verdicts worded from measurements: the one place that says "faster", "slower", TRUE or FALSE.

    effect = Speedup.of(comparison, "model_validate", "model_construct")
    print(effect)                  # "slower, 2.3x (2.1x to 2.5x)", never "faster by 0.43x"
    print(Claim("200 tests run in 4 seconds", within(wall_times, at_most=4.0), "..."))

A lesson never types a verdict word: it hands its numbers here, and the words follow from
them (``tests/lessons/test_verdicts.py`` fails on a verdict word typed in a notebook's code).
Three rules, and why:

- **A direction comes from the size of the effect, never from counting rounds.** Every
  verdict carries an *interval*: where the median of the samples lies, at
  ``CONFIDENCE`` or better, read from the sorted samples themselves (no assumption about
  their distribution; with 7 rounds it is the lowest to the highest). "faster" needs the
  whole interval above the noise band, "slower" the whole of it below; an interval that
  reaches into the band is "no clear difference". Six rounds out of seven at 1.01x do not
  make a tactic faster.
- **A noise band.** Two runs of the same code differ by a few percent on a busy machine, so
  an effect smaller than ``NOISE`` (5 %) is not one, however steady.
- **TRUE or FALSE about a measured quantity only with repeated samples and a margin.** A
  claim such as "200 tests in 4 seconds" is TRUE when the interval of at least
  ``MIN_SAMPLES`` samples lies inside the claimed range by the margin, FALSE when it lies
  outside by the margin, and "not shown" otherwise: one run at 4.0 s decides nothing.

Claims about behaviour that is observed rather than measured (a function exists, an
exception is raised, an event comes before another) are worded by ``fact`` and combined by
``parts`` and ``any_of``.
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "CONFIDENCE",
    "MIN_SAMPLES",
    "NOISE",
    "Claim",
    "Direction",
    "Speedup",
    "Verdict",
    "any_of",
    "fact",
    "interval",
    "parts",
    "times",
    "within",
]

NOISE = 0.05  # effects within 5 % either way are no effect
CONFIDENCE = 0.90  # how surely the median lies inside a verdict's interval
MIN_SAMPLES = 3  # fewer samples decide nothing


class Verdict(enum.StrEnum):  # str() and f"{verdict:10}" give (and pad) the word, as for a str
    """What a claim is found to be, for the installed versions on this machine."""

    TRUE = "TRUE"
    FALSE = "FALSE"
    PARTLY_TRUE = "PARTLY TRUE"  # some of its parts hold, others do not
    NOT_SHOWN = "not shown"  # the measurement cannot tell (too few samples, or too close to call)


class Direction(enum.StrEnum):
    """Which way an effect goes, judged from its interval against the noise band."""

    FASTER = "faster"
    SLOWER = "slower"
    NONE = "no clear difference"


def times(ratio: float) -> str:
    """A ratio as a reader takes it in: '1.03x' near 1 (where the second decimal decides),
    '2.3x' below 10, '35x' above."""
    if not math.isfinite(ratio):
        return f"{ratio}x"
    if ratio < 1.2:
        return f"{ratio:.2f}x"
    if ratio < 9.95:
        return f"{ratio:.1f}x"
    return f"{ratio:.0f}x"


def interval(samples: Iterable[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """(low, high): where the median of what was sampled lies, with at least ``confidence``.

    The sorted samples' k-th lowest and k-th highest, with the largest k that keeps the
    confidence (the number of samples below the median follows a binomial law, whatever the
    samples' own distribution). With 5 to 8 samples that is the lowest and the highest; with
    fewer samples no k reaches the confidence, and the interval is still the lowest to the
    highest (``MIN_SAMPLES`` stops a verdict on so few).
    """
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("an interval needs at least one sample")
    n = len(ordered)
    k = 1
    while k + 1 <= n // 2 and _coverage(k + 1, n) >= confidence:
        k += 1
    return ordered[k - 1], ordered[n - k]


def _coverage(k: int, n: int) -> float:
    """How surely the median lies between the k-th lowest and k-th highest of n samples."""
    outside = sum(math.comb(n, i) for i in range(k)) / (1 << n)  # fewer than k samples below it
    return 1 - 2 * outside


class _Compared(Protocol):
    """What ``Speedup.of`` needs of a ``coursekit.timing.Comparison``."""

    def round_ratios(self, numerator: str, denominator: str) -> list[float]: ...


@dataclass(frozen=True)
class Speedup:
    """How many times faster a candidate ran than a baseline, one ratio per round
    (the baseline's time over the candidate's: above 1, the candidate was faster)."""

    ratios: tuple[float, ...]
    noise: float = NOISE

    def __post_init__(self) -> None:
        if not self.ratios:
            raise ValueError("a speed-up needs at least one round")
        object.__setattr__(self, "ratios", tuple(self.ratios))

    @classmethod
    def of(cls, comparison: _Compared, baseline: str, candidate: str, *, noise: float = NOISE) -> Speedup:
        """From a ``coursekit.compare`` run: its rounds were interleaved, so each ratio pairs
        two timings taken at the same moment."""
        return cls(tuple(comparison.round_ratios(baseline, candidate)), noise)

    @classmethod
    def paired(cls, baseline: Sequence[float], candidate: Sequence[float], *, noise: float = NOISE) -> Speedup:
        """From times measured in pairs (trial by trial): the baseline's over the candidate's."""
        if len(baseline) != len(candidate):
            raise ValueError(f"{len(baseline)} baseline times for {len(candidate)} candidate times")
        return cls(tuple(b / c if c > 0 else math.inf for b, c in zip(baseline, candidate, strict=True)), noise)

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def interval(self) -> tuple[float, float]:
        return interval(self.ratios)

    @property
    def direction(self) -> Direction:
        low, high = self.interval
        if len(self.ratios) >= MIN_SAMPLES:
            if low > 1 + self.noise:
                return Direction.FASTER
            if high < 1 / (1 + self.noise):
                return Direction.SLOWER
        return Direction.NONE

    @property
    def factor(self) -> float:
        """How many times, in the direction: 2.3 for a candidate taking 2.3 times as long."""
        return 1 / self.median if self.direction is Direction.SLOWER else self.median

    def faster(self) -> Verdict:
        """The claim "the candidate is faster": TRUE when it clearly is, FALSE when the whole
        interval shows no gain beyond the noise (or a loss), not shown otherwise."""
        return self._claim(Direction.FASTER, gain=self.interval[1] <= 1 + self.noise)

    def slower(self) -> Verdict:
        """The claim "the candidate is slower", worded the same way."""
        return self._claim(Direction.SLOWER, gain=self.interval[0] >= 1 / (1 + self.noise))

    def _claim(self, claimed: Direction, gain: bool) -> Verdict:
        if len(self.ratios) < MIN_SAMPLES:
            return Verdict.NOT_SHOWN
        if self.direction is claimed:
            return Verdict.TRUE
        return Verdict.FALSE if gain else Verdict.NOT_SHOWN

    def __str__(self) -> str:
        low, high = self.interval
        if self.direction is Direction.SLOWER:
            low, high = 1 / high, 1 / low  # in times as long, as the word says
        return f"{self.direction}, {times(self.factor)} ({times(low)} to {times(high)})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def fact(holds: bool) -> Verdict:
    """A claim about what was observed directly (an exception raised, an order of events):
    TRUE or FALSE."""
    return Verdict.TRUE if holds else Verdict.FALSE


def within(
    samples: Iterable[float], *, at_least: float | None = None, at_most: float | None = None, margin: float = NOISE
) -> Verdict:
    """A claim that a measured quantity lies in a range ("in 4 seconds": ``at_most=4``;
    "5x to 50x": ``at_least=5, at_most=50``).

    TRUE when the samples' interval lies inside the range by ``margin`` (relative) on each
    side, FALSE when it lies beyond either end by the margin, not shown when it comes within
    the margin of an end, or with fewer than ``MIN_SAMPLES`` samples.
    """
    if at_least is None and at_most is None:
        raise ValueError("within needs at_least, at_most or both")
    values = list(samples)
    if len(values) < MIN_SAMPLES:
        return Verdict.NOT_SHOWN
    low, high = interval(values)
    above = at_most is not None and low > _beyond(at_most, margin)
    below = at_least is not None and high < _beyond(at_least, -margin)
    if above or below:
        return Verdict.FALSE
    inside_low = at_least is None or low >= _beyond(at_least, margin)
    inside_high = at_most is None or high <= _beyond(at_most, -margin)
    return Verdict.TRUE if inside_low and inside_high else Verdict.NOT_SHOWN


def _beyond(limit: float, margin: float) -> float:
    """``limit`` moved by ``margin`` of its size, up for a positive margin (for any sign)."""
    return limit + abs(limit) * margin


def parts(*verdicts: Verdict | bool) -> Verdict:
    """A claim made of several statements: TRUE when all hold, FALSE when none does,
    PARTLY TRUE when some hold and others not, not shown when the rest cannot be told."""
    found = [fact(v) if isinstance(v, bool) else Verdict(v) for v in verdicts]
    if not found:
        raise ValueError("a claim needs at least one part")
    held = any(v in (Verdict.TRUE, Verdict.PARTLY_TRUE) for v in found)
    failed = any(v in (Verdict.FALSE, Verdict.PARTLY_TRUE) for v in found)
    if held and failed:
        return Verdict.PARTLY_TRUE
    if failed:
        return Verdict.FALSE
    if Verdict.NOT_SHOWN in found:
        return Verdict.NOT_SHOWN
    return Verdict.TRUE


def any_of(verdicts: Iterable[Verdict | bool]) -> Verdict:
    """A claim that something *can* happen ("can be 30 to 60 percent"), tried in several
    cases: TRUE when one case shows it, FALSE when every case refutes it, not shown otherwise."""
    found = [fact(v) if isinstance(v, bool) else Verdict(v) for v in verdicts]
    if not found:
        raise ValueError("any_of needs at least one case")
    if any(v in (Verdict.TRUE, Verdict.PARTLY_TRUE) for v in found):
        return Verdict.TRUE
    return Verdict.FALSE if all(v is Verdict.FALSE for v in found) else Verdict.NOT_SHOWN


@dataclass(frozen=True)
class Claim:
    """A claim (in the article's words or ours), its verdict, and the evidence behind it.

    ``text`` is quoted, so it may say "faster" whatever was measured; the verdict and the
    evidence say what was."""

    text: str
    verdict: Verdict
    evidence: str

    @property
    def brief(self) -> str:
        """One line for a recap table: the verdict, then the claim."""
        return f"{self.verdict:11}  {self.text}"

    def __str__(self) -> str:
        return f"Claim: {self.text}\n  measured: {self.evidence}\n  verdict: {self.verdict}"
