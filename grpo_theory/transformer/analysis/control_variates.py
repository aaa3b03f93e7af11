r"""Control variates on a transformer's scores: pairing within prompts, the control-variate
statistics split within and across prompts, and the paper's Table-2 measurement.

Scores are the sequence scores of :mod:`~grpo_theory.transformer.analysis.scores`.

**Control variates** (paper v2/v3 Prop 4.1, v3 App. B.8). For pairs :math:`(g^+, g^-)` of a
positive and a negative response's scores of the same prompt :math:`q`, traces for vectors,
:math:`C = \mathrm{tr}\,\mathrm{Cov}(g^+, g^-)`, :math:`V_\pm = \mathrm{tr}\,\mathrm{Cov}(g^\pm)`,
:math:`\rho = C/\sqrt{V_+V_-}`, :math:`c^* = C/V_-` and the law of total covariance

.. math::

    C = \underbrace{\mathbb E_q\,\mathrm{tr}\,\mathrm{Cov}(g^+, g^-\mid q)}_{\text{within}}
      + \underbrace{\mathrm{tr}\,\mathrm{Cov}_q(\mathbb E[g^+\mid q],
        \mathbb E[g^-\mid q])}_{\text{across}},

which holds *exactly on a sample* when the prompt-level means and weights are the sample's own
(:func:`control_variate_stats`). Confidence intervals are delete-one-prompt jackknife
intervals with Student's :math:`t` (``scipy.stats.t``). The paper's Table-2 measurement
(:func:`paper_table2_measurement`) estimates the across term from per-prompt means, next to a
re-paired baseline whose mean given the data is exactly zero.

*Sign (derived).* The exact score has :math:`\mathbb E_{\pi}[s] = 0`, so per prompt
:math:`p_q\mu_q^+ + (1-p_q)\mu_q^- = 0`: the conditional means are anti-parallel,
:math:`\mu_q^- = -\lambda_q\mu_q^+` with :math:`\lambda_q = p_q/(1-p_q)`. The across covariance
is then

.. math::

    \mathrm{tr}\,\mathrm{Cov}_q(\mu^+_q, \mu^-_q)
      = -\mathbb E_q\big[\lambda_q\|\mu^+_q\|^2\big]
        + \mathbb E_q[\mu^+_q]\cdot\mathbb E_q[\lambda_q\mu^+_q],

negative unless the prompts' mean scores share a large common direction (in a tabular model with
one parameter block per prompt it is never positive, :mod:`grpo_theory.montecarlo.lab`). With
exact-match rewards a prompt has one correct completion, so :math:`g^+` given :math:`q` is
constant: :math:`\Sigma^+_q = 0` and every within-prompt term involving :math:`g^+` vanishes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats as sps

from grpo_theory.montecarlo.lab import PAPER_TABLE2
from grpo_theory.transformer.analysis._common import _int, _level

__all__ = [
    "PAPER_TABLE2",
    "pair_within_prompts",
    "ControlVariateStats",
    "control_variate_stats",
    "response_means",
    "Table2Measurement",
    "table2_statistics",
    "paper_table2_measurement",
]


# ----------------------------------------------------------------------------------------------
# Control variates
# ----------------------------------------------------------------------------------------------


def pair_within_prompts(rng: np.random.Generator, rewards: Any,
                        prompt_ids: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Pair positive with negative responses of the same prompt, at random.

    For each prompt, its :math:`n^+` positive and :math:`n^-` negative responses are shuffled
    and the first :math:`\min(n^+, n^-)` of each are paired: the pairs are independent draws of
    :math:`(g^+, g^-)` given the prompt when the responses are.

    Args:
        rng: a numpy ``Generator``.
        rewards: ``Float[ndarray, "N"]`` binary rewards of the responses.
        prompt_ids: ``Int[ndarray, "N"]`` the prompt of each response.

    Returns:
        ``(plus_idx, minus_idx)``, indices of the paired responses (same length, prompts in
        increasing order).

    Example:
        >>> plus, minus = pair_within_prompts(np.random.default_rng(0), [1, 0, 0, 1, 1],
        ...                                   [0, 0, 0, 1, 1])
        >>> plus.tolist(), minus.tolist()
        ([0], [1])
    """
    r = np.asarray(rewards, dtype=float)
    ids = np.asarray(prompt_ids)
    if r.ndim != 1 or ids.shape != r.shape:
        raise ValueError(f"rewards and prompt_ids must have the same shape [N], got "
                         f"{list(r.shape)} and {list(ids.shape)}")
    if not np.all((r == 0) | (r == 1)):
        raise ValueError("rewards must be binary (0 or 1)")
    plus, minus = [], []
    for q in np.unique(ids):
        pos = rng.permutation(np.flatnonzero((ids == q) & (r == 1)))
        neg = rng.permutation(np.flatnonzero((ids == q) & (r == 0)))
        k = min(pos.size, neg.size)
        plus.append(np.sort(pos[:k]) if k else pos[:0])
        minus.append(neg[:k])
    return np.concatenate(plus).astype(int), np.concatenate(minus).astype(int)


