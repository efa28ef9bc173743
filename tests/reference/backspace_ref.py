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
