"""The f-divergences of the one objective, as small objects in one registry (docs/design.md, "The one objective").

IQ-Learn (Garg et al., NeurIPS 2021, eq. 9-10 and their Table 4) writes the imitation objective
for an f-divergence between the occupancy measures of the model and of the data with a concave
function ``phi`` of the implicit reward ``r = Q(s, a) - gamma V(s')``:

    L_IL = -E_D[phi(r)] + E_M[V(s) - gamma V(s')] (+ c E_M[r^2]).

``phi`` is only finite on a domain, and its slope ``phi'`` grows without bound near the edge of
that domain. Outside a finite-slope region we use IQ-Learn's gradient form: the loss term becomes
``-phi'(r0).detach() * r`` (plus a constant), i.e. ``phi'`` is clamped to at most ``max_slope``.
Written as a function, below the threshold ``r0`` (the point where ``phi'(r0) = max_slope``, or
the domain edge when ``phi'`` stays finite there) ``phi`` is continued by its tangent at ``r0``:

    phi_safe(r) = phi(r)                            for r >= r0
                = phi(r0) + phi'(r0) * (r - r0)     for r <  r0

so the value is continuous, the function stays concave, and the gradient below ``r0`` is exactly
IQ-Learn's ``-phi'(r).detach()`` with ``phi'`` clamped to ``phi'(r0)``.

The clamp is not free: at the optimum (gamma = 1, tabular) ``rho_model / rho_data = phi'(r)``, so a
slope capped at ``max_slope`` caps the ratio the objective can express, and the optima of
``forward_kl``, ``js`` and ``hellinger`` move wherever the model would put more than ``max_slope``
times the data's occupancy. ``kl`` (domain all of R) is not clamped. ``tv``'s continuation has slope
1 wherever ``r < 1/2``, i.e. it is chi2 without its quadratic term there: the same optimum as MLE.

``r_star`` is the reward at which ``phi'(r) = 1``; in the tabular case a data transition with
``phi'(r) = 1`` is one where model and data occupancies agree (first-order condition of the
objective at gamma = 1: ``rho_model(s, a) = rho_data(s, a) * phi'(r(s, a))``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

DEFAULT_MAX_SLOPE = 10.0


@dataclass(frozen=True)
class Divergence:
    """Base class: ``phi`` and ``phi_prime`` on the domain, ``threshold`` where the tangent starts.

    Calling the object gives ``phi_safe(r)`` (see the module docstring); ``slope(r)`` gives its
    derivative (``phi'`` clamped to at most ``phi'(threshold)``).
    """

    max_slope: float = DEFAULT_MAX_SLOPE  # --max_slope; moves the optimum of forward_kl, js, hellinger (see docs)
    name = "base"
    r_star = 0.0

    def phi(self, r: Tensor) -> Tensor:
        raise NotImplementedError

    def phi_prime(self, r: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def threshold(self) -> float | None:
        """``r0``: below it ``phi`` is continued by its tangent; ``None`` = never."""
        return None

    def __call__(self, r: Tensor) -> Tensor:
        r0 = self.threshold
        if r0 is None:
            return self.phi(r)
        r0_t = torch.as_tensor(r0, dtype=r.dtype, device=r.device)
        inside = r >= r0_t
        phi_inside = self.phi(torch.maximum(r, r0_t))  # clamped so the unused branch stays finite
        tangent = self.phi(r0_t) + self.phi_prime(r0_t) * (r - r0_t)  # IQ-Learn's gradient form
        return torch.where(inside, phi_inside, tangent)

    def slope(self, r: Tensor) -> Tensor:
        """Derivative of ``phi_safe``: ``phi'(r)``, clamped to ``phi'(threshold)`` below it."""
        r0 = self.threshold
        if r0 is None:
            return self.phi_prime(r)
        r0_t = torch.as_tensor(r0, dtype=r.dtype, device=r.device)
        return torch.where(r >= r0_t, self.phi_prime(torch.maximum(r, r0_t)), self.phi_prime(r0_t))


@dataclass(frozen=True)
class Chi2(Divergence):
    """Pearson chi^2: ``phi(r) = r`` on all of R. Its quadratic part is the ``c r^2`` term of the
    objective (c = 1 / (4 alpha)); on the mixture occupancy this is SequenceMatch-chi^2 (Cundy &
    Ermon 2024, eq. 8) and offline it is Wulfmeier et al.'s TD-regularised MLE (eq. 14)."""

    name = "chi2"
    r_star = 0.0  # any r: phi' = 1 everywhere

    def phi(self, r: Tensor) -> Tensor:
        return r

    def phi_prime(self, r: Tensor) -> Tensor:
        return torch.ones_like(r)


