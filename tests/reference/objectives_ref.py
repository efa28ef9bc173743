"""Slow, loop-based references for imitlm.objectives (one transition at a time, no gathers).

Written from docs/design.md directly, with the divergences' formulas spelled out again (not
imported), so they check the fast code rather than repeat it.
"""

from __future__ import annotations

import math

import torch

# phi, phi' and the tangent threshold r0 of each divergence, for max_slope M (here spelled
# out independently of imitlm.objectives.divergences)
_PHI = {
    "chi2": (lambda r: r, lambda r: 1.0, lambda m: None),
    "kl": (lambda r: -torch.exp(-(r + 1)), lambda r: math.exp(-(r + 1)), lambda m: None),  # all of R: no clamp
    "forward_kl": (lambda r: 1 + torch.log(r), lambda r: 1 / r, lambda m: 1 / m),
    "js": (
        lambda r: torch.log(2 - torch.exp(-r)),
        lambda r: math.exp(-r) / (2 - math.exp(-r)),
        lambda m: math.log((1 + m) / (2 * m)),
    ),
    "hellinger": (lambda r: r / (1 + r), lambda r: 1 / (1 + r) ** 2, lambda m: 1 / math.sqrt(m) - 1),
    "tv": (lambda r: torch.clamp(r, max=0.5), lambda r: 1.0, lambda m: -0.5),
}
_PHI["reverse_kl"] = _PHI["kl"]


def phi_ref(name: str, r: torch.Tensor, max_slope: float = 10.0) -> torch.Tensor:
    """phi(r) of one scalar reward, continued by its tangent below r0 (IQ-Learn gradient form)."""
    phi, phi_prime, threshold = _PHI[name]
    r0 = threshold(max_slope)
    if r0 is None or float(r.detach()) >= r0:
        return phi(r)
    r0_t = torch.tensor(r0, dtype=r.dtype)
    return phi(r0_t) + phi_prime(r0) * (r - r0)


def imitation_loss_ref(
    logits,
    targets,
    target_mask,
    done,
    next_index,
    is_policy,
    *,
    divergence="chi2",
    gamma=1.0,
    td_weight=0.0,
    mix_beta=0.0,
    il_weight=1.0,
    tau=1.0,
    use_mixture=False,
    use_il=True,
    num_data_tokens=None,
    num_policy_tokens=None,
    num_data_rows=None,
    num_policy_rows=None,
    max_slope=10.0,
):
    """The one objective (docs/design.md) with python loops, one scalar per transition.

    The estimator of ``E_rho``: each row sums its transitions with weights ``gamma^t`` (t counts every action of the
    row, noise tokens included); each source sums its rows and is divided by ``rows * L``, with ``L`` = data tokens /
    data rows, the mean data length. The value term sums every transition (so it telescopes), the other terms only
    the expert ones (noise tokens are not expert actions).
    """
    batch, seq_len, vocab = logits.shape
    sums = {k: 0.0 for k in ("logp_d", "phi_d", "val_d", "val_p", "r2_d", "r2_p")}
    n_d = n_p = 0
    rows_d = rows_p = 0
    for b in range(batch):
        policy = bool(is_policy[b])
        t = 0
        has_expert = False
        for i in range(seq_len):
            a = int(targets[b, i])
            if a == -100:
                continue
            discount = gamma**t
            t += 1
            q_row = logits[b, i]
            v = tau * torch.log(sum(torch.exp(q_row[k] / tau) for k in range(vocab)))
            if bool(done[b, i]):
                v_next = 0.0
            else:
                j = int(next_index[b, i])
                v_next = tau * torch.log(sum(torch.exp(logits[b, j, k] / tau) for k in range(vocab)))
            r = q_row[a] - gamma * v_next
            value_diff = v - gamma * v_next
            sums["val_p" if policy else "val_d"] = sums["val_p" if policy else "val_d"] + discount * value_diff
            if not bool(target_mask[b, i]):
                continue  # a noise token: in the value term only
            has_expert = True
            if policy:
                n_p += 1
                sums["r2_p"] = sums["r2_p"] + discount * r * r
            else:
                n_d += 1
                sums["logp_d"] = sums["logp_d"] + discount * (q_row[a] - v) / tau
                sums["phi_d"] = sums["phi_d"] + discount * phi_ref(divergence, r, max_slope)
                sums["r2_d"] = sums["r2_d"] + discount * r * r
        if has_expert:
            rows_p, rows_d = rows_p + policy, rows_d + (not policy)
    n_d = n_d if num_data_tokens is None else num_data_tokens
    n_p = n_p if num_policy_tokens is None else num_policy_tokens
    rows_d = rows_d if num_data_rows is None else num_data_rows
    rows_p = rows_p if num_policy_rows is None else num_policy_rows
    length = n_d / rows_d if rows_d > 0 else (n_p / rows_p if rows_p > 0 else 1.0)  # L, the common normaliser
    mean_d = lambda key: sums[key] / (rows_d * length) if rows_d > 0 else 0.0 * logits.sum()  # noqa: E731
    mean_p = lambda key: sums[key] / (rows_p * length) if rows_p > 0 else 0.0 * logits.sum()  # noqa: E731
    beta = mix_beta if (use_mixture and rows_p > 0) else 0.0
    mle = -mean_d("logp_d")
    value = (1 - beta) * mean_d("val_d") + beta * mean_p("val_p")
    r2 = (1 - beta) * mean_d("r2_d") + beta * mean_p("r2_p")
    il = -mean_d("phi_d") + value + td_weight * r2
    if not use_il:
        return mle
    return (1 - il_weight) * mle + il_weight * il


