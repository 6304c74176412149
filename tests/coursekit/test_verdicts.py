import math

import pytest

from coursekit import Claim, Speedup, Verdict, compare, fact, within
from coursekit.timing import Comparison, Timing
from coursekit.verdicts import Direction, any_of, interval, parts, times


def test_times_keeps_the_decimal_that_matters():
    assert times(1.0) == "1.00x"
    assert times(1.034) == "1.03x"
    assert times(0.43) == "0.43x"
    assert times(2.34) == "2.3x"
    assert times(9.94) == "9.9x"
    assert times(9.96) == "10x"
    assert times(35.4) == "35x"
    assert times(math.inf) == "infx"


def test_interval_is_the_whole_range_up_to_eight_samples_then_drops_extremes():
    assert interval([3.0, 1.0, 2.0]) == (1.0, 3.0)
    assert interval([5, 1, 4, 2, 3, 7, 6]) == (1, 7)
    # 10 samples: the 2nd lowest to the 2nd highest holds the median with 97.9 % (the 3rd: 89 %)
    assert interval(range(10)) == (1, 8)
    assert interval([4.0]) == (4.0, 4.0)
    with pytest.raises(ValueError):
        interval([])


def test_interval_keeps_at_least_the_asked_confidence():
    from coursekit.verdicts import _coverage

    for n in range(5, 60):
        low, high = interval(range(n))
        k = low + 1
        assert high == n - k
        assert _coverage(k, n) >= 0.90
        assert k + 1 > n // 2 or _coverage(k + 1, n) < 0.90  # the narrowest that keeps it


def test_a_clearly_faster_candidate_is_worded_faster_with_its_interval():
    effect = Speedup((1.6, 1.8, 1.7, 2.0, 1.9, 1.8, 1.75))
    assert effect.direction is Direction.FASTER
    assert str(effect) == "faster, 1.8x (1.6x to 2.0x)"
    assert effect.faster() is Verdict.TRUE and effect.slower() is Verdict.FALSE


def test_a_slower_candidate_reads_slower_never_faster_by_a_ratio_below_one():
    effect = Speedup((0.43, 0.41, 0.45, 0.44, 0.42, 0.43, 0.40))
    assert effect.direction is Direction.SLOWER
    assert effect.factor == pytest.approx(1 / 0.43)
    assert str(effect) == "slower, 2.3x (2.2x to 2.5x)"
    assert f"{effect}" == str(effect)
    assert effect.faster() is Verdict.FALSE and effect.slower() is Verdict.TRUE


def test_direction_comes_from_the_size_of_the_effect_not_from_counting_rounds():
    # Every round a hair above 1: the old "all rounds but one agree" rule said faster.
    steady_but_tiny = Speedup((1.01, 1.02, 1.01, 1.03, 1.02, 1.01, 1.02))
    assert steady_but_tiny.direction is Direction.NONE
    assert str(steady_but_tiny) == "no clear difference, 1.02x (1.01x to 1.03x)"
    assert steady_but_tiny.faster() is Verdict.FALSE  # no gain beyond the noise band, surely
    # Strict mode in lesson 06: 1.00x (0.95x to 1.03x) was printed "SLOWER".
    assert Speedup((1.00, 0.95, 1.03, 0.99, 1.00, 1.01, 0.98)).direction is Direction.NONE


def test_an_interval_reaching_into_the_noise_band_is_no_clear_difference_and_not_shown():
    straddling = Speedup((1.3, 1.02, 1.4, 1.25, 1.35, 1.3, 1.28))  # median 1.3, one round at 1.02
    assert straddling.direction is Direction.NONE
    assert straddling.faster() is Verdict.NOT_SHOWN
    just_outside = Speedup((1.06, 1.3, 1.4, 1.25, 1.35, 1.3, 1.28))
    assert just_outside.direction is Direction.FASTER


def test_a_wider_noise_band_can_be_asked_for():
    effect = Speedup((1.2, 1.25, 1.3), noise=0.25)
    assert effect.direction is Direction.NONE
    assert Speedup((1.2, 1.25, 1.3)).direction is Direction.FASTER


