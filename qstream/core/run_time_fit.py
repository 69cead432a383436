"""Online fit of IBM's QPU-time model to observed run times: a data-driven physics prior.

The quantum time of an IBM job (IBM Quantum docs, "Estimate job run time", now
"Workload usage": quantum.cloud.ibm.com/docs/guides/estimate-job-run-time) is a
fixed per-job overhead plus, for every shot of every circuit, a repetition
delay and the circuit's duration: the QPU runs the job's circuits column-wise
over the matrix of circuits x shots and inserts ``rep_delay`` before each
execution ("Dynamic repetition rate execution":
quantum.cloud.ibm.com/docs/guides/repetition-rate-execution). So::

    run_s ~= a + b * (n_circuits * shots) + c * (n_circuits * shots * depth)

``a`` is the overhead (loading, compilation, result transfer), ``b`` the
repetition delay plus reset and readout, ``c`` the duration of one layer (a
two-qubit gate times the routing overhead on depth). It is the structure of
:meth:`~qstream.core.backend_spec.BackendSpec.prior_run_s` for a QPU (and of
the emulated IBM devices), here with the three coefficients learned per
backend from a trace instead of read from a calibration. ``depth`` is that of
the job's widest circuit, as a trace records it.

:class:`RunTimeFit` keeps the exponentially weighted normal equations of that
linear model (3 x 3) and solves them with non-negativity constraints after
every label: O(1) time and memory per event.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from qstream.errors import ConfigError

#: Relative ridge added to the diagonal of the (unit-diagonal) scaled normal
#: equations: keeps them positive definite while a term is collinear with another
#: (every job with the same shots) and perturbs a well-posed fit by ~1e-9 relative.
_RIDGE = 1e-9

Vec3 = tuple[float, float, float]


def qpu_time_terms(n_circuits: int, shots: int, depth: int) -> Vec3:
    """The regressors of IBM's QPU-time model: ``(1, n_circuits * shots, n_circuits * shots * depth)``.

    Examples
    --------
    >>> qpu_time_terms(2, 1000, 10)
    (1.0, 2000.0, 20000.0)
    """
    s = float(n_circuits) * float(shots)
    return 1.0, s, s * float(depth)


def nnls3(g: Sequence[float], h: Sequence[float]) -> Vec3:
    """Solve ``min beta' G beta - 2 h' beta`` subject to ``beta >= 0``, for 3 x 3 ``G``.

    Parameters
    ----------
    g:
        The upper triangle of the symmetric positive semi-definite ``G``:
        ``(g00, g01, g02, g11, g12, g22)``.
    h:
        ``(h0, h1, h2)``.

    Returns
    -------
    tuple of float
        ``beta``, every entry finite and >= 0; 0 for a term whose ``g_ii`` is 0.

    Notes
    -----
    ``G`` is scaled to a unit diagonal (Jacobi) and given a ridge of 1e-9, and
    solved by Cholesky, so the solves are accurate whatever the units of the
    terms and even when two terms are collinear. The
    non-negative solution is the unconstrained solution on its own support
    (Lawson and Hanson, "Solving Least Squares Problems", 1974, ch. 23), so
    with three terms it is the best of the feasible unconstrained solutions on
    the seven non-empty supports (or zero); the full support is tried first
    and, when feasible, is the answer.

    Examples
    --------
    >>> [round(v, 6) for v in nnls3((1.0, 0.0, 0.0, 1.0, 0.0, 1.0), (2.0, -1.0, 3.0))]
    [2.0, 0.0, 3.0]
    >>> g = (2.0, 3.0, 0.0, 5.0, 0.0, 1.0)   # rows (1, 1) and (1, 2): y = 1 - x
    >>> [round(v, 6) for v in nnls3(g, (1.0, 1.0, 0.0))]   # b >= 0 binds: a = mean(y)
    [0.5, 0.0, 0.0]
    """
    d0, d1, d2 = (math.sqrt(max(v, 0.0)) for v in (g[0], g[3], g[5]))
    live = (d0 > 0.0, d1 > 0.0, d2 > 0.0)
    one = 1.0 + _RIDGE
    s01 = g[1] / (d0 * d1) if live[0] and live[1] else 0.0
    s02 = g[2] / (d0 * d2) if live[0] and live[2] else 0.0
    s12 = g[4] / (d1 * d2) if live[1] and live[2] else 0.0
    r0 = h[0] / d0 if live[0] else 0.0
    r1 = h[1] / d1 if live[1] else 0.0
    r2 = h[2] / d2 if live[2] else 0.0
    best: Vec3 = (0.0, 0.0, 0.0)
    # Full support, by Cholesky: its pivots are ~ridge even for collinear terms, far
    # above rounding (an adjugate's determinant, ~ridge**2, is not).
    l00 = math.sqrt(one)
    l10, l20 = s01 / l00, s02 / l00
    p11 = one - l10 * l10
    if p11 > 0.0:
        l11 = math.sqrt(p11)
        l21 = (s12 - l20 * l10) / l11
        p22 = one - l20 * l20 - l21 * l21
        if p22 > 0.0:
            l22 = math.sqrt(p22)
            v0 = r0 / l00
            v1 = (r1 - l10 * v0) / l11
            v2 = (r2 - l20 * v0 - l21 * v1) / l22
            u2 = v2 / l22
            u1 = (v1 - l21 * u2) / l11
            u0 = (v0 - l10 * u1 - l20 * u2) / l00
            if u0 >= 0.0 and u1 >= 0.0 and u2 >= 0.0:
                best = (u0, u1, u2)
    if best == (0.0, 0.0, 0.0):
        best_obj = 0.0
        for i, j, sij, ri, rj in ((0, 1, s01, r0, r1), (0, 2, s02, r0, r2), (1, 2, s12, r1, r2)):
            det2 = one * one - sij * sij
            if det2 <= 0.0:
                continue
            ui = (ri * one - rj * sij) / det2
            uj = (rj * one - ri * sij) / det2
            if ui >= 0.0 and uj >= 0.0 and -(ri * ui + rj * uj) < best_obj:
                best_obj = -(ri * ui + rj * uj)
                pair = [0.0, 0.0, 0.0]
                pair[i], pair[j] = ui, uj
                best = (pair[0], pair[1], pair[2])
        for i, ri in ((0, r0), (1, r1), (2, r2)):
            ui = ri / one
            if ui > 0.0 and -ri * ui < best_obj:
                best_obj = -ri * ui
                single = [0.0, 0.0, 0.0]
                single[i] = ui
                best = (single[0], single[1], single[2])
    out = (best[0] / d0 if live[0] else 0.0, best[1] / d1 if live[1] else 0.0,
           best[2] / d2 if live[2] else 0.0)
    return out if all(math.isfinite(v) for v in out) else (0.0, 0.0, 0.0)


class RunTimeFit:
    """Online non-negative weighted least squares of ``run_s = a + b S + c S depth``.

    ``S = n_circuits * shots``. After every label the coefficients minimise

    ``sum_i forgetting**(n - i) * w_i * (y_i - a - b S_i - c S_i depth_i)**2``

    subject to ``a, b, c >= 0`` (an overhead, a delay and a duration cannot be
    negative). This is recursive least squares with exponential forgetting
    (Ljung and Söderström, "Theory and Practice of Recursive Identification",
    MIT Press 1983, ch. 2), kept as the 3 x 3 normal equations rather than as a
    covariance update so that the constrained solution can be found exactly:
    the equations are scaled to a unit diagonal (Jacobi), given a tiny ridge,
    and solved on every subset of the terms; the best solution with no
    negative coefficient is the non-negative least-squares solution, since
    NNLS is the unconstrained solution on its own support (Lawson and Hanson,
    "Solving Least Squares Problems", 1974, ch. 23). The full set is tried
    first and is usually feasible.

    Parameters
    ----------
    forgetting:
        Discount of older labels per new label, in (0, 1]; ``1 / (1 - forgetting)``
        labels is the effective memory. 0.995 (200 labels) follows a device whose
        gate time drifts between daily calibrations while averaging 5% run-time
        noise over many jobs; on three simulated traces 0.99 and 0.999 were
        within 0.3% of it.
    min_labels:
        Labels learned before :meth:`predict_one` answers (``None`` before).
    relative:
        Weight each label by ``1 / max(y, fitted, floor_s)**2``: least squares on
        relative errors, which matches run-time noise that is multiplicative
        (and the ratio metrics a forecast is judged by). Taking the larger of
        the label and the current fit bounds the weight of a label far below
        the fit (a 0 s row). ``False``: ordinary least squares.
    floor_s:
        Smallest scale, in seconds, of a relative weight (1 ms: a trace records
        seconds to the millisecond).
    max_ratio:
        Divergence guard: a prediction stays within ``[lo / max_ratio, hi * max_ratio]``,
        ``lo`` and ``hi`` the smallest and largest labels learned. Physics may
        extrapolate (10x the shots), but not without bound.

    Raises
    ------
    ConfigError
        On ``forgetting`` outside (0, 1], ``min_labels < 1``, ``floor_s <= 0``
        or ``max_ratio < 1``.

    Examples
    --------
    Noiseless jobs of a device with 3 s overhead, 250 µs per shot and 2 µs per
    shot and layer:

    >>> fit = RunTimeFit(min_labels=5)
    >>> for shots, depth in [(1000, 10), (4000, 50), (2000, 5), (8000, 20), (1000, 100)]:
    ...     fit.learn_one(1, shots, depth, 3.0 + shots * (250e-6 + depth * 2e-6))
    >>> [round(v, 7) for v in fit.coef]
    [3.0, 0.00025, 2e-06]
    >>> round(fit.predict_one(2, 4000, 30), 6)   # 3 + 8000 * (250e-6 + 30 * 2e-6)
    5.48
    >>> RunTimeFit().predict_one(1, 1000, 10) is None   # no labels yet
    True
    """

    __slots__ = ("_g", "_h", "_hi", "_lo", "coef", "floor_s", "forgetting", "max_ratio",
                 "min_labels", "n", "relative")

    def __init__(self, forgetting: float = 0.995, min_labels: int = 5, *, relative: bool = True,
                 floor_s: float = 1e-3, max_ratio: float = 10.0) -> None:
        if not 0.0 < forgetting <= 1.0:
            raise ConfigError(f"forgetting must be in (0, 1], got {forgetting}")
        if min_labels < 1:
            raise ConfigError(f"min_labels must be >= 1, got {min_labels}")
        if not floor_s > 0.0:
            raise ConfigError(f"floor_s must be > 0, got {floor_s}")
        if not max_ratio >= 1.0:
            raise ConfigError(f"max_ratio must be >= 1, got {max_ratio}")
        self.forgetting = forgetting
        self.min_labels = min_labels
        self.relative = relative
        self.floor_s = floor_s
        self.max_ratio = max_ratio
        self.n = 0
        #: Coefficients ``(a_s, b_s_per_shot, c_s_per_shot_layer)``, all >= 0.
        self.coef: Vec3 = (0.0, 0.0, 0.0)
        self._g = [0.0] * 6  # upper triangle of the weighted X'X
        self._h = [0.0] * 3  # weighted X'y
        self._lo = math.inf
        self._hi = 0.0

    def clone(self) -> RunTimeFit:
        """A fresh, untrained fit with the same parameters."""
        return RunTimeFit(self.forgetting, self.min_labels, relative=self.relative,
                          floor_s=self.floor_s, max_ratio=self.max_ratio)

    def _raw(self, x: Vec3) -> float:
        a, b, c = self.coef
        return a * x[0] + b * x[1] + c * x[2]

    def predict_one(self, n_circuits: int, shots: int, depth: int) -> float | None:
        """Predicted run time in seconds (finite, >= 0); ``None`` before ``min_labels`` labels.

        The fitted value, held within the divergence guard (see ``max_ratio``).
        """
        if self.n < self.min_labels:
            return None
        y = self._raw(qpu_time_terms(n_circuits, shots, depth))
        lo = self._lo / self.max_ratio
        hi = self._hi * self.max_ratio
        return min(max(y, lo), hi) if math.isfinite(y) else hi

    def learn_one(self, n_circuits: int, shots: int, depth: int, run_s: float) -> None:
        """Learn one observed run time (seconds).

        Ignored when ``run_s`` is negative or not finite, or the regressors are
        not finite: one NaN would poison the normal equations for good.
        """
        x = qpu_time_terms(n_circuits, shots, depth)
        if not (math.isfinite(run_s) and run_s >= 0.0 and math.isfinite(x[2])):
            return
        w = 1.0
        if self.relative:
            scale = max(run_s, self.floor_s)
            if self.n:
                fitted = self._raw(x)
                if math.isfinite(fitted) and fitted > scale:
                    scale = fitted
            w = 1.0 / (scale * scale)
        lam = self.forgetting
        _, s, sd = x
        ws, wsd = w * s, w * sd
        g, h = self._g, self._h
        new_g = [lam * g[0] + w, lam * g[1] + ws, lam * g[2] + wsd, lam * g[3] + ws * s,
                 lam * g[4] + ws * sd, lam * g[5] + wsd * sd]
        new_h = [lam * h[0] + w * run_s, lam * h[1] + ws * run_s, lam * h[2] + wsd * run_s]
        if not all(math.isfinite(v) for v in new_g + new_h):
            return  # squares of absurd regressors overflow: leave the fit as it was
        self._g, self._h = new_g, new_h
        self.n += 1
        self._lo = min(self._lo, run_s)
        self._hi = max(self._hi, run_s)
        self.coef = nnls3(new_g, new_h)