_CV_NAMES = ("covariance", "covariance_within", "covariance_across", "var_plus",
             "var_plus_within", "var_plus_across", "var_minus", "var_minus_within",
             "var_minus_across", "rho", "c_star", "one_minus_rho_sq", "var_difference",
             "var_c_star", "variance_ratio")


@dataclasses.dataclass(frozen=True)
class ControlVariateStats:
    r"""Control-variate statistics of score pairs :math:`(g^+, g^-)`, traces for vectors.

    Attributes:
        n_pairs: number of pairs.
        n_prompts: number of distinct prompts.
        weighting: ``"prompt"`` (every prompt weighs the same) or ``"pair"``.
        confidence: level of the intervals.
        values: each statistic (``covariance``, ``covariance_within``, ``covariance_across``,
            ``var_plus`` and ``var_minus`` with their ``_within`` / ``_across`` parts, ``rho``,
            ``c_star``, ``one_minus_rho_sq``, ``var_difference`` :math:`= V_+ + V_- - 2C`,
            ``var_c_star`` :math:`= (1-\rho^2)V_+`, ``variance_ratio`` :math:`=
            \mathrm{Var}(g^+ - g^-)/\mathrm{Var}(g^+)`).
        stderr: delete-one-prompt jackknife standard errors.
        intervals: :math:`t_{N-1}` intervals (``scipy.stats.t``).
        decomposition_error: largest :math:`|\text{total} - \text{within} - \text{across}|`
            over :math:`C, V_+, V_-`, relative to :math:`\max(V_+, V_-)` (each part computed
            from its own centred definition).
    """

    n_pairs: int
    n_prompts: int
    weighting: str
    confidence: float
    values: Mapping[str, float]
    stderr: Mapping[str, float]
    intervals: Mapping[str, tuple[float, float]]
    decomposition_error: float

    def __getattr__(self, name: str) -> float:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"n_pairs": self.n_pairs, "n_prompts": self.n_prompts,
                "weighting": self.weighting, "confidence": self.confidence,
                "values": dict(self.values), "stderr": dict(self.stderr),
                "intervals": {k: list(v) for k, v in self.intervals.items()},
                "decomposition_error": self.decomposition_error}


def _cv_derived(C: Any, Cw: Any, Vp: Any, Vpw: Any, Vm: Any, Vmw: Any) -> dict[str, Any]:
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = C / np.sqrt(Vp * Vm)
        c_star = C / Vm
        var_diff = Vp + Vm - 2.0 * C
        return {"covariance": C, "covariance_within": Cw, "covariance_across": C - Cw,
                "var_plus": Vp, "var_plus_within": Vpw, "var_plus_across": Vp - Vpw,
                "var_minus": Vm, "var_minus_within": Vmw, "var_minus_across": Vm - Vmw,
                "rho": rho, "c_star": c_star, "one_minus_rho_sq": 1.0 - rho * rho,
                "var_difference": var_diff, "var_c_star": (1.0 - rho * rho) * Vp,
                "variance_ratio": var_diff / Vp}


