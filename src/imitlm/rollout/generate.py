"""Batched generation with `<bksp>`, using the training layout incrementally (docs/design.md, "The `<bksp>`
layout"last paragraph).

Three parts: the prefill and the push/pop stack update over a KV cache that only grows (`rollout.stack`), the
per-step rules on logits and actions (`rollout.processors`), and the sampling loop here. The logits seen while
sampling equal those :func:`imitlm.backspace.layout.build_inputs` computes on the same trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from imitlm.backspace.apply import apply_backspaces
from imitlm.errors import UserError
from imitlm.models import model_dtype, run_settings
from imitlm.rollout.processors import BackspaceMask, BlockUndo, ForcedErrors, SuppressTokens
from imitlm.rollout.sampling import process_logits, sample_from_logits
from imitlm.rollout.stack import BackspaceState


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


def policy_tau(model) -> float:
    """The temperature ``tau`` the model was trained with (its saved ``q_temperature``; 1 for a model trained
    elsewhere). Its policy is ``softmax(Q / tau)``: sampling, perplexity and rewards read it, so that they all use
    the policy the loss trained."""
    tau = run_settings(model).get("q_temperature", 1.0)
    if not isinstance(tau, (int, float)) or not tau > 0:
        raise UserError(f"the model's saved q_temperature must be a number > 0, got {tau!r}; fix its config.json")
    return float(tau)


def generator_on(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """A generator on `device`: the given one if it already lives there, else one seeded from it (so the
    caller's CPU generator still determines every sample and advances, which keeps resumed runs exact)."""
    if generator is None or generator.device.type == torch.device(device).type:
        return generator
    seed = int(torch.randint(2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


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
    tau: float | None = None,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    allow_backspace: bool = True,
    force_prob: float = 0.0,
    force_token_ids: Sequence[int] | None = None,
    return_logits: bool = False,
    block_undo: bool = False,
    synced_ranks: bool = False,
    suppress_ids: Sequence[int] = (),
) -> GenerationResult:
    """Generate from ``prompts`` (token id lists, any lengths) with `<bksp>` as an action.

    - `<bksp>` is masked to -inf where the row's completion is empty (it never deletes the
      prompt) and everywhere if ``allow_backspace`` is False (:class:`BackspaceMask`).
    - A row stops at EOS (``finished``), after ``max_new_actions`` actions, or when its
      completion (after backspaces) reaches ``max_state_length`` tokens (truncated).
    - ``force_prob``: at each step, with this probability a row's action is replaced by a
      uniform draw from ``force_token_ids`` (:class:`ForcedErrors`); flagged in ``forced``.
    - ``block_undo``: a token a `<bksp>` deleted is masked whenever the row is back in the state it was deleted
      from, so greedy decoding never repeats an action in a state (:class:`BlockUndo`).
    - ``suppress_ids``: tokens never chosen as actions (:class:`SuppressTokens`; forcing never picks them either
      when they are not in ``force_token_ids``).
    - ``synced_ranks``: never stop before ``max_new_actions`` forwards, even when every row is done. Sharded
      models (FSDP, DeepSpeed ZeRO-3) gather weights collectively in each forward, so every rank must make the
      same number of calls (as ``synced_gpus`` does for ``model.generate``); finished rows are fed pad tokens.

    - ``tau``: the policy's temperature (None: the model's saved one, ``policy_tau``); sampling draws from
      ``softmax(Q / (tau * temperature))``, so ``temperature = 1`` is the trained policy ``softmax(Q / tau)``.

    Prompts are left-padded; pad slots are masked out.
    """
    if max_new_actions < 1:
        raise ValueError("max_new_actions must be >= 1")
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token (e.g. BOS)")
    if force_prob > 0 and not force_token_ids:
        raise ValueError("force_prob > 0 needs force_token_ids")
    device = model.device if hasattr(model, "device") else next(model.parameters()).device
    state, prefill_inputs = BackspaceState.prefill(
        prompts, pad_id=pad_id, max_new_actions=max_new_actions, dtype=model_dtype(model), device=device
    )
    processors = [BackspaceMask(bksp_id, allow_backspace)] + ([BlockUndo()] if block_undo else [])
    if suppress_ids:
        processors.append(SuppressTokens(suppress_ids))
    forcing = ForcedErrors(force_prob, force_token_ids, bksp_id, device) if force_prob > 0 else None
    decoding = _Decoding(
        processors=processors,
        forcing=forcing,
        do_sample=do_sample,
        temperature=(policy_tau(model) if tau is None else tau) * temperature,  # the user's T times tau
        top_k=top_k,
        top_p=top_p,
        generator=generator_on(generator, device),
        bksp_id=bksp_id,
        eos_id=eos_id,
        pad_id=pad_id,
        allow_backspace=allow_backspace,
    )
    out = model(**prefill_inputs, use_cache=True, logits_to_keep=1)
    return _decode(model, state, out, decoding, max_new_actions, max_state_length, synced_ranks, return_logits, device)


@dataclass
class _Decoding:
    """How each action of `generate_with_backspace` is chosen (its arguments, resolved)."""

    processors: list
    forcing: ForcedErrors | None
    do_sample: bool
    temperature: float  # the sampling temperature: the policy's tau times the user's
    top_k: int
    top_p: float
    generator: torch.Generator | None
    bksp_id: int
    eos_id: int
    pad_id: int
    allow_backspace: bool

    def choose(self, state: BackspaceState, logits: torch.Tensor) -> torch.Tensor:
        """(B,) actions from the (B, V) logits: the rules (processors), then greedy or sampled."""
        scores = logits
        for processor in self.processors:
            scores = processor(state, scores)
        if self.do_sample:
            scores = process_logits(scores, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)
        return sample_from_logits(scores, do_sample=self.do_sample, generator=self.generator)


def _decode(
    model, state, out, decoding: _Decoding, max_new_actions, max_state_length, synced_ranks, return_logits, device
) -> GenerationResult:
    """The decoding loop of `generate_with_backspace`, from the prefill's output ``out``."""
    cache = out.cache
    logits = out.logits[:, -1, :]  # (B, V)
    B, V = logits.shape
    pad_id, eos_id, bksp_id, forcing = decoding.pad_id, decoding.eos_id, decoding.bksp_id, decoding.forcing
    actions = torch.full((B, max_new_actions), pad_id, dtype=torch.long, device=device)
    forced = torch.zeros((B, max_new_actions), dtype=torch.bool, device=device)
    n_actions = torch.zeros(B, dtype=torch.long, device=device)
    active = torch.ones(B, dtype=torch.bool, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    logit_steps: list[torch.Tensor] = []
    # a <bksp> can only happen if the model may choose it or forcing may pick it
    bksp_possible = (decoding.allow_backspace and 0 <= bksp_id < V) or (forcing is not None and forcing.may_backspace())

    for step in range(max_new_actions):
        scores = logits.float()  # (B, V); the processors modify it in place (logits is ours)
        if return_logits:
            logit_steps.append(scores.clone())
        action = decoding.choose(state, scores)  # (B,)
        if forcing is not None:
            action, forced[:, step] = forcing(state, action, active, decoding.generator)

        action = torch.where(active, action, pad_id)
        actions[:, step] = action
        n_actions += active
        is_eos = active & (action == eos_id)
        next_input = state.push_pop(
            action, active, step, bksp_id=bksp_id, eos_id=eos_id, pad_id=pad_id, bksp_possible=bksp_possible
        )
        finished |= is_eos
        active = active & ~is_eos
        if max_state_length is not None:
            active &= (state.depth - state.prompt_lengths) < max_state_length
        if step == max_new_actions - 1 or (not synced_ranks and not bool(active.any())):
            break
        out = model(**state.next_inputs(next_input, step), cache=cache, use_cache=True)
        logits = out.logits[:, -1, :]

    return _results(actions, forced, n_actions, finished, logit_steps if return_logits else None, bksp_id)


def _results(actions, forced, n_actions, finished, logit_steps, bksp_id: int) -> GenerationResult:
    """Per-row lists from the (B, max_new_actions) buffers."""
    actions_l, forced_l, counts = actions.tolist(), forced.tolist(), n_actions.tolist()
    res_actions, res_final, res_forced = [], [], []
    for b in range(len(counts)):
        acts = actions_l[b][: counts[b]]
        res_actions.append(acts)
        res_forced.append(forced_l[b][: counts[b]])
        body = acts[:-1] if finished[b] else acts
        res_final.append(apply_backspaces(body, bksp_id))
    res_logits = None
    if logit_steps is not None:
        stacked = torch.stack(logit_steps, 1)  # (B, steps, V)
        res_logits = [stacked[b, : counts[b]] for b in range(len(counts))]
    return GenerationResult(
        actions=res_actions, final_ids=res_final, finished=finished.tolist(), forced=res_forced, logits=res_logits
    )
