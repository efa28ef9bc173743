"""Generate completions from prompt strings with the batched backspace generator (works with or without <bksp>)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from imitlm.data.checks import check_prompt_lengths
from imitlm.data.encode import encode_prompts
from imitlm.models import bksp_id_of, model_max_length


@dataclass
class Sample:
    prompt: str
    text: str  # final text, after applying backspaces
    actions: list[int]  # the full action trace, <bksp> included
    finished: bool  # ended with EOS

    def num_backspaces(self, bksp_id: int | None) -> int:
        return self.actions.count(bksp_id) if bksp_id is not None else 0


def never_actions(tokenizer) -> list[int]:
    """`<pad>`, `<bos>` and `<unk>`: no reply contains them (EOS stays an action even where it doubles as pad)."""
    ids = {tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.unk_token_id} - {None, tokenizer.eos_token_id}
    return sorted(ids)


@torch.no_grad()
def generate_samples(
    model,
    tokenizer,
    prompts: list[str],
    *,
    max_new_tokens: int = 32,
    batch_size: int = 64,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
    force_prob: float = 0.0,
    force_token_ids: list[int] | None = None,
    max_state_length: int | None = None,
) -> list[Sample]:
    from imitlm.rollout.generate import generate_with_backspace

    model.eval()
    bksp_id = bksp_id_of(model)
    encoded = encode_prompts(tokenizer, list(prompts))
    limit = model_max_length(model)
    check_prompt_lengths([len(ids) for ids in encoded], limit)
    if limit is not None:  # the state (prompt + surviving completion) must fit the model's positions
        room = limit - max(len(ids) for ids in encoded)  # max_state_length counts completion tokens
        max_state_length = min(max_state_length or room, room)
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        result = generate_with_backspace(
            model,
            encoded[start : start + batch_size],
            bksp_id=bksp_id if bksp_id is not None else -1,
            eos_id=tokenizer.eos_token_id,
            pad_id=tokenizer.pad_token_id,
            max_new_actions=max_new_tokens,
            max_state_length=max_state_length,
            do_sample=do_sample,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            generator=generator,
            allow_backspace=bksp_id is not None,
            force_prob=force_prob,
            force_token_ids=force_token_ids,
            block_undo=not do_sample,  # greedy would loop on x <bksp> x ...
            suppress_ids=never_actions(tokenizer),
        )
        for prompt, final_ids, actions, finished in zip(chunk, result.final_ids, result.actions, result.finished):
            text = tokenizer.decode(list(final_ids), skip_special_tokens=True)
            samples.append(Sample(prompt, text, list(actions), bool(finished)))
    return samples


# The seed of every forced-error generation (the demo's, the sweep's metric, `imitlm evaluate --forced_error_rates`).
FORCED_ERROR_SEED = 1


def forced_error_token_ids(tokenizer) -> list[int] | None:
    """The tokens a forced error puts in: the answer characters (digits) where the vocabulary has them, else None
    (any ordinary token)."""
    from imitlm.tasks.arithmetic import digit_token_ids

    return digit_token_ids(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))) or None


def forced_error_samples(
    model, tokenizer, prompts: list[str], rate: float, *, max_new_tokens: int, batch_size: int = 64
) -> list[Sample]:
    """Greedy decoding in which each action is, with probability ``rate``, a random token of
    `forced_error_token_ids` instead (docs/design.md, "Evaluation"): its accuracy measures recovery from errors."""
    return generate_samples(
        model,
        tokenizer,
        prompts,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        force_prob=rate,
        force_token_ids=forced_error_token_ids(tokenizer),
        seed=FORCED_ERROR_SEED,
    )