def control_variate_stats(g_plus: Any, g_minus: Any, prompt_ids: Any, *,
                          weighting: str = "prompt",
                          confidence: float = 0.95) -> ControlVariateStats:
    r"""Prop 4.1's statistics for score pairs, split within and across prompts, with CIs.

    Each pair :math:`n` has a weight :math:`w_n` (``"prompt"``: :math:`1/n_q` for the
    :math:`n_q` pairs of its prompt, so prompts weigh the same; ``"pair"``: 1), normalised to
    sum to 1. Then (ddof 0, traces)

    .. math::

        C = \sum_n w_n (x_n - \bar x)\cdot(y_n - \bar y), \quad
        C_{\mathrm{within}} = \sum_q\sum_{n\in q} w_n (x_n - \bar x_q)\cdot(y_n - \bar y_q),
        \quad C_{\mathrm{across}} = \sum_q W_q(\bar x_q - \bar x)\cdot(\bar y_q - \bar y),

    and likewise :math:`V_\pm`; :math:`C = C_{\mathrm{within}} + C_{\mathrm{across}}` is an
    identity on the sample (its rounding error is ``decomposition_error``). For independently
    drawn pairs :math:`\mathbb E\,C_{\mathrm{within}} = 0`. Standard errors are delete-one-prompt
    jackknife (prompts are the i.i.d. units), intervals use :math:`t_{N-1}`.

    Args:
        g_plus: ``Float[Array, "M D"]`` positive-response scores.
        g_minus: ``Float[Array, "M D"]`` negative-response scores (row :math:`n` pairs with row
            :math:`n` of ``g_plus``).
        prompt_ids: ``Int[Array, "M"]`` the prompt of each pair (at least 3 distinct).
        weighting: ``"prompt"`` (default) or ``"pair"``.
        confidence: interval level in :math:`(0, 1)`.

    Returns:
        :class:`ControlVariateStats`.

    Example:
        >>> x = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0], [1.0, 1.0], [2.0, 2.0]])
        >>> cv = control_variate_stats(x, -x, [0, 0, 1, 1, 2, 2])
        >>> round(cv.rho, 12), cv.decomposition_error < 1e-12
        (-1.0, True)
    """
    x = np.asarray(g_plus)
    y = np.asarray(g_minus)
    ids = np.asarray(prompt_ids)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"g_plus must have shape [M, D] with M >= 2, got {list(x.shape)}")
    if y.shape != x.shape:
        raise ValueError(f"g_minus must have the shape of g_plus {list(x.shape)}, got "
                         f"{list(y.shape)}")
    if ids.shape != (x.shape[0],):
        raise ValueError(f"prompt_ids must have shape [M] = [{x.shape[0]}], got "
                         f"{list(ids.shape)}")
    if weighting not in ("prompt", "pair"):
        raise ValueError(f"weighting must be 'prompt' or 'pair', got {weighting!r}")
    confidence = _level(confidence, "confidence")
    prompts = np.unique(ids)
    N, D = prompts.size, x.shape[1]
    if N < 3:
        raise ValueError(f"prompt_ids must name at least 3 distinct prompts (jackknife), got {N}")
    W = np.zeros(N)
    Sx, Sy = np.zeros((N, D)), np.zeros((N, D))
    sxy, sxx, syy = np.zeros(N), np.zeros(N), np.zeros(N)
    cxy, cxx, cyy = np.zeros(N), np.zeros(N), np.zeros(N)
    members = []
    for j, q in enumerate(prompts):
        idx = np.flatnonzero(ids == q)
        members.append(idx)
        xq, yq = x[idx].astype(float), y[idx].astype(float)
        w = np.full(idx.size, 1.0 / idx.size if weighting == "prompt" else 1.0)
        W[j] = w.sum()
        Sx[j], Sy[j] = w @ xq, w @ yq
        sxy[j], sxx[j], syy[j] = (w @ np.sum(xq * yq, axis=1), w @ np.sum(xq * xq, axis=1),
                                  w @ np.sum(yq * yq, axis=1))
        dx, dy = xq - Sx[j] / W[j], yq - Sy[j] / W[j]
        cxy[j], cxx[j], cyy[j] = (w @ np.sum(dx * dy, axis=1), w @ np.sum(dx * dx, axis=1),
                                  w @ np.sum(dy * dy, axis=1))
    Wt = W.sum()
    xbar, ybar = Sx.sum(axis=0) / Wt, Sy.sum(axis=0) / Wt
    # total from its own centred definition (a second pass over the pairs)
    tot = np.zeros(3)
    for j, idx in enumerate(members):
        w = np.full(idx.size, W[j] / idx.size)
        dx, dy = x[idx].astype(float) - xbar, y[idx].astype(float) - ybar
        tot += [w @ np.sum(dx * dy, axis=1), w @ np.sum(dx * dx, axis=1),
                w @ np.sum(dy * dy, axis=1)]
    tot /= Wt
    within = np.array([cxy.sum(), cxx.sum(), cyy.sum()]) / Wt
    mx, my = Sx / W[:, None] - xbar, Sy / W[:, None] - ybar
    across = np.array([W @ np.sum(mx * my, axis=1), W @ np.sum(mx * mx, axis=1),
                       W @ np.sum(my * my, axis=1)]) / Wt
    scale = max(tot[1], tot[2])
    decomposition_error = float(np.max(np.abs(tot - within - across)) / scale) if scale > 0 \
        else 0.0
    values = {k: float(v) for k, v in _cv_derived(tot[0], within[0], tot[1], within[1], tot[2],
                                                   within[2]).items()}
    # delete-one-prompt jackknife from the per-prompt sums
    SxT, SyT = Sx.sum(axis=0), Sy.sum(axis=0)
    W1 = Wt - W
    dot_xy = SxT @ SyT - Sy @ SxT - Sx @ SyT + np.sum(Sx * Sy, axis=1)
    dot_xx = SxT @ SxT - 2.0 * (Sx @ SxT) + np.sum(Sx * Sx, axis=1)
    dot_yy = SyT @ SyT - 2.0 * (Sy @ SyT) + np.sum(Sy * Sy, axis=1)
    C1 = (sxy.sum() - sxy) / W1 - dot_xy / W1**2
    Vp1 = (sxx.sum() - sxx) / W1 - dot_xx / W1**2
    Vm1 = (syy.sum() - syy) / W1 - dot_yy / W1**2
    reps = _cv_derived(C1, (cxy.sum() - cxy) / W1, Vp1, (cxx.sum() - cxx) / W1, Vm1,
                       (cyy.sum() - cyy) / W1)
    tq = float(sps.t.ppf(0.5 + confidence / 2.0, N - 1))
    stderr, intervals = {}, {}
    for name in _CV_NAMES:
        r = np.asarray(reps[name], dtype=float)
        se = float(np.sqrt((N - 1) / N * np.sum((r - r.mean()) ** 2)))
        stderr[name] = se
        intervals[name] = (values[name] - tq * se, values[name] + tq * se)
    return ControlVariateStats(n_pairs=int(x.shape[0]), n_prompts=N, weighting=weighting,
                               confidence=confidence, values=values, stderr=stderr,
                               intervals=intervals, decomposition_error=decomposition_error)