def rewards_ref(logits, targets, next_index, done, gamma=1.0, tau=1.0):
    """r_t = Q(s_t, a_t) - gamma (1 - d_t) V(s_{t+1}) with loops; 0 where there is no target."""
    batch, seq_len, vocab = logits.shape
    out = torch.zeros(batch, seq_len, dtype=logits.dtype)
    for b in range(batch):
        for i in range(seq_len):
            a = int(targets[b, i])
            if a == -100:
                continue
            v_next = 0.0
            if not bool(done[b, i]):
                j = int(next_index[b, i])
                v_next = tau * math.log(sum(math.exp(float(logits[b, j, k]) / tau) for k in range(vocab)))
            out[b, i] = float(logits[b, i, a]) - gamma * v_next
    return out


def random_batch(batch=6, seq_len=8, vocab=5, n_policy=2, seed=0, scale=2.0, dtype=torch.float64, noise=0.15):
    """A batch in the trainer's layout (position i holds s_t, predicts targets[i], next state at i+1).

    EOS is token 0. Rows alternate between EOS-terminated (then padding) and truncated (the last
    action at T-2 bootstraps from position T-1); prompts of 1-2 tokens have no targets; some
    completion actions are noise (target_mask False, with probability ``noise``); the last ``n_policy`` rows are
    policy rows.
    Returns a dict with logits (leaf, requires grad), targets, target_mask, done, next_index,
    is_policy.
    """
    g = torch.Generator().manual_seed(seed)
    logits = (scale * torch.randn(batch, seq_len, vocab, generator=g, dtype=dtype)).requires_grad_(True)
    targets = torch.full((batch, seq_len), -100, dtype=torch.long)
    target_mask = torch.zeros(batch, seq_len, dtype=torch.bool)
    done = torch.zeros(batch, seq_len, dtype=torch.bool)
    for b in range(batch):
        prompt_len = 1 + int(torch.randint(0, 2, (1,), generator=g))
        first = prompt_len - 1  # first position holding a completion state
        truncated = b % 2 == 1
        last = seq_len - 2 if truncated else int(torch.randint(first + 1, seq_len - 1, (1,), generator=g))
        for i in range(first, last + 1):
            targets[b, i] = int(torch.randint(1, vocab, (1,), generator=g))
            target_mask[b, i] = bool(torch.rand((), generator=g) >= noise)  # False: a noise token
        if not truncated:
            targets[b, last] = 0  # EOS
            target_mask[b, last] = True
            done[b, last] = True
    next_index = torch.clamp(torch.arange(seq_len) + 1, max=seq_len - 1).expand(batch, seq_len).clone()
    is_policy = torch.zeros(batch, dtype=torch.bool)
    is_policy[batch - n_policy :] = True
    return dict(
        logits=logits, targets=targets, target_mask=target_mask, done=done, next_index=next_index, is_policy=is_policy
    )
