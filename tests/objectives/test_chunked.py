"""The per-position reductions without full logits (`soft_q.legal_soft_q`, `chunked.chunked_soft_q`,
`chunked.chunked_cross_entropy`) against the slow reference: masked (B, T, V) logits read by `soft_values` /
`action_values` / `F.cross_entropy`, values and gradients."""

import math

import pytest
import torch
import torch.nn.functional as F

from imitlm.objectives import (
    LinearHead,
    ObjectiveSpec,
    action_values,
    chunked_cross_entropy,
    chunked_soft_q,
    imitation_loss,
    imitation_loss_from_values,
    legal_soft_q,
    mask_illegal_bksp,
    needed_positions,
    soft_values,
)
from objectives.test_bksp_mask import BKSP, boundary_batch


def reference(logits, targets, illegal, bksp_id, tau):
    masked = mask_illegal_bksp(logits, illegal, bksp_id)
    return soft_values(masked, tau), action_values(masked, targets)


def test_docstring_example():
    logits = torch.tensor([[0.0, 0.0, 9.0], [0.0, 0.0, 9.0]])
    values, q_taken = legal_soft_q(logits, torch.tensor([0, 2]), torch.tensor([True, False]), 2)
    torch.testing.assert_close(values, torch.tensor([math.log(2), math.log(2 + math.exp(9))]))
    torch.testing.assert_close(q_taken, torch.tensor([0.0, 9.0]))


@pytest.mark.parametrize("tau", [1.0, 0.7])
def test_legal_soft_q_equals_masked_logits(tau):
    batch, illegal = boundary_batch(seed=3)
    logits, targets = batch["logits"], batch["targets"]
    values, q_taken = legal_soft_q(logits, targets, illegal, BKSP, tau)
    ref_values, ref_q = reference(logits, targets, illegal, BKSP, tau)
    torch.testing.assert_close(values, ref_values)
    torch.testing.assert_close(q_taken, ref_q)
    weights = torch.randn_like(values)
    grad = torch.autograd.grad((weights * (values + 2 * q_taken)).sum(), logits)[0]
    ref_grad = torch.autograd.grad((weights * (ref_values + 2 * ref_q)).sum(), logits)[0]
    torch.testing.assert_close(grad, ref_grad)
    assert (grad[..., BKSP][illegal] == 0).all()
    # the illegal <bksp> as an action: -inf, as the masked logits read it
    targets = torch.where(illegal, BKSP, targets)
    _, q_taken = legal_soft_q(logits, targets, illegal, BKSP, tau)
    assert torch.isneginf(q_taken[illegal]).all()
    # no <bksp> action: the plain reductions
    values, q_taken = legal_soft_q(logits, targets, illegal, None, tau)
    torch.testing.assert_close(values, soft_values(logits, tau))


def as_head(module, kind):
    """The head as ``chunked_soft_q`` sees it: a ``LinearHead`` (fused path) or any callable (checkpointed path)."""
    if kind == "fused":
        return LinearHead(module.weight, module.bias, scale=1.5)
    return lambda hidden: 1.5 * module(hidden)