def test_too_few_rounds_decide_nothing():
    assert Speedup((3.0, 3.1)).direction is Direction.NONE
    assert Speedup((3.0, 3.1)).faster() is Verdict.NOT_SHOWN
    with pytest.raises(ValueError):
        Speedup(())


def test_speedup_of_a_comparison_reads_its_interleaved_rounds():
    comparison = Comparison({"slow": Timing([2.0, 2.2, 1.8], 1), "fast": Timing([1.0, 1.0, 1.0], 1)})
    effect = Speedup.of(comparison, "slow", "fast")
    assert effect.ratios == (2.0, 2.2, 1.8)
    assert str(effect) == "faster, 2.0x (1.8x to 2.2x)"
    assert str(Speedup.of(comparison, "fast", "slow")).startswith("slower, 2.0x")


def test_speedup_of_a_real_comparison():
    comparison = compare({"sum": lambda: sum(range(2000)), "nothing": lambda: None}, repeat=5, min_batch=0.002)
    assert Speedup.of(comparison, "sum", "nothing").direction is Direction.FASTER


def test_paired_times():
    effect = Speedup.paired([0.5, 0.6, 0.55], [0.01, 0.012, 0.011])
    assert effect.ratios == pytest.approx((50, 50, 50))
    assert str(effect) == "faster, 50x (50x to 50x)"
    with pytest.raises(ValueError):
        Speedup.paired([1.0], [1.0, 2.0])


def test_fact_words_an_observation():
    assert fact(True) is Verdict.TRUE and fact(False) is Verdict.FALSE
    assert f"{fact(True):8}|" == "TRUE    |" and str(Verdict.NOT_SHOWN) == "not shown"


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([2.1, 2.3, 2.2, 2.4, 2.2], Verdict.TRUE),
        ([4.0, 4.6, 5.1, 4.2, 4.4], Verdict.NOT_SHOWN),  # the run that flipped between TRUE and FALSE
        ([3.5, 3.9, 4.1], Verdict.NOT_SHOWN),  # within the margin of the limit
        ([6.0, 6.5, 7.0], Verdict.FALSE),
        ([2.0, 2.1], Verdict.NOT_SHOWN),  # too few samples
    ],
)
def test_within_a_limit_needs_repeated_samples_and_a_margin(samples, expected):
    assert within(samples, at_most=4.0, margin=0.1) is expected


def test_within_a_range():
    assert within([12, 15, 20], at_least=5, at_most=50) is Verdict.TRUE
    assert within([2.0, 2.5, 3.0], at_least=5, at_most=50) is Verdict.FALSE
    assert within([60, 70, 80], at_least=5, at_most=50) is Verdict.FALSE
    assert within([4.9, 6, 8], at_least=5, at_most=50) is Verdict.NOT_SHOWN
    assert within([-2.0, -1.5, -1.0], at_least=-3.0) is Verdict.TRUE  # a negative limit moves the right way
    with pytest.raises(ValueError):
        within([1, 2, 3])


def test_parts_of_a_claim():
    T, F, N = Verdict.TRUE, Verdict.FALSE, Verdict.NOT_SHOWN
    assert parts(True, T) is T
    assert parts(False, F) is F
    assert parts(T, False) is Verdict.PARTLY_TRUE
    assert parts(T, Verdict.PARTLY_TRUE) is Verdict.PARTLY_TRUE
    assert parts(T, N) is N
    assert parts(F, N) is F
    with pytest.raises(ValueError):
        parts()


def test_any_of_the_cases():
    T, F, N = Verdict.TRUE, Verdict.FALSE, Verdict.NOT_SHOWN
    assert any_of([F, N, T]) is T
    assert any_of([F, False]) is F
    assert any_of([F, N]) is N
    with pytest.raises(ValueError):
        any_of([])


def test_a_claim_quotes_its_text_and_says_what_was_measured():
    claim = Claim("model_construct is faster", Speedup((0.4, 0.43, 0.45)).faster(), "slower, 2.3x")
    assert str(claim) == "Claim: model_construct is faster\n  measured: slower, 2.3x\n  verdict: FALSE"
    assert claim.brief == "FALSE        model_construct is faster"
