"""Bayesian logistic regression sampled by Metropolis-Hastings with physical proposals.

Following Dalgaty et al. (Nat. Electron. 2021): every model parameter is the conductance of one
1T1R device, ``w_k = (G_k - g_ref) / g_scale``. A proposal is made physically: each device of a
*proposal row* is RESET and then SET with the compliance that the calibration says centres its
new conductance on the current value of the same parameter, G' ~ N(G, sigma(G)); the devices'
cycle-to-cycle spread is the random number generator. Metropolis-Hastings accepts or rejects on
the training log-likelihood (plus a Gaussian prior on ``w``), with the Hastings correction for
the conductance-dependent spread ``sigma(G)`` from the calibration.

Keeping the current sample (design choice): proposals are written into a *different* row of the
array than the one holding the current sample, as in Dalgaty et al. where successive accepted
models occupy successive rows. On accept the proposal row becomes the current row; on reject
the current row is simply left alone (no device is re-programmed, so no extra randomness enters
the chain), and the next proposal overwrites the proposal row again. The values used by the
algorithm are the conductances read right after each SET.

The prediction averages the class probabilities of every state of the chain after ``burn_in``
(a rejected iteration repeats the current state, as MH requires). The task is the Wisconsin
breast-cancer data set of scikit-learn, standardised and reduced by PCA (fitted on the training
split) to a few features + a bias, so a model is one row of ``n_features + 1`` devices.

Why over 500 lines: the sampler, its physical proposals and the calibration they need are one
algorithm; split, each part would only make sense with the others open beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

StopCheck = Callable[[], bool]


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BinaryData:
    """Features with a trailing bias column of ones, labels 0/1."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def breast_cancer_data(n_features: int = 6, split_seed: int = 0, test_fraction: float = 0.3
                       ) -> BinaryData:
    """Wisconsin breast cancer: stratified split (``split_seed``), standardise, PCA, bias."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    d = load_breast_cancer()
    x_tr, x_te, y_tr, y_te = train_test_split(
        d.data, d.target, test_size=test_fraction, random_state=split_seed, stratify=d.target
    )
    scaler = StandardScaler().fit(x_tr)
    pca = PCA(n_components=n_features, random_state=0).fit(scaler.transform(x_tr))

    def feats(x: np.ndarray) -> np.ndarray:
        z = pca.transform(scaler.transform(x))
        z /= np.sqrt(pca.explained_variance_)  # unit variance per component
        return np.hstack([z, np.ones((len(z), 1))])

    return BinaryData(feats(x_tr), y_tr.astype(int), feats(x_te), y_te.astype(int))


def log_likelihood(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Bernoulli log-likelihood of labels ``y`` under logistic regression weights ``w``."""
    z = x @ w
    return float(-np.sum(np.logaddexp(0.0, np.where(y == 1, -z, z))))


