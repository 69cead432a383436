"""The weighted cost is monotone non-decreasing in each term for non-negative weights."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qstream.core.cost import CostScales, CostWeights, weighted_cost

weight = st.floats(0.0, 100.0)
seconds = st.floats(0.0, 1e7)
prob = st.floats(0.0, 1.0)
usd = st.floats(0.0, 1e4)
weights_st = st.tuples(weight, weight, weight).filter(lambda w: sum(w) > 0).map(
    lambda w: CostWeights(*w))
scales_st = st.builds(CostScales, st.floats(1e-3, 1e4), st.floats(1e-3, 1e4))


@given(weights_st, scales_st, seconds, seconds, prob, usd)
def test_monotone_in_time(w, sc, t1, t2, e, p) -> None:
    lo, hi = sorted((t1, t2))
    assert weighted_cost(lo, e, p, w, sc) <= weighted_cost(hi, e, p, w, sc)


@given(weights_st, scales_st, seconds, prob, prob, usd)
def test_monotone_in_error(w, sc, t, e1, e2, p) -> None:
    lo, hi = sorted((e1, e2))
    assert weighted_cost(t, lo, p, w, sc) <= weighted_cost(t, hi, p, w, sc)


@given(weights_st, scales_st, seconds, prob, usd, usd)
def test_monotone_in_price(w, sc, t, e, p1, p2) -> None:
    lo, hi = sorted((p1, p2))
    assert weighted_cost(t, e, lo, w, sc) <= weighted_cost(t, e, hi, w, sc)


@given(weights_st, st.tuples(weight, weight, weight), seconds, prob, usd)
def test_monotone_in_weights(w, extra, t, e, p) -> None:
    heavier = CostWeights(w.time + extra[0], w.error + extra[1], w.cost + extra[2])
    assert weighted_cost(t, e, p, w) <= weighted_cost(t, e, p, heavier)
