"""A binarized neural network in numpy, trained with the metaplastic Adam rule.

Model and normalisation protocol (after Laborieux et al., Nat. Commun. 2021, and the fully
connected BNN of their public code, repository SynapticMetaplasticityBNN):

* input: scikit-learn's 8x8 digits as **real values** (pixel / 16, standardised with the mean and
  standard deviation of the training pixels; :data:`INPUT_LAYOUTS` crops or pools them). The
  first layer multiplies these real inputs by binary weights (on the host, from the bits read).
* hidden layer: ``h = sign(BN_1(W1_b . x))``; output ``z = BN_2(W2_b . h)``, softmax
  cross-entropy. ``W_b`` are binary (+-1, one 2T2R pair each); there are no biases.
* batch normalisation uses the **statistics of the batch** it normalises, in training *and* in
  testing (no running statistics, as ``track_running_stats=False``); a test pass normalises the
  whole test set of a task as one batch.
* per-task normalisation parameters: the affine parameters (gamma, beta) of both batch norms
  are trained with plain Adam, **stay on the computer** (never on chip), and are saved at the end
  of each task (:meth:`BinarizedMLP.save_norm`). Before testing an earlier task its own saved
  gamma/beta are restored (:meth:`BinarizedMLP.load_norm`); the current task uses the current
  ones (the "task" scenario of the paper). The binary weights are shared by every task.
* the optimiser (Adam moments) restarts at each new task (:meth:`BinarizedMLP.new_task`).

``W_b = sign(W_h)`` where ``W_h`` are the real hidden weights kept on the computer. Gradients
are straight-through (BinaryConnect): ``dL/dW_h = dL/dW_b`` and ``d sign(a)/da = 1{|a| <= 1}``.

Metaplastic Adam: an Adam update of ``W_h`` that would reduce ``|W_h|`` (push toward a sign
flip) is multiplied by ``f_meta = 1 - tanh^2(m |W_h|)``; updates that increase ``|W_h|`` are
applied in full, so frequently confirmed weights grow and consolidate. ``m = 0`` is a plain BNN.

The forward pass takes the binary weights as arguments: on the chip they are the bits read by
the sense amplifiers (which may differ from ``sign(W_h)`` through read errors or failed devices).
No state is global; every random draw comes from a ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INPUT_LAYOUTS: dict[str, int] = {"8x8": 64, "8x6": 48, "4x4": 16}
"""Input layouts of the digits -> number of (real-valued) inputs.