@dataclass(frozen=True)
class ReverseKL(Divergence):
    """KL(model occupancy || data occupancy), mode seeking (IQ-Learn's ``kl``):
    ``phi(r) = -exp(-(r + 1))`` on all of R. Not clamped (``max_slope`` has no effect): its domain is
    all of R, and a clamp would move its optimum (it would cap pi / p_D). The slope ``exp(-(r + 1))``
    is large for very negative rewards (common at initialisation, where ``r ~ log pi``): gradient
    clipping (``max_grad_norm``) bounds the step; ``r < -88`` overflows float32."""

    name = "kl"
    r_star = -1.0

    def phi(self, r: Tensor) -> Tensor:
        return -torch.exp(-(r + 1.0))

    def phi_prime(self, r: Tensor) -> Tensor:
        return torch.exp(-(r + 1.0))


@dataclass(frozen=True)
class ForwardKL(Divergence):
    """KL(data occupancy || model occupancy), mass covering: ``phi(r) = 1 + log(r)``, domain
    ``r > 0``. Outside ``r >= r0 = 1 / max_slope``: IQ-Learn's gradient form with
    ``phi' = 1 / r`` clamped to ``max_slope`` (tangent continuation)."""

    name = "forward_kl"
    r_star = 1.0

    def phi(self, r: Tensor) -> Tensor:
        return 1.0 + torch.log(r)

    def phi_prime(self, r: Tensor) -> Tensor:
        return 1.0 / r

    @property
    def threshold(self) -> float | None:
        return 1.0 / self.max_slope


@dataclass(frozen=True)
class JensenShannon(Divergence):
    """Jensen-Shannon: ``phi(r) = log(2 - exp(-r))``, domain ``r > -log 2``. Outside
    ``r >= r0 = -log(2 M / (1 + M))`` (M = max_slope, where ``phi' = M``): IQ-Learn's gradient form
    with ``phi' = exp(-r) / (2 - exp(-r))`` clamped to M (tangent continuation)."""

    name = "js"
    r_star = 0.0

    def phi(self, r: Tensor) -> Tensor:
        return torch.log(2.0 - torch.exp(-r))

    def phi_prime(self, r: Tensor) -> Tensor:
        e = torch.exp(-r)
        return e / (2.0 - e)

    @property
    def threshold(self) -> float | None:
        m = self.max_slope
        return -math.log(2.0 * m / (1.0 + m))


@dataclass(frozen=True)
class Hellinger(Divergence):
    """Squared Hellinger: ``phi(r) = r / (1 + r)``, domain ``r > -1``. Outside
    ``r >= r0 = max_slope ** -0.5 - 1``: IQ-Learn's gradient form with ``phi' = 1 / (1 + r)^2``
    clamped to max_slope (tangent continuation)."""

    name = "hellinger"
    r_star = 0.0

    def phi(self, r: Tensor) -> Tensor:
        return r / (1.0 + r)

    def phi_prime(self, r: Tensor) -> Tensor:
        return 1.0 / (1.0 + r) ** 2

    @property
    def threshold(self) -> float | None:
        return self.max_slope**-0.5 - 1.0


@dataclass(frozen=True)
class TotalVariation(Divergence):
    """Total variation: ``phi(r) = r`` on the domain ``|r| <= 1/2``. Above 1/2 the conjugate is
    flat (``phi = 1/2``, zero slope); below -1/2 (outside the domain) IQ-Learn's gradient form with
    ``phi' = 1`` continues it linearly. Together: ``phi_safe(r) = min(r, 1/2)``. ``max_slope`` has
    no effect (the slope is at most 1)."""

    name = "tv"
    r_star = 0.0  # any r < 1/2

    def phi(self, r: Tensor) -> Tensor:
        return torch.clamp(r, max=0.5)

    def phi_prime(self, r: Tensor) -> Tensor:
        return (r < 0.5).to(r.dtype)

    @property
    def threshold(self) -> float | None:
        return -0.5


DIVERGENCES: dict[str, Divergence] = {
    "chi2": Chi2(),
    "kl": ReverseKL(),
    "reverse_kl": ReverseKL(),
    "forward_kl": ForwardKL(),
    "js": JensenShannon(),
    "hellinger": Hellinger(),
    "tv": TotalVariation(),
}


def get_divergence(name: str | Divergence) -> Divergence:
    """Look a divergence up by name (``Divergence`` objects pass through)."""
    if isinstance(name, Divergence):
        return name
    try:
        return DIVERGENCES[name]
    except KeyError:
        valid = ", ".join(sorted(DIVERGENCES))
        raise ValueError(f"unknown divergence {name!r}; valid names: {valid}") from None