def hidden_case(seed=0, batch=3, seq_len=9, width=6, vocab=11, bias=True):
    """Hidden states, a linear head and a layout-like batch: EOS-terminated, truncated and padded rows."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(batch, seq_len, width, generator=g, requires_grad=True)
    head = torch.nn.Linear(width, vocab, bias=bias)
    with torch.no_grad():
        head.weight.copy_(torch.randn(vocab, width, generator=g))
        head.weight[BKSP] += 1.0  # a likely <bksp>: masking it matters
    targets = torch.randint(0, vocab, (batch, seq_len), generator=g)
    targets[0, :2] = -100  # prompt
    targets[1, 6:] = -100  # EOS then padding
    done = torch.zeros(batch, seq_len, dtype=torch.bool)
    done[1, 5] = True
    next_index = torch.clamp(torch.arange(seq_len) + 1, max=seq_len - 1).expand(batch, seq_len).clone()
    illegal = torch.zeros(batch, seq_len, dtype=torch.bool)
    illegal[:, 2] = True
    illegal[2, 0] = True
    targets = torch.where(illegal & (targets == BKSP), 1, targets)
    return hidden, head, targets, next_index, done, illegal


@pytest.mark.parametrize("kind", ["fused", "checkpointed"])
@pytest.mark.parametrize("tau", [1.0, 0.8])
@pytest.mark.parametrize("chunk_size", [1, 4, 5, 27, 1000])
def test_chunked_soft_q_equals_full_logits(chunk_size, tau, kind):
    hidden, module, targets, next_index, done, illegal = hidden_case(seed=chunk_size)
    head = as_head(module, kind)
    values, q_taken = chunked_soft_q(hidden, head, targets, next_index, done, illegal, BKSP, tau, chunk_size)
    ref_values, ref_q = reference(1.5 * module(hidden), targets, illegal, BKSP, tau)
    needed = needed_positions(targets, next_index, done)
    torch.testing.assert_close(values[needed], ref_values[needed])
    torch.testing.assert_close(q_taken[needed], ref_q[needed])
    assert (values[~needed] == 0).all()
    weights = torch.randn_like(values) * needed
    params = [hidden, *module.parameters()]
    grads = torch.autograd.grad((weights * (values - 3 * q_taken)).sum(), params)
    ref_grads = torch.autograd.grad((weights * (ref_values - 3 * ref_q)).sum(), params)
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad)


def test_needed_positions_are_states_and_next_states():
    targets = torch.tensor([[-100, 5, 6, 0, -100, -100], [-100, -100, 5, 6, 7, -100]])
    done = torch.tensor([[False, False, False, True, False, False], [False] * 6])
    next_index = torch.tensor([[1, 2, 3, 4, 5, 5], [1, 2, 3, 4, 5, 5]])
    expected = torch.tensor([[0, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1]], dtype=torch.bool)  # row 1 bootstraps at 5
    assert torch.equal(needed_positions(targets, next_index, done), expected)


@pytest.mark.parametrize("kind", ["fused", "checkpointed"])
def test_objective_from_chunked_values_equals_objective_on_logits(kind):
    """`imitation_loss` on masked logits == `imitation_loss_from_values` on the chunked reductions."""
    hidden, module, targets, next_index, done, illegal = hidden_case(seed=7, bias=False)
    head = as_head(module, kind)
    target_mask = targets != -100
    target_mask[0, 4] = False  # a noise token
    is_policy = torch.tensor([False, False, True])
    spec = ObjectiveSpec(divergence="js", gamma=0.9, td_weight=0.3, mix_beta=0.5, il_weight=0.8, use_mixture=True)
    args = (targets, target_mask, done, next_index, is_policy, spec)
    ref_loss, ref_metrics = imitation_loss(mask_illegal_bksp(head(hidden), illegal, BKSP), *args)
    values, q_taken = chunked_soft_q(hidden, head, targets, next_index, done, illegal, BKSP, chunk_size=4)
    loss, metrics = imitation_loss_from_values(values, q_taken, *args)
    torch.testing.assert_close(loss, ref_loss)
    for name, value in ref_metrics.items():
        torch.testing.assert_close(metrics[name], value, msg=name)
    grads = torch.autograd.grad(loss, [hidden, module.weight])
    ref_grads = torch.autograd.grad(ref_loss, [hidden, module.weight])
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad)


@pytest.mark.parametrize("kind", ["fused", "checkpointed"])
@pytest.mark.parametrize("chunk_size", [3, 64])
def test_chunked_cross_entropy_equals_cross_entropy(chunk_size, kind):
    hidden, module, targets, *_ = hidden_case(seed=11)
    total, count = chunked_cross_entropy(hidden, as_head(module, kind), targets, chunk_size)
    logits = 1.5 * module(hidden)  # (B, T, V)
    ref = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum")
    torch.testing.assert_close(total, ref)
    assert int(count) == int((targets != -100).sum())
    grads = torch.autograd.grad(total, [hidden, module.weight, module.bias])
    ref_grads = torch.autograd.grad(ref, [hidden, module.weight, module.bias])
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad)


@pytest.mark.parametrize("kind", ["fused", "checkpointed"])
def test_no_gradient_same_values(kind):
    hidden, module, targets, next_index, done, illegal = hidden_case(seed=5)
    head = as_head(module, kind)
    with torch.no_grad():
        values, q_taken = chunked_soft_q(hidden, head, targets, next_index, done, illegal, BKSP, chunk_size=4)
    grad_values, _ = chunked_soft_q(hidden, head, targets, next_index, done, illegal, BKSP, chunk_size=4)
    torch.testing.assert_close(values, grad_values.detach())