``8x8``: every pixel; ``8x6``: columns 1-6 (columns 0 and 7 are nearly always blank);
``4x4``: 2x2 average pooling.
"""

BN_EPS = 1e-5
"""Variance floor of the batch norm (pre-activation units squared)."""


# ------------------------------------------------------------------------------------------------
# Data: permuted-pixel digits tasks
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One continual-learning task: a fixed pixel permutation of the digits.

    Attributes:
        x_train, x_test: float arrays (samples, n_in), standardised pixels.
        y_train, y_test: int labels 0..9.
        permutation: the input permutation (identity for task 0).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    permutation: np.ndarray


def digits_inputs(layout: str = "8x8") -> tuple[np.ndarray, np.ndarray]:
    """Pixels (0..1, real) and labels of all 1797 digits for ``layout``."""
    from sklearn.datasets import load_digits

    if layout not in INPUT_LAYOUTS:
        raise ValueError(f"input layout must be one of {sorted(INPUT_LAYOUTS)}, not {layout!r}")
    d = load_digits()
    img = d.images.astype(float) / 16.0  # (n, 8, 8)
    if layout == "8x6":
        img = img[:, :, 1:7]
    elif layout == "4x4":
        img = img.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4))
    return img.reshape(len(img), -1), d.target.astype(int)


def permuted_digits_tasks(
    n_tasks: int,
    seed: int,
    layout: str = "8x8",
    test_fraction: float = 0.25,
    train_limit: int = 0,
    split_seed: int = 0,
) -> list[Task]:
    """``n_tasks`` permuted-pixel tasks; task 0 keeps the natural pixel order.

    The train/test split is fixed by ``split_seed`` (stratified, the same for every task and
    every ``seed``); the permutations of tasks 1.. come from ``seed``. Pixels are standardised
    with the mean and standard deviation of the training pixels (one scalar pair).
    ``train_limit`` > 0 keeps only the first ``train_limit`` training samples (quick runs).
    """
    from sklearn.model_selection import train_test_split

    x, y = digits_inputs(layout)
    idx_tr, idx_te = train_test_split(
        np.arange(len(y)), test_size=test_fraction, random_state=split_seed, stratify=y
    )
    if train_limit > 0:
        idx_tr = idx_tr[:train_limit]
    mu, sd = float(x[idx_tr].mean()), float(x[idx_tr].std())
    x = (x - mu) / sd
    rng = np.random.default_rng([int(seed), 7919])
    tasks = []
    for k in range(n_tasks):
        perm = np.arange(x.shape[1]) if k == 0 else rng.permutation(x.shape[1])
        xp = x[:, perm]
        tasks.append(Task(xp[idx_tr], y[idx_tr], xp[idx_te], y[idx_te], perm))
    return tasks


# ------------------------------------------------------------------------------------------------
# Network
# ------------------------------------------------------------------------------------------------
@dataclass
class BNNConfig:
    """Configuration of :class:`BinarizedMLP` and its optimiser.

    Attributes:
        n_in: real-valued inputs.
        n_hidden: binary hidden neurons.
        n_out: classes.
        lr: Adam learning rate (hidden-weight units per step).
        meta: metaplasticity m (1); 0 = plain BNN.
        beta1, beta2, eps: Adam constants.
        init_scale: hidden weights start uniform in +-init_scale.
        ste_window: straight-through window of the hidden sign (|a| <= window, a after batch
            norm).
    """

    n_in: int = 64
    n_hidden: int = 128
    n_out: int = 10
    lr: float = 0.04
    meta: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    init_scale: float = 0.05
    ste_window: float = 1.0

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """Shapes (out, in) of the binary weight matrices, input layer first."""
        return [(self.n_hidden, self.n_in), (self.n_out, self.n_hidden)]

    @property
    def n_weights(self) -> int:
        """Number of binary weights (= 2T2R pairs needed)."""
        return sum(a * b for a, b in self.shapes)


def sign(a: np.ndarray) -> np.ndarray:
    """+-1 sign with sign(0) = +1 (a binary weight has no zero state)."""
    return np.where(a >= 0, 1.0, -1.0)


@dataclass
class MetaplasticAdam:
    """Adam with the metaplastic attenuation of updates toward a sign flip.

    ``meta_mask[k]`` says whether parameter ``k`` is a binary weight's hidden weight (attenuated)
    or a real parameter (plain Adam).
    """

    lr: float
    meta: float
    meta_mask: list[bool]
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    t: int = 0
    m1: list[np.ndarray] = field(default_factory=list)
    m2: list[np.ndarray] = field(default_factory=list)

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update ``params`` in place from ``grads``."""
        if not self.m1:
            self.m1 = [np.zeros_like(p) for p in params]
            self.m2 = [np.zeros_like(p) for p in params]
        self.t += 1
        c1 = 1.0 - self.beta1 ** self.t
        c2 = 1.0 - self.beta2 ** self.t
        for k, (p, g) in enumerate(zip(params, grads, strict=True)):
            self.m1[k] = self.beta1 * self.m1[k] + (1.0 - self.beta1) * g
            self.m2[k] = self.beta2 * self.m2[k] + (1.0 - self.beta2) * g * g
            upd = -self.lr * (self.m1[k] / c1) / (np.sqrt(self.m2[k] / c2) + self.eps)
            if self.meta_mask[k] and self.meta > 0:
                toward_flip = upd * p < 0
                f_meta = 1.0 - np.tanh(self.meta * np.abs(p)) ** 2
                upd = np.where(toward_flip, upd * f_meta, upd)
            p += upd


@dataclass(frozen=True)
class NormState:
    """The batch norms' affine parameters of one task (kept off-chip).

    Attributes:
        gamma, beta: per layer (hidden, output), arrays of the layer's width.
    """

    gamma: tuple[np.ndarray, ...]
    beta: tuple[np.ndarray, ...]


