"""The illegal <bksp> (at a state that is the prompt) is masked before V and log pi, as when sampling."""

import math

import torch

from imitlm.objectives import ObjectiveSpec, imitation_loss, mask_illegal_bksp

from reference.objectives_ref import imitation_loss_ref, random_batch

BKSP = 4  # the last of random_batch's 5 actions


def mask_ref(logits, bksp_illegal, bksp_id):
    """Loop reference: copy, then set the <bksp> entry to -inf at each illegal position."""
    out = logits.detach().clone()
    for b in range(out.shape[0]):
        for t in range(out.shape[1]):
            if bksp_illegal[b, t]:
                out[b, t, bksp_id] = -math.inf
    return out


def boundary_batch(seed=0):
    """random_batch with a large <bksp> logit everywhere and its first completion state marked illegal."""
    batch = random_batch(seed=seed)
    with torch.no_grad():
        batch["logits"][..., BKSP] += 6.0  # <bksp> dominates: masking it changes V a lot
    first = (batch["targets"] != -100).int().argmax(1)  # (B,) first target position: the state is the prompt
    illegal = torch.zeros_like(batch["target_mask"])
    illegal[torch.arange(len(first)), first] = True
    # a data target is never <bksp> at an illegal state (build_inputs rejects it)
    batch["targets"] = torch.where(illegal & (batch["targets"] == BKSP), 1, batch["targets"])
    return batch, illegal


def test_mask_matches_loop_reference_and_keeps_input():
    batch, illegal = boundary_batch()
    logits = batch["logits"]
    before = logits.detach().clone()
    masked = mask_illegal_bksp(logits, illegal, BKSP)
    torch.testing.assert_close(masked.detach(), mask_ref(logits, illegal, BKSP))
    assert torch.equal(logits.detach(), before)  # out of place
    assert mask_illegal_bksp(logits, illegal, None) is logits  # no <bksp> action: nothing to mask


def test_masked_loss_is_the_loss_over_legal_actions_and_differs_from_unmasked():
    batch, illegal = boundary_batch(seed=1)
    spec = dict(gamma=0.9, td_weight=0.3, mix_beta=0.5, il_weight=0.8, tau=1.3, use_mixture=True)
    logits = batch.pop("logits")
    masked_loss, metrics = imitation_loss(
        mask_illegal_bksp(logits, illegal, BKSP), **batch, spec=ObjectiveSpec(divergence="chi2", **spec)
    )
    plain_loss, _ = imitation_loss(logits, **batch, spec=ObjectiveSpec(divergence="chi2", **spec))
    # the loop reference on logits whose illegal <bksp> is -inf (exp(-inf) = 0: the action is absent)
    expected = imitation_loss_ref(
        mask_ref(logits, illegal, BKSP).requires_grad_(True), **batch, divergence="chi2", **spec
    )
    torch.testing.assert_close(masked_loss, expected, rtol=1e-10, atol=1e-12)
    assert abs(masked_loss.item() - plain_loss.item()) > 0.1  # a large <bksp> logit moves V at the prompt
    assert all(torch.isfinite(v) for v in metrics.values())
    (grad,) = torch.autograd.grad(masked_loss, logits)
    assert torch.isfinite(grad).all()  # -inf never meets a 0 factor as NaN
    assert (grad[..., BKSP][illegal] == 0).all()  # the masked entry gets no gradient
    assert (grad[..., BKSP][~illegal] != 0).any()


def test_masked_log_pi_at_the_prompt_is_log_softmax_without_bksp():
    """Closed form: at an illegal state, pi is the softmax over the other actions."""
    batch, illegal = boundary_batch(seed=2)
    logits = batch["logits"].detach()
    masked = mask_illegal_bksp(logits, illegal, BKSP)
    log_pi = torch.log_softmax(masked, -1)
    legal = torch.log_softmax(logits[..., :BKSP], -1)  # drop the <bksp> column
    torch.testing.assert_close(log_pi[illegal][:, :BKSP], legal[illegal])
    assert torch.isneginf(log_pi[illegal][:, BKSP]).all()
    torch.testing.assert_close(log_pi[~illegal], torch.log_softmax(logits, -1)[~illegal])