def probabilities(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(y = 1 | x, w)."""
    return 1.0 / (1.0 + np.exp(-(x @ w)))


# ------------------------------------------------------------------------------------------------
# Calibration: compliance -> conductance
# ------------------------------------------------------------------------------------------------
@dataclass
class Calibration:
    """Conductance after RESET + SET versus SET compliance.

    Attributes:
        compliance: A, increasing levels.
        g_mean: S, mean conductance reached at each level.
        g_std: S, cycle-to-cycle (and device-to-device) spread at each level.
        device_gain: per (row, col) cell, the ratio of its mean conductance to ``g_mean``.
        source: where it came from (text).
    """

    compliance: np.ndarray
    g_mean: np.ndarray
    g_std: np.ndarray
    device_gain: dict[tuple[int, int], float] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def from_samples(
        cls, compliance: np.ndarray, conductance: np.ndarray,
        cells: list[tuple[int, int]] | None = None, source: str = "",
    ) -> Calibration:
        """Fit from samples (one per program): level means and spreads, per-cell gains."""
        c = np.asarray(compliance, dtype=float)
        g = np.asarray(conductance, dtype=float)
        ok = np.isfinite(c) & np.isfinite(g) & (g > 0)
        c, g = c[ok], g[ok]
        levels = np.unique(np.round(c, 12))
        if levels.size < 2:
            raise ValueError("a calibration needs at least two compliance levels")
        k = np.searchsorted(levels, np.round(c, 12))
        mean = np.array([g[k == i].mean() for i in range(levels.size)])
        std = np.array([g[k == i].std(ddof=1) if np.count_nonzero(k == i) > 1 else 0.0
                        for i in range(levels.size)])
        order = np.argsort(mean)  # must be monotone to invert
        levels, mean, std = levels[order], np.maximum.accumulate(mean[order]), std[order]
        gains: dict[tuple[int, int], float] = {}
        if cells is not None:
            cell_arr = [tuple(int(v) for v in cell) for cell, o in zip(cells, ok, strict=True)
                        if o]
            ratio = g / mean[np.argsort(order)][k]
            for cell in set(cell_arr):
                sel = np.array([cc == cell for cc in cell_arr])
                gains[cell] = float(np.mean(ratio[sel]))
        return cls(levels, mean, std, gains, source)

    @classmethod
    def nominal(cls, v_c: float = 1.1, k_s: float = 0.7e-3,
                levels: np.ndarray | None = None) -> Calibration:
        """The model's nominal law (physics.md): G = I_c / v_c, sigma = k_s sqrt(G).

        ``k_s`` in S^0.5 (0.7 uS^0.5 = 0.7e-6 / 1e-3 S^0.5). For ``ideal`` runs without a
        measured calibration.
        """
        ic = np.linspace(10e-6, 180e-6, 18) if levels is None else np.asarray(levels, float)
        g = ic / v_c
        return cls(ic, g, k_s * np.sqrt(g), {}, "nominal model")

    @classmethod
    def from_results(cls, data: Any, source: str = "") -> Calibration:
        """From the rows of an ``mcmc-calibration`` results file (a pandas DataFrame)."""
        cells = list(zip(data["Cell row"].astype(int), data["Cell col"].astype(int),
                         strict=True))
        return cls.from_samples(data["Compliance (A)"].to_numpy(),
                                data["Conductance (S)"].to_numpy(), cells, source)

    def gain(self, cell: tuple[int, int] | None) -> float:
        """Relative gain of ``cell`` (1 if unknown)."""
        return self.device_gain.get(cell, 1.0) if cell is not None else 1.0

    @property
    def g_min(self) -> float:
        """S, the lowest mean conductance reachable."""
        return float(self.g_mean[0])

    @property
    def g_max(self) -> float:
        """S, the highest mean conductance reachable."""
        return float(self.g_mean[-1])

    def update_gain(self, cell: tuple[int, int], compliance: float, g_read: float,
                    weight: float) -> None:
        """Track a cell's gain online: EMA of read / expected mean with ``weight`` (0..1)."""
        if weight <= 0 or not np.isfinite(g_read) or g_read <= 0:
            return
        ratio = float(g_read) / self.mean_for(compliance)
        self.device_gain[cell] = (1.0 - weight) * self.gain(cell) + weight * ratio

    def compliance_for(self, g: float, cell: tuple[int, int] | None = None) -> float:
        """Compliance (A) whose mean conductance on ``cell`` is ``g`` (S), within the range."""
        target = float(g) / self.gain(cell)
        return float(np.interp(target, self.g_mean, self.compliance))

    def mean_for(self, compliance: float) -> float:
        """Mean conductance (S) at ``compliance`` (A)."""
        return float(np.interp(compliance, self.compliance, self.g_mean))

    def sigma(self, g: np.ndarray | float) -> np.ndarray:
        """Spread (S) of a program centred on ``g`` (S)."""
        return np.maximum(np.interp(g, self.g_mean, self.g_std), 1e-7)

    def figures(self) -> dict[str, Any]:
        """Summary figures (lists in A and S) for the catalog."""
        slope = float(np.polyfit(self.compliance, self.g_mean, 1)[0])
        return {
            "cal_compliance": [float(v) for v in self.compliance],
            "cal_g_mean": [float(v) for v in self.g_mean],
            "cal_g_std": [float(v) for v in self.g_std],
            "cal_slope": slope,
            "cal_devices": len(self.device_gain),
        }


# ------------------------------------------------------------------------------------------------
# Proposal backends
# ------------------------------------------------------------------------------------------------
class ProposalBackend(Protocol):
    """Where a model's conductances live."""

    counters: Any

    def initial(self, g: np.ndarray, should_stop: StopCheck | None) -> np.ndarray | None:
        """Program the first sample; returns the conductances read (S) or None if stopped."""

    def propose(self, g: np.ndarray, should_stop: StopCheck | None) -> np.ndarray | None:
        """Program a proposal centred on ``g`` (S); returns what was read, None if stopped."""

    def accept(self) -> None:
        """The last proposal becomes the current sample."""

    def wear(self) -> int:
        """Cycles added so far."""


class IdealProposals:
    """Software proposals from a calibration: G' ~ N(mean(I_c(G)), std) (reference backend)."""

    name = "ideal"

    def __init__(self, calibration: Calibration, rng: np.random.Generator) -> None:
        from procedures.learning.synapses import SynapseCounters

        self.cal = calibration
        self.rng = rng
        self.counters = SynapseCounters()

    def _program(self, g: np.ndarray) -> np.ndarray:
        ic = np.array([self.cal.compliance_for(v) for v in g])
        mean = np.interp(ic, self.cal.compliance, self.cal.g_mean)
        std = np.interp(ic, self.cal.compliance, self.cal.g_std)
        self.counters.device_programs += 2 * g.size
        self.counters.resets += g.size
        return np.maximum(mean + std * self.rng.standard_normal(g.size), 1e-6)

    def initial(self, g: np.ndarray, should_stop: StopCheck | None = None) -> np.ndarray | None:
        return self._program(np.asarray(g, float))

    def propose(self, g: np.ndarray, should_stop: StopCheck | None = None) -> np.ndarray | None:
        return self._program(np.asarray(g, float))

    def accept(self) -> None:
        return None

    def wear(self) -> int:
        return self.counters.resets


class ChipProposals:
    """Proposals programmed into rows of the 1T1R array (ping-pong over ``rows``).

    Each row holds one model: parameter k sits on the k-th healthy column of the row (columns
    beyond ``n_params`` are spares). A cell found stuck is dropped from its row (the parameters
    after it move one column on, before they are programmed); a row with too few healthy cells
    left is retired.

    ``gain_tracking`` (0..1) updates each cell's calibration gain from every program (an
    exponential average of read / expected conductance): the cycle memory of the devices (AR(1),
    ~40 cycles) and drift make a fixed calibration biased by several percent, which turns the
    random walk into a drift. With tracking on, the sampler is strictly an adaptive MCMC; 0 keeps
    the calibration fixed.
    """

    name = "chip"

    def __init__(self, cells: Any, calibration: Calibration, rows: list[int],
                 cols: list[int], n_params: int, gain_tracking: float = 0.2) -> None:
        if len(cols) < n_params:
            raise ValueError(f"the model needs {n_params} devices per row, cells offers "
                             f"{len(cols)} columns")
        if len(rows) < 2:
            raise ValueError("MCMC needs at least two rows (current sample + proposal)")
        self.cells = cells  # ChipConductances
        self.cal = calibration
        self.gain_tracking = float(gain_tracking)
        self.n = n_params
        self.healthy = {r: list(cols) for r in rows}
        self.rows = list(rows)
        self.current: int | None = None
        self._last: int | None = None
        self.counters = cells.counters

    def _next_row(self) -> int:
        start = self.rows.index(self.current) + 1 if self.current in self.rows else 0
        for k in range(len(self.rows)):
            r = self.rows[(start + k) % len(self.rows)]
            if r != self.current and len(self.healthy[r]) >= self.n:
                return r
        raise RuntimeError("no 1T1R row left with enough working cells for a proposal")

    def _write(self, row: int, g: np.ndarray, should_stop: StopCheck | None
               ) -> np.ndarray | None:
        out = np.zeros(self.n)
        k = 0
        while k < self.n:
            if should_stop is not None and should_stop():
                return None
            if len(self.healthy[row]) < self.n:
                return self._write(self._retire(row), g, should_stop)
            col = self.healthy[row][k]
            if not self.cells.ensure_formed(row, col, should_stop):
                if should_stop is not None and should_stop():
                    return None
                self.healthy[row].remove(col)
                continue
            ic = self.cal.compliance_for(float(g[k]), (row, col))
            val = self.cells.program(row, col, ic)
            if val is None:  # stuck: this parameter and the following move one column on
                self.healthy[row].remove(col)
                continue
            self.cal.update_gain((row, col), ic, val, self.gain_tracking)
            out[k] = val
            k += 1
        self._last = row
        return out

    def _retire(self, row: int) -> int:
        self.rows.remove(row)
        self.healthy.pop(row)
        return self._next_row()

    def initial(self, g: np.ndarray, should_stop: StopCheck | None = None) -> np.ndarray | None:
        out = self._write(self._next_row(), np.asarray(g, float), should_stop)
        if out is not None:
            self.current = self._last
        return out

    def propose(self, g: np.ndarray, should_stop: StopCheck | None = None) -> np.ndarray | None:
        return self._write(self._next_row(), np.asarray(g, float), should_stop)

    def accept(self) -> None:
        self.current = self._last

    def wear(self) -> int:
        return int(self.cells.wear())


# ------------------------------------------------------------------------------------------------
# Sampler
# ------------------------------------------------------------------------------------------------
@dataclass
class MCMCConfig:
    """Model and sampler settings.

    Attributes:
        g_ref: S, conductance of weight 0.
        g_scale: S per unit weight.
        prior_sigma: standard deviation of the Gaussian prior on each weight (1).
        burn_in: iterations discarded before samples are kept.
    """

    g_ref: float = 60e-6
    g_scale: float = 20e-6
    prior_sigma: float = 2.0
    burn_in: int = 100


@dataclass
class IterationRow:
    """One MH iteration (what the procedure emits)."""

    iteration: int
    accepted: bool
    acceptance_rate: float
    log_likelihood: float
    proposal_log_likelihood: float
    test_accuracy: float
    train_accuracy: float
    samples: int


class ConductanceSampler:
    """Metropolis-Hastings over device conductances (see the module docstring)."""

    def __init__(self, backend: ProposalBackend, data: BinaryData, calibration: Calibration,
                 config: MCMCConfig, rng: np.random.Generator) -> None:
        self.backend = backend
        self.data = data
        self.cal = calibration
        self.cfg = config
        self.rng = rng
        self.n_params = data.x_train.shape[1]
        self.g: np.ndarray | None = None
        self.log_post = -math.inf
        self.log_lik = -math.inf
        self.iteration = 0
        self.accepted = 0
        self.samples: list[np.ndarray] = []
        self._p_sum = np.zeros(len(data.y_test))
        self._p_train_sum = np.zeros(len(data.y_train))

    def weights(self, g: np.ndarray) -> np.ndarray:
        """Weights of conductances ``g`` (S)."""
        return (np.asarray(g) - self.cfg.g_ref) / self.cfg.g_scale

    def _log_post(self, g: np.ndarray) -> tuple[float, float]:
        w = self.weights(g)
        ll = log_likelihood(w, self.data.x_train, self.data.y_train)
        prior = -0.5 * float(np.sum((w / self.cfg.prior_sigma) ** 2))
        return ll + prior, ll

    def _log_q(self, to: np.ndarray, frm: np.ndarray) -> float:
        s = self.cal.sigma(frm)
        return float(np.sum(-0.5 * ((to - frm) / s) ** 2 - np.log(s)))

    def start(self, should_stop: StopCheck | None = None) -> bool:
        """Program the first sample (every weight 0, G = g_ref); False if stopped."""
        g = self.backend.initial(np.full(self.n_params, self.cfg.g_ref), should_stop)
        if g is None:
            return False
        self.g = g
        self.log_post, self.log_lik = self._log_post(g)
        return True

    def step(self, should_stop: StopCheck | None = None) -> IterationRow | None:
        """One MH iteration; None if stopped while programming the proposal."""
        assert self.g is not None, "call start() first"
        g_new = self.backend.propose(self.g, should_stop)
        if g_new is None:
            return None
        lp_new, ll_new = self._log_post(g_new)
        log_alpha = (lp_new - self.log_post + self._log_q(self.g, g_new)
                     - self._log_q(g_new, self.g))
        accept = math.log(max(self.rng.random(), 1e-300)) < log_alpha
        if accept:
            self.backend.accept()
            self.g, self.log_post, self.log_lik = g_new, lp_new, ll_new
            self.accepted += 1
        self.iteration += 1
        w = self.weights(self.g)
        if self.iteration > self.cfg.burn_in:
            self.samples.append(self.g.copy())
            self._p_sum += probabilities(w, self.data.x_test)
            self._p_train_sum += probabilities(w, self.data.x_train)
        return IterationRow(
            iteration=self.iteration, accepted=accept,
            acceptance_rate=self.accepted / self.iteration, log_likelihood=self.log_lik,
            proposal_log_likelihood=ll_new, test_accuracy=self.test_accuracy(),
            train_accuracy=self.train_accuracy(), samples=len(self.samples),
        )

    def _acc(self, p_sum: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
        if self.samples:
            p = p_sum / len(self.samples)
        else:  # before burn-in ends: the current sample alone
            assert self.g is not None
            p = probabilities(self.weights(self.g), x)
        return float(np.mean((p > 0.5) == (y == 1)))

    def weight_bounds(self) -> tuple[float, float]:
        """The weights the calibrated conductance window can hold: (G_min, G_max) -> w."""
        return (float(self.weights(np.array([self.cal.g_min]))[0]),
                float(self.weights(np.array([self.cal.g_max]))[0]))

    def test_accuracy(self) -> float:
        """Held-out accuracy of the posterior average (current sample before burn-in ends)."""
        return self._acc(self._p_sum, self.data.x_test, self.data.y_test)

    def train_accuracy(self) -> float:
        """Training accuracy of the posterior average."""
        return self._acc(self._p_train_sum, self.data.x_train, self.data.y_train)


def logistic_baseline(data: BinaryData, prior_sigma: float,
                      w_bounds: tuple[float, float] | None = None) -> dict[str, float]:
    """Software point estimate on the same features: the MAP logistic regression.

    The Gaussian prior of the sampler (sigma ``prior_sigma``) is an L2 penalty; scikit-learn's
    ``LogisticRegression(C=prior_sigma**2, fit_intercept=False)`` on the features with their
    bias column is exactly that MAP. With ``w_bounds`` (the weights the conductance window can
    represent, see :meth:`ConductanceSampler.weight_bounds`) the same MAP is also solved inside
    the bounds (scipy L-BFGS-B): the like-for-like comparison with the chip.

    Returns ``baseline_accuracy`` (test, unbounded MAP), ``baseline_train_accuracy`` and, with
    bounds, ``baseline_window_accuracy``.
    """
    from scipy.optimize import minimize
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=float(prior_sigma) ** 2, fit_intercept=False, max_iter=2000)
    fit.fit(data.x_train, data.y_train)
    out = {"baseline_accuracy": float(fit.score(data.x_test, data.y_test)),
           "baseline_train_accuracy": float(fit.score(data.x_train, data.y_train))}
    if w_bounds is not None:
        def neg_log_post(w: np.ndarray) -> tuple[float, np.ndarray]:
            p = probabilities(w, data.x_train)
            nlp = -log_likelihood(w, data.x_train, data.y_train) + 0.5 * float(
                w @ w) / prior_sigma ** 2
            return nlp, data.x_train.T @ (p - data.y_train) + w / prior_sigma ** 2

        w0 = np.clip(fit.coef_.ravel(), *w_bounds)
        res = minimize(neg_log_post, w0, jac=True, method="L-BFGS-B",
                       bounds=[w_bounds] * len(w0))
        pred = probabilities(res.x, data.x_test) > 0.5
        out["baseline_window_accuracy"] = float(np.mean(pred == (data.y_test == 1)))
    return out


__all__ = [
    "logistic_baseline",
    "BinaryData", "Calibration", "ChipProposals", "ConductanceSampler", "IdealProposals",
    "IterationRow", "MCMCConfig", "ProposalBackend", "breast_cancer_data", "log_likelihood",
    "probabilities",
]
