"""The offline HistGradientBoosting baseline copes with what traces leave out."""

from __future__ import annotations

import doctest
from dataclasses import replace

import numpy as np
import pytest
from helpers.trace import synthetic_jobs

import qstream.offline_model
from qstream.offline_model import HGBBaseline


def test_doctest() -> None:
    assert doctest.testmod(qstream.offline_model).failed == 0


def test_fits_without_gate_counts_and_predicts_unseen_backends() -> None:
    jobs = [replace(j, two_qubit_gates=None, gates=None) for j in synthetic_jobs(300, seed=1)]
    train = [j for j in jobs if j.run_s is not None]
    model = HGBBaseline()
    model.fit(train, [j.run_s for j in train])
    unseen = [replace(j, backend="ibm_new") for j in train[:5]]
    pred = model.predict(train[:50] + unseen)
    assert pred.shape == (55,) and np.isfinite(pred).all() and (pred >= 0).all()
    actual = np.array([j.run_s for j in train[:50]])
    assert np.median(np.abs(pred[:50] - actual) / actual) < 0.3  # it learned something
    assert model.predict([]).shape == (0,)


def test_predict_before_fit_raises() -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        HGBBaseline().predict(synthetic_jobs(1))