class BinarizedMLP:
    """Two-layer binarized perceptron with real hidden weights (see the module docstring)."""

    def __init__(self, config: BNNConfig, rng: np.random.Generator) -> None:
        self.config = c = config
        self.w_hidden = [rng.uniform(-c.init_scale, c.init_scale, s) for s in c.shapes]
        self.gamma = [np.ones(c.n_hidden), np.ones(c.n_out)]
        self.beta = [np.zeros(c.n_hidden), np.zeros(c.n_out)]
        self.new_task()

    def new_task(self) -> None:
        """A fresh optimiser (Adam moments reset), as at the start of every task."""
        c = self.config
        self.optimizer = MetaplasticAdam(
            lr=c.lr, meta=c.meta, meta_mask=[True, True, False, False, False, False],
            beta1=c.beta1, beta2=c.beta2, eps=c.eps,
        )

    # -- per-task normalisation ----------------------------------------------------------------
    def save_norm(self) -> NormState:
        """A copy of the current batch-norm affine parameters."""
        return NormState(tuple(g.copy() for g in self.gamma), tuple(b.copy() for b in self.beta))

    def load_norm(self, state: NormState) -> None:
        """Restore batch-norm affine parameters saved by :meth:`save_norm`."""
        self.gamma = [g.copy() for g in state.gamma]
        self.beta = [b.copy() for b in state.beta]

    # -- weights ------------------------------------------------------------------------------
    def binary_weights(self) -> list[np.ndarray]:
        """sign(W_h) per layer (what should be stored in the synapses)."""
        return [sign(w) for w in self.w_hidden]

    def flat_signs(self) -> np.ndarray:
        """All binary weights flattened, input layer first (bool: True = +1)."""
        return np.concatenate([w.ravel() >= 0 for w in self.w_hidden])

    def unflatten(self, bits: np.ndarray) -> list[np.ndarray]:
        """Flat bits (1 = +1, 0 = -1) -> per-layer +-1 matrices."""
        out, k = [], 0
        for s in self.config.shapes:
            n = s[0] * s[1]
            out.append(np.where(np.asarray(bits[k:k + n]).reshape(s) > 0, 1.0, -1.0))
            k += n
        return out

    # -- forward / backward -------------------------------------------------------------------
    def _bn(self, k: int, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batch norm of layer ``k`` with the batch's statistics; (output, normalised, 1/std)."""
        mu = s.mean(axis=0)
        inv = 1.0 / np.sqrt(s.var(axis=0) + BN_EPS)
        xhat = (s - mu) * inv
        return self.gamma[k] * xhat + self.beta[k], xhat, inv

    def normalize(self, k: int, s: np.ndarray) -> np.ndarray:
        """Batch norm of layer ``k`` (batch statistics, current gamma/beta) of the
        pre-activations ``s`` (samples, width): what an in-memory forward pass applies to the
        popcount sums ``2 * count - n_in``."""
        return self._bn(k, np.asarray(s, dtype=float))[0]

    def _forward(self, x: np.ndarray, wb: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        s1 = x @ wb[0].T  # real inputs x binary weights (host side, from the bits read)
        a, xhat1, inv1 = self._bn(0, s1)
        h = sign(a)
        s2 = h @ wb[1].T  # XNOR-popcount as a +-1 dot product
        z, xhat2, inv2 = self._bn(1, s2)
        return a, h, z, xhat1, inv1, xhat2, inv2

    def predict(self, x: np.ndarray, wb: list[np.ndarray] | None = None,
                norm: NormState | None = None) -> np.ndarray:
        """Class predictions for the batch ``x`` (normalised as one batch) with binary weights
        ``wb`` (default sign(W_h)) and the affine parameters ``norm`` (default: current)."""
        wb = self.binary_weights() if wb is None else wb
        if norm is None:
            return np.argmax(self._forward(x, wb)[2], axis=1)
        current = self.save_norm()
        self.load_norm(norm)
        try:
            return np.argmax(self._forward(x, wb)[2], axis=1)
        finally:
            self.load_norm(current)

    def accuracy(self, x: np.ndarray, y: np.ndarray, wb: list[np.ndarray] | None = None,
                 norm: NormState | None = None) -> float:
        """Fraction of correct predictions (see :meth:`predict`)."""
        return float(np.mean(self.predict(x, wb, norm) == y))

    def train_step(self, x: np.ndarray, y: np.ndarray, wb: list[np.ndarray] | None = None
                   ) -> float:
        """One mini-batch: gradients through ``wb`` (default sign(W_h)), metaplastic Adam.

        Returns the mean cross-entropy loss of the batch (before the update).
        """
        loss, grads = self.gradients(x, y, wb)
        self.optimizer.step(
            [self.w_hidden[0], self.w_hidden[1], self.gamma[0], self.beta[0], self.gamma[1],
             self.beta[1]], grads)
        return loss

    def gradients(self, x: np.ndarray, y: np.ndarray, wb: list[np.ndarray] | None = None
                  ) -> tuple[float, list[np.ndarray]]:
        """Loss and straight-through gradients of one mini-batch through ``wb`` (default
        sign(W_h)): [dW1, dW2, d gamma1, d beta1, d gamma2, d beta2]; nothing is updated."""
        c = self.config
        wb = self.binary_weights() if wb is None else wb
        a, h, z, xhat1, inv1, xhat2, inv2 = self._forward(x, wb)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        n = len(y)
        loss = float(-np.mean(np.log(p[np.arange(n), y] + 1e-12)))
        dz = p
        dz[np.arange(n), y] -= 1.0
        dz /= n
        g_gamma2, g_beta2, ds2 = _bn_backward(dz, xhat2, inv2, self.gamma[1])
        g_w2 = ds2.T @ h
        dh = ds2 @ wb[1]
        da = dh * (np.abs(a) <= c.ste_window)
        g_gamma1, g_beta1, ds1 = _bn_backward(da, xhat1, inv1, self.gamma[0])
        g_w1 = ds1.T @ x
        return loss, [g_w1, g_w2, g_gamma1, g_beta1, g_gamma2, g_beta2]


def _bn_backward(
    dy: np.ndarray, xhat: np.ndarray, inv: np.ndarray, gamma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients (d gamma, d beta, d input) of a training-mode batch norm."""
    g_gamma = (dy * xhat).sum(axis=0)
    g_beta = dy.sum(axis=0)
    dxhat = dy * gamma
    n = dy.shape[0]
    dx = inv / n * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return g_gamma, g_beta, dx


def batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled split of ``range(n)`` into mini-batches of ``batch_size``.

    A last batch shorter than 2 samples joins the previous one (batch statistics need >= 2).
    """
    order = rng.permutation(n)
    out = [order[k:k + batch_size] for k in range(0, n, batch_size)]
    if len(out) > 1 and len(out[-1]) < 2:
        out[-2] = np.concatenate([out[-2], out.pop()])
    return out


def task_accuracies(net: BinarizedMLP, tasks: list[Task], current: int,
                    norms: list[NormState], wb: list[np.ndarray] | None = None) -> list[float]:
    """Test accuracy on tasks ``0..current``: earlier tasks with their own saved affine
    parameters (``norms[j]``), the current task with the current ones."""
    out = []
    for j in range(current + 1):
        norm = norms[j] if j < current else None
        out.append(net.accuracy(tasks[j].x_test, tasks[j].y_test, wb, norm))
    return out


@dataclass
class ContinualResult:
    """Accuracy matrix of a software continual-learning run.

    ``acc[i, j]`` is the test accuracy on task ``j`` after training task ``i`` (NaN for j > i).
    """

    acc: np.ndarray
    flips: int


def train_continual_ideal(
    config: BNNConfig, tasks: list[Task], epochs: int, batch_size: int, seed: int
) -> ContinualResult:
    """Train on ``tasks`` in sequence with ideal (software) synapses; the reference model.

    The network is initialised and the batches are shuffled from ``seed``; returns the accuracy
    matrix and the number of sign flips (pair programs an on-chip run would need).
    """
    rng = np.random.default_rng(seed)
    net = BinarizedMLP(config, rng)
    acc = np.full((len(tasks), len(tasks)), np.nan)
    signs = net.flat_signs()
    flips = 0
    norms: list[NormState] = []
    for i, task in enumerate(tasks):
        net.new_task()
        for _ in range(epochs):
            for b in batches(len(task.y_train), batch_size, rng):
                net.train_step(task.x_train[b], task.y_train[b])
                new = net.flat_signs()
                flips += int(np.count_nonzero(new != signs))
                signs = new
        acc[i, : i + 1] = task_accuracies(net, tasks, i, norms)
        norms.append(net.save_norm())
    return ContinualResult(acc, flips)


__all__ = [
    "BN_EPS", "BNNConfig", "BinarizedMLP", "ContinualResult", "INPUT_LAYOUTS", "MetaplasticAdam",
    "NormState", "Task", "batches", "digits_inputs", "permuted_digits_tasks", "sign",
    "task_accuracies", "train_continual_ideal",
]
