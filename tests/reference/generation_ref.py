"""Cache-free reference generator: a fresh forward over each row's current state at every step."""

from __future__ import annotations

import torch

from reference.backspace_ref import state_logits_ref


@torch.no_grad()
def generate_ref(model, prompt, *, bksp_id, eos_id, max_new_actions, max_state_length=None, forced_trace=None):
    """Greedy generation for one prompt, one action at a time, no cache and no custom mask.

    ``forced_trace``: optional list of (forced: bool, action) per step; where forced, that
    action replaces the greedy one (to replay a trace of forced actions).
    Returns (actions, per-step logits (n, V), finished).
    """
    state = list(prompt)
    actions, logits_seen = [], []
    for step in range(max_new_actions):
        logits = state_logits_ref(model, state).float()
        logits_seen.append(logits)
        scores = logits.clone()
        if len(state) == len(prompt):
            scores[bksp_id] = float("-inf")  # never delete the prompt
        action = int(scores.argmax())
        if forced_trace is not None and step < len(forced_trace) and forced_trace[step][0]:
            action = forced_trace[step][1]
        actions.append(action)
        if action == eos_id:
            return actions, torch.stack(logits_seen), True
        if action == bksp_id:
            state.pop()
        else:
            state.append(action)
        if max_state_length is not None and len(state) - len(prompt) >= max_state_length:
            break
    return actions, torch.stack(logits_seen), False
