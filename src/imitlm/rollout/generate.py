"""Batched generation with `<bksp>`, using the training layout incrementally (DESIGN sec 4, last paragraph).

The KV cache only grows: every action appends one cache slot per row. Each row keeps a stack
of the slots that make up its state, and an additive float mask over cache slots lets the next
query see exactly that stack. A sampled `<bksp>` pops the deleted slot, and the next input is a
copy of the new last token with its position id (that token's old slot is hidden, the copy
takes its place). So rows delete independently without cropping a shared cache, and the
logits seen while sampling equal those :func:`imitlm.backspace.layout.build_inputs` computes
on the same trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from imitlm.backspace.layout import apply_backspaces
from imitlm.rollout.sampling import process_logits, sample_from_logits


@dataclass
class GenerationResult:
    """Per-row outputs of :func:`generate_with_backspace`.

    actions: actions taken (token ids, `<bksp>`, the final EOS if any).
    final_ids: the completion after applying backspaces, without prompt and EOS.
    finished: True if the row ended with EOS (False: truncated at a limit).
    forced: per action, True where ``force_prob`` replaced the sampled action.
    logits: per row (n_actions, V) raw model logits at each step (``return_logits=True``).
    """

    actions: list[list[int]]
    final_ids: list[list[int]]
    finished: list[bool]
    forced: list[list[bool]]
    logits: list[torch.Tensor] | None = None


def generator_on(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """A generator on `device`: the given one if it already lives there, else one seeded from it (so the
    caller's CPU generator still determines every sample and advances, which keeps resumed runs exact)."""
    if generator is None or generator.device.type == torch.device(device).type:
        return generator
    seed = int(torch.randint(2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


def _model_dtype(model) -> torch.dtype:
    return getattr(model, "dtype", None) or next(model.parameters()).dtype


@torch.no_grad()
def generate_with_backspace(
    model,
    prompts: Sequence[Sequence[int]],
    *,
    bksp_id: int,
    eos_id: int,
    pad_id: int,
    max_new_actions: int,
    max_state_length: int | None = None,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    allow_backspace: bool = True,
    force_prob: float = 0.0,
    force_token_ids: Sequence[int] | None = None,
    return_logits: bool = False,
    block_undo: bool = False,
    synced_ranks: bool = False,
) -> GenerationResult:
    """Generate from ``prompts`` (token id lists, any lengths) with `<bksp>` as an action.

    - `<bksp>` is masked to -inf where the row's completion is empty (it never deletes the
      prompt) and everywhere if ``allow_backspace`` is False.
    - A row stops at EOS (``finished``), after ``max_new_actions`` actions, or when its
      completion (after backspaces) reaches ``max_state_length`` tokens (truncated).
    - ``force_prob``: at each step, with this probability a row's action is replaced by a
      uniform draw from ``force_token_ids`` other than the chosen action (and other than an
      illegal `<bksp>`); flagged in ``forced``. Used for "forced error" evaluation.

    - ``block_undo``: right after a `<bksp>` deleted token x, x is masked for the next action. Greedy
      decoding otherwise loops forever on ``x <bksp> x <bksp> ...`` (the state after the deletion is the
      state that produced x). A decoding rule, like ``no_repeat_ngram_size``; off for rollouts, which must
      be samples of the model's own policy.

    - ``synced_ranks``: never stop before ``max_new_actions`` forwards, even when every row is done. Sharded
      models (FSDP, DeepSpeed ZeRO-3) gather weights collectively in each forward, so every rank must make the
      same number of calls (as ``synced_gpus`` does for ``model.generate``); finished rows are fed pad tokens.

    Prompts are left-padded; pad slots are masked out.
    """
    if max_new_actions < 1:
        raise ValueError("max_new_actions must be >= 1")
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token (e.g. BOS)")
    if force_prob > 0 and not force_token_ids:
        raise ValueError("force_prob > 0 needs force_token_ids")
    device = model.device if hasattr(model, "device") else next(model.parameters()).device
    generator = generator_on(generator, device)
    dtype = _model_dtype(model)
    min_value = torch.finfo(dtype).min
    B = len(prompts)
    prompt_lens = torch.tensor([len(p) for p in prompts], device=device)
    P = int(prompt_lens.max())
    n_slots = P + max_new_actions  # one cache slot per prompt position and per fed action

    # --- prefill: left-padded prompts ----------------------------------------------------------
    offset = P - prompt_lens  # (B,) pad count
    ar = torch.arange(P, device=device)
    is_prompt = ar[None, :] >= offset[:, None]  # (B, P)
    input_ids = torch.full((B, P), pad_id, dtype=torch.long, device=device)
    for b, p in enumerate(prompts):
        input_ids[b, P - len(p) :] = torch.as_tensor(list(p), dtype=torch.long, device=device)
    position_ids = (ar[None, :] - offset[:, None]).clamp(min=0)
    allowed = (ar[None, None, :] <= ar[None, :, None]) & is_prompt[:, None, :]  # (B, P, P)
    allowed |= torch.eye(P, dtype=torch.bool, device=device)[None]  # pads attend to themselves
    prefill_mask = torch.zeros((B, 1, P, P), dtype=dtype, device=device).masked_fill_(~allowed[:, None], min_value)

    # per-row bookkeeping over cache slots
    slot_token = torch.full((B, n_slots), pad_id, dtype=torch.long, device=device)  # token fed at slot
    slot_token[:, :P] = input_ids
    mask_buf = torch.full((B, n_slots), min_value, dtype=dtype, device=device)  # additive mask of the stack
    mask_buf[:, :P].masked_fill_(is_prompt, 0.0)
    stack = torch.zeros((B, n_slots), dtype=torch.long, device=device)  # slot at each depth
    # row b's prompt occupies slots offset_b .. P-1 at depths 0 .. len_b - 1 (entries at
    # depths >= the row's state length are never read before being written)
    stack[:, :P] = (ar[None, :] + offset[:, None]).clamp(max=P - 1)
    depth = prompt_lens.clone()  # (B,) state length incl. prompt

    force_ids = None
    if force_prob > 0:
        force_ids = torch.as_tensor(list(force_token_ids), dtype=torch.long, device=device)

    out = model(
        input_ids=input_ids,
        attention_mask=prefill_mask,
        position_ids=position_ids,
        use_cache=True,
        logits_to_keep=1,
    )
    cache = out.past_key_values
    logits = out.logits[:, -1, :]  # (B, V)

    actions = torch.full((B, max_new_actions), pad_id, dtype=torch.long, device=device)
    forced = torch.zeros((B, max_new_actions), dtype=torch.bool, device=device)
    n_actions = torch.zeros(B, dtype=torch.long, device=device)
    active = torch.ones(B, dtype=torch.bool, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    logit_steps: list[torch.Tensor] = []
    V = logits.shape[-1]

    # a <bksp> can only happen if the model may choose it or forcing may pick it
    has_bksp_column = 0 <= bksp_id < V
    bksp_possible = (allow_backspace and has_bksp_column) or (force_ids is not None and bool((force_ids == bksp_id).any()))
    neg_inf = float("-inf")
    just_deleted = torch.full((B,), -1, dtype=torch.long, device=device)  # token removed by the last action

    for step in range(max_new_actions):
        scores = logits.float()  # (B, V); modified in place below (logits is ours)
        if return_logits:
            logit_steps.append(scores.clone())
        if has_bksp_column:
            if allow_backspace:  # illegal where the completion is empty
                scores[:, bksp_id].masked_fill_(depth <= prompt_lens, neg_inf)
            else:
                scores[:, bksp_id] = neg_inf
        if block_undo and bool((just_deleted >= 0).any()):
            rows = (just_deleted >= 0).nonzero()[:, 0]
            scores[rows, just_deleted[rows]] = neg_inf
        if do_sample:
            scores = process_logits(scores, temperature=temperature, top_k=top_k, top_p=top_p)
        action = sample_from_logits(scores, do_sample=do_sample, generator=generator)  # (B,)

        if force_ids is not None:
            cand = force_ids[None, :] != action[:, None]  # (B, F)
            cand &= ~((force_ids[None, :] == bksp_id) & (depth <= prompt_lens)[:, None])
            has_cand = cand.any(1)
            coin = torch.rand(B, generator=generator, device=device) < force_prob
            pick = torch.multinomial(torch.where(has_cand[:, None], cand.float(), 1.0), 1, generator=generator)[:, 0]
            do_force = coin & has_cand & active
            action = torch.where(do_force, force_ids[pick], action)
            forced[:, step] = do_force

        action = torch.where(active, action, pad_id)
        actions[:, step] = action
        n_actions += active
        is_eos = active & (action == eos_id)
        new_slot = P + step
        # stack entries at depths >= a row's state length are never read before being written,
        # so rows that do not push may get a junk entry there
        if bksp_possible and bool((is_bksp := active & (action == bksp_id)).any()):
            # --- stack update with deletions (DESIGN sec 4) -----------------------------------
            is_tok = active & ~is_bksp & ~is_eos
            top = stack.gather(1, (depth - 1)[:, None])[:, 0]  # slot being deleted (bksp rows)
            new_depth = depth + is_tok.long() - is_bksp.long()
            below = stack.gather(1, (new_depth - 1).clamp(min=0)[:, None])[:, 0]  # new top j
            next_input = torch.where(is_bksp, slot_token.gather(1, below[:, None])[:, 0], action)
            next_input = torch.where(is_tok | is_bksp, next_input, pad_id)
            # hide the deleted slot and the copied slot j; the copy (new slot) replaces j
            hide = torch.stack([top, below], 1)  # (B, 2)
            mask_buf.scatter_(1, hide, torch.where(is_bksp[:, None], min_value, mask_buf.gather(1, hide)))
            just_deleted = torch.where(is_bksp, slot_token.gather(1, top[:, None])[:, 0], -1)
            write_at = torch.where(is_tok | is_bksp, new_depth - 1, depth)
            stack.scatter_(1, write_at[:, None], new_slot)
            depth = new_depth
        else:
            # --- only pushes: the new slot goes on top of the stack ---------------------------
            is_tok = active & ~is_eos
            just_deleted.fill_(-1)
            next_input = torch.where(is_tok, action, pad_id)
            stack.scatter_(1, depth[:, None], new_slot)
            depth = depth + is_tok
        slot_token[:, new_slot] = next_input

        finished |= is_eos
        active = active & ~is_eos
        if max_state_length is not None:
            active &= (depth - prompt_lens) < max_state_length
        if step == max_new_actions - 1 or (not synced_ranks and not bool(active.any())):
            break
        # the new slot is the top of every active row's stack; stopped rows see it too (their
        # outputs are ignored, and no row ever has an empty mask, so nothing is NaN)
        mask_buf[:, new_slot] = 0.0
        out = model(
            input_ids=next_input[:, None],
            attention_mask=mask_buf[:, None, None, : new_slot + 1],
            position_ids=(depth - 1).clamp(min=0)[:, None],
            past_key_values=cache,
            use_cache=True,
        )
        logits = out.logits[:, -1, :]

    # --- per-row results ------------------------------------------------------------------------
    actions_l = actions.tolist()
    forced_l = forced.tolist()
    counts = n_actions.tolist()
    res_actions, res_final, res_forced = [], [], []
    for b in range(B):
        acts = actions_l[b][: counts[b]]
        res_actions.append(acts)
        res_forced.append(forced_l[b][: counts[b]])
        body = acts[:-1] if finished[b] else acts
        res_final.append(apply_backspaces(body, bksp_id))
    res_logits = None
    if return_logits:
        stacked = torch.stack(logit_steps, 1)  # (B, steps, V)
        res_logits = [stacked[b, : counts[b]] for b in range(B)]
    return GenerationResult(
        actions=res_actions,
        final_ids=res_final,
        finished=finished.tolist(),
        forced=res_forced,
        logits=res_logits,
    )