# ----------------------------------------------------------------------------------------------
# The paper's Table-2 measurement
# ----------------------------------------------------------------------------------------------


def response_means(scores: Any, rewards: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Per-prompt means of the positive and of the negative responses' scores.

    Args:
        scores: ``Float[Array, "M n D"]`` scores of :math:`n` responses of each of :math:`M`
            prompts.
        rewards: ``Float[Array, "M n"]`` their binary rewards.

    Returns:
        ``(X, Y, kept)``: ``X``, ``Y`` of shape ``[m, D]`` (float64) for the :math:`m` prompts
        with both signs, and their indices ``kept`` ``[m]``.

    Example:
        >>> X, Y, kept = response_means(np.arange(8.0).reshape(2, 2, 2), [[1, 0], [1, 1]])
        >>> X.tolist(), Y.tolist(), kept.tolist()
        ([[0.0, 1.0]], [[2.0, 3.0]], [0])
    """
    s = np.asarray(scores)
    r = np.asarray(rewards, dtype=float)
    if s.ndim != 3 or r.shape != s.shape[:2]:
        raise ValueError(f"scores must have shape [M, n, D] and rewards [M, n], got "
                         f"{list(s.shape)} and {list(r.shape)}")
    if not np.all((r == 0) | (r == 1)):
        raise ValueError("rewards must be binary (0 or 1)")
    n_plus = r.sum(axis=1)
    kept = np.flatnonzero((n_plus > 0) & (n_plus < r.shape[1]))
    rk = r[kept]
    sk = s[kept].astype(float)
    X = np.einsum("mn,mnd->md", rk, sk) / rk.sum(axis=1, keepdims=True)
    Y = np.einsum("mn,mnd->md", 1.0 - rk, sk) / (1.0 - rk).sum(axis=1, keepdims=True)
    return X, Y, kept


@dataclasses.dataclass(frozen=True)
class Table2Measurement:
    r"""Paper v3 App. B.8 (Table 2) measured on per-prompt means, beside the paper's values.

    Attributes:
        prompts_kept: :math:`m`, the prompts with both signs.
        n_prompts: :math:`M` prompts drawn (``None`` if the caller gave means only).
        n_responses: :math:`n` responses each (``None`` likewise).
        covariance: :math:`\hat C = \frac1{m-1}\sum_j (X_j - \bar X)\cdot(Y_j - \bar Y)`.
        permuted: the same with :math:`Y` re-paired by one uniformly random permutation.
        permutation_sd: exact standard deviation of the re-paired statistic given the data
            (its mean is exactly 0).
        z: ``covariance / permutation_sd``.
        p_value: two-sided Monte Carlo permutation p-value
            :math:`(1 + \#\{|\hat C_\sigma| \ge |\hat C|\})/(K + 1)`, valid for any :math:`K`.
        n_permutations: :math:`K`.
        correlation: :math:`\hat C/\sqrt{\hat V_X\hat V_Y}` (scale-free).
        var_x: :math:`\hat V_X`.
        var_y: :math:`\hat V_Y`.
        per_parameter: :math:`\hat C/D`.
        paper: the paper's values (0.08705 and 0.00128).
        note: the paper does not state the units or normalisation of its values.
    """

    prompts_kept: int
    n_prompts: int | None
    n_responses: int | None
    covariance: float
    permuted: float
    permutation_sd: float
    z: float
    p_value: float
    n_permutations: int
    correlation: float
    var_x: float
    var_y: float
    per_parameter: float
    paper: Mapping[str, float]
    note: str = ("the paper (v3 App. B.8) does not state the units or normalisation of its "
                 "values (0.08705 and 0.00128); only signs and ratios compare")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = dataclasses.asdict(self)
        out["paper"] = dict(self.paper)
        return out


def table2_statistics(rng: np.random.Generator, X: Any, Y: Any, *,
                      n_permutations: int = 9999, n_prompts: int | None = None,
                      n_responses: int | None = None) -> Table2Measurement:
    r"""The Table-2 statistic of given per-prompt means and its re-paired baseline.

    With :math:`a_{jk} = (X_j - \bar X)\cdot(Y_k - \bar Y)`, :math:`\hat C = \sum_j a_{jj}/(m-1)`
    and :math:`\hat C_\sigma = \sum_j a_{j\sigma(j)}/(m-1)`. Rows and columns of :math:`a` sum to
    zero, so for a uniform permutation :math:`\mathbb E\hat C_\sigma = 0` and (Hoeffding's
    combinatorial formula) :math:`\mathrm{Var}\,\hat C_\sigma = \sum_{jk}a_{jk}^2/(m-1)^3`.

    Args:
        rng: a numpy ``Generator`` (the re-pairing, then the permutation test).
        X: ``Float[Array, "m D"]`` per-prompt means of the positives (:math:`m \ge 3`).
        Y: ``Float[Array, "m D"]`` per-prompt means of the negatives.
        n_permutations: :math:`K \ge 1` permutations of the Monte Carlo test.
        n_prompts: :math:`M`, for the record.
        n_responses: :math:`n`, for the record.

    Returns:
        :class:`Table2Measurement`.

    Example:
        >>> X = np.eye(4)
        >>> t = table2_statistics(np.random.default_rng(0), X, -X, n_permutations=99)
        >>> round(t.covariance, 6), round(t.correlation, 6), t.p_value <= 0.25
        (-1.0, -1.0, True)
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if X.ndim != 2 or X.shape[0] < 3:
        raise ValueError(f"X must have shape [m, D] with m >= 3, got {list(X.shape)}")
    if Y.shape != X.shape:
        raise ValueError(f"Y must have the shape of X {list(X.shape)}, got {list(Y.shape)}")
    K = _int(n_permutations, "n_permutations", 1)
    m, D = X.shape
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    a = Xc @ Yc.T
    obs = float(np.trace(a))
    permuted = float(a[np.arange(m), rng.permutation(m)].sum())
    sd = math.sqrt(float(np.sum(a * a)) / (m - 1))
    base = np.tile(np.arange(m, dtype=np.int32), (min(K, 1 << 16), 1))
    count, done = 0, 0
    rows = np.arange(m)[None, :]
    while done < K:
        b = min(base.shape[0], K - done)
        perm = rng.permuted(base[:b], axis=1)
        count += int(np.sum(np.abs(a[rows, perm].sum(axis=1)) >= abs(obs)))
        done += b
    vx, vy = float(np.sum(Xc * Xc)) / (m - 1), float(np.sum(Yc * Yc)) / (m - 1)
    cov = obs / (m - 1)
    return Table2Measurement(
        prompts_kept=m, n_prompts=n_prompts, n_responses=n_responses, covariance=cov,
        permuted=permuted / (m - 1), permutation_sd=sd / (m - 1),
        z=cov / (sd / (m - 1)) if sd > 0 else float("nan"),
        p_value=(1 + count) / (K + 1), n_permutations=K,
        correlation=cov / math.sqrt(vx * vy) if vx * vy > 0 else float("nan"),
        var_x=vx, var_y=vy, per_parameter=cov / D, paper=dict(PAPER_TABLE2))


def paper_table2_measurement(rng: np.random.Generator, scores: Any, rewards: Any, *,
                             n_permutations: int = 9999) -> Table2Measurement:
    r"""Paper v3 App. B.8 (Table 2) on :math:`M` prompts with :math:`n` responses each.

    Keeps the prompts with both signs, forms the per-prompt means :math:`X_j` (positives) and
    :math:`Y_j` (negatives) (:func:`response_means`) and returns :func:`table2_statistics`.
    Given the prompt and the counts, :math:`X_j` and :math:`Y_j` are independent with means
    :math:`\mu^\pm_{q_j}`, so :math:`\mathbb E\hat C` is the across-prompt term
    :math:`\mathrm{tr}\,\mathrm{Cov}_q(\mu^+_q, \mu^-_q)` under the law of the kept prompts
    (:mod:`grpo_theory.montecarlo.lab`, part 4). The paper reports 0.08705 against 0.00128
    (100 MATH prompts, 10 responses, Qwen-1.5B), in unstated units.

    Args:
        rng: a numpy ``Generator``.
        scores: ``Float[Array, "M n D"]``.
        rewards: ``Float[Array, "M n"]`` binary.
        n_permutations: permutations of the test.

    Returns:
        :class:`Table2Measurement`.

    Example:
        >>> s = np.zeros((4, 2, 3)); s[:, 0, 0] = [1, 2, 3, 4]; s[:, 1, 0] = [-1, -2, -3, -4]
        >>> t = paper_table2_measurement(np.random.default_rng(0), s, np.tile([1, 0], (4, 1)))
        >>> t.prompts_kept, round(t.covariance, 6)
        (4, -1.666667)
    """
    s = np.asarray(scores)
    X, Y, _ = response_means(s, rewards)
    if X.shape[0] < 3:
        raise ValueError(f"scores: fewer than 3 prompts have both signs ({X.shape[0]})")
    return table2_statistics(rng, X, Y, n_permutations=n_permutations, n_prompts=s.shape[0],
                             n_responses=s.shape[1])
