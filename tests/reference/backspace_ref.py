"""Slow references for the <bksp> layout: explicit stacks and fresh forwards per state."""

from __future__ import annotations

import torch


def layout_ref(prompt: list[int], actions: list[int], bksp_id: int):
    """Python stack simulation of the `<bksp>` layout (docs/design.md): (input_ids, position_ids, stacks after each
    step)."""
    input_ids, position_ids, stacks = [], [], []
    stack: list[int] = []
    for t, tok in enumerate(list(prompt) + list(actions)):
        if t >= len(prompt) and tok == bksp_id:
            stack.pop()
            if len(stack) < len(prompt):
                raise ValueError("deletes a prompt token")
            j = stack[-1]
            input_ids.append(input_ids[j])
            position_ids.append(position_ids[j])
            stack[-1] = t
        else:
            input_ids.append(tok)
            position_ids.append(len(stack))
            stack.append(t)
        stacks.append(list(stack))
    return input_ids, position_ids, stacks


def states_ref(prompt: list[int], actions: list[int], bksp_id: int) -> list[list[int]]:
    """The state (token list) held at each position: prompt prefixes, then after each action."""
    states = [list(prompt[: i + 1]) for i in range(len(prompt))]
    cur = list(prompt)
    for a in actions:
        if a == bksp_id:
            if len(cur) <= len(prompt):
                raise ValueError("deletes a prompt token")
            cur = cur[:-1]
        else:
            cur = cur + [a]
        states.append(list(cur))
    return states


def prompt_boundary_ref(prompt: list[int], actions: list[int], bksp_id: int) -> list[bool]:
    """Per position: the state held there is exactly the prompt (a <bksp> would delete a prompt token)."""
    return [len(state) == len(prompt) for state in states_ref(prompt, actions, bksp_id)]


@torch.no_grad()
def state_logits_ref(model, state: list[int]) -> torch.Tensor:
    """Logits (V,) of a fresh plain causal forward over one state, at its last token."""
    ids = torch.tensor([state], dtype=torch.long)
    return model(input_ids=ids).logits[0, -1]


# ------------------------------------------------------------------------------------------------
# Tiny randomly initialised models shared by tests/backspace and tests/rollout
# ------------------------------------------------------------------------------------------------

VOCAB = 20  # ids: 0 pad, 1 eos, 2..18 ordinary, 19 <bksp>
PAD, EOS, BKSP = 0, 1, 19
ORDINARY = list(range(2, 19))
MODEL_KINDS = ("gpt2", "llama", "qwen2")
ATTN_IMPLEMENTATIONS = ("eager", "sdpa")


def tiny_config(kind: str, vocab_size: int = VOCAB):
    from transformers import GPT2Config, LlamaConfig, Qwen2Config

    common = dict(vocab_size=vocab_size, bos_token_id=EOS, eos_token_id=EOS, pad_token_id=PAD)
    if kind == "gpt2":
        return GPT2Config(
            n_layer=2,
            n_embd=32,
            n_head=2,
            n_positions=64,
            attn_pdrop=0.0,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            **common,
        )
    kw = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        **common,
    )
    if kind == "llama":
        return LlamaConfig(**kw)
    if kind == "qwen2":
        return Qwen2Config(**kw)
    raise ValueError(kind)


def tiny_model(kind: str, attn_implementation: str = "sdpa", seed: int = 0, vocab_size: int = VOCAB, **overrides):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = tiny_config(kind, vocab_size)
    for k, v in overrides.items():
        setattr(config, k, v)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attn_implementation)
    return model.eval()


def apply_backspaces_batch(
    actions: torch.Tensor, lengths: torch.Tensor, *, bksp_id: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectorised `imitlm.backspace.apply.apply_backspaces` for a right-padded batch (a test-only second
    implementation: it checks the list form on random batches).

    Args:
        actions: (B, T) long, right-padded.
        lengths: (B,) number of valid actions per row.

    Returns ``(tokens, new_lengths)``: (B, T) right-padded with ``pad_id`` and (B,).

    Example (``bksp_id = 9``, ``pad_id = 0``)::

        actions = [[5, 6, 9, 7], [5, 9, 6, 0]], lengths = [4, 3]
        tokens  = [[5, 7, 0, 0], [6, 0, 0, 0]], new_lengths = [2, 1]

    A token at s survives iff the depth never drops below its own depth afterwards.
    """
    B, T = actions.shape
    ar = torch.arange(T, device=actions.device)
    valid = ar[None, :] < lengths[:, None]  # (B, T)
    is_bksp = valid & (actions == bksp_id)
    step = torch.where(is_bksp, -1, 1).masked_fill(~valid, 0)
    depth = step.cumsum(1)  # (B, T) stack size after step t
    bad = valid & (depth < 0)
    if bad.any():
        b, t = (int(x) for x in bad.nonzero()[0])
        raise ValueError(f"row {b}: <bksp> at action {t} deletes from an empty sequence")
    big = T + 1
    # suffix_min[s] = min over u > s of depth[u] (pads do not count)
    d_valid = depth.masked_fill(~valid, big)
    suffix = torch.flip(torch.cummin(torch.flip(d_valid, [1]), 1).values, [1])  # min over u >= s
    suffix_after = torch.cat([suffix[:, 1:], suffix.new_full((B, 1), big)], 1)
    survive = valid & ~is_bksp & (suffix_after >= depth)  # (B, T)
    new_lengths = torch.where(lengths > 0, depth.gather(1, (lengths - 1).clamp(min=0)[:, None])[:, 0], 0)
    out = torch.full_like(actions, pad_id)
    b_idx, s_idx = survive.nonzero(as_tuple=True)
    out[b_idx, depth[b_idx, s_idx] - 1] = actions[b_idx, s_idx]
    return out, new_lengths
