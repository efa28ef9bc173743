"""Reward extraction for analysis (Wulfmeier et al. sec 5): per-token r_t and sequence returns of given sequences."""

from __future__ import annotations

import json
import sys

import torch

from imitlm.objectives import log_policy, mask_illegal_bksp, sequence_returns, token_rewards
from imitlm.training.batches import pad_batch
from imitlm.training.data import encode_prompt
from imitlm.training.layouts import make_layout

DEFAULT_GAMMA = 0.998


@torch.no_grad()
def score_rows(model, tokenizer, prompts: list[str], completions: list[str], *, gamma: float, tau: float = 1.0,
               batch_size: int = 32) -> list[dict]:
    """One dict per row: `tokens`, `rewards` (r_t per completion token, EOS included), `return`, `log_likelihood`."""
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    bksp = getattr(model.config, "bksp_token_id", None)
    results = []
    for start in range(0, len(prompts), batch_size):
        prompt_ids = [encode_prompt(tokenizer, p) for p in prompts[start : start + batch_size]]
        actions = [tokenizer(c, add_special_tokens=False)["input_ids"] + [eos] for c in completions[start : start + batch_size]]
        batch = pad_batch(prompt_ids, actions, pad)
        dtype = next(model.parameters()).dtype
        layout = make_layout(batch, bksp_id=bksp, eos_id=eos, pad_id=pad, dtype=dtype)
        # V and r over the legal actions, as in training: no <bksp> at the prompt (DESIGN sec 1)
        logits = mask_illegal_bksp(model(**layout.model_inputs).logits.float(), layout.bksp_illegal, bksp)  # (B, T, V)
        rewards = token_rewards(logits, layout.targets, layout.next_index, layout.done, gamma, tau)  # (B, T)
        returns = sequence_returns(rewards, layout.target_mask)  # (B,)
        log_probs = log_policy(logits, layout.targets, tau)  # (B, T)
        for row, acts in enumerate(actions):
            mask = layout.target_mask[row]
            results.append({
                "prompt": prompts[start + row],
                "completion": completions[start + row],
                "tokens": tokenizer.convert_ids_to_tokens(acts),
                "rewards": [round(float(r), 6) for r in rewards[row][mask]],
                "return": float(returns[row]),
                "log_likelihood": float(log_probs[row][mask].sum()),
            })
    return results


def write_rewards(args) -> None:
    from imitlm.evaluation.evaluate import load_trained
    from imitlm.tasks.text import load_raw_dataset, to_prompt_completion

    model, tokenizer = load_trained(args.model)
    rows = to_prompt_completion(load_raw_dataset(args.data), tokenizer, source=args.data)
    gamma = args.gamma if args.gamma is not None else getattr(model.config, "imitlm_gamma", DEFAULT_GAMMA)
    results = score_rows(model, tokenizer, list(rows["prompt"]), list(rows["completion"]), gamma=gamma,
                         tau=args.q_temperature, batch_size=args.batch_size)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        for result in results:
            out.write(json.dumps(result) + "\n")
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"wrote rewards of {len(results)} sequences to {args.output}", file=sys.stderr)


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman rank correlation (scipy); NaN if either side is constant."""
    from scipy.stats import spearmanr

    if len(set(x)) < 2 or len(set(y)) < 2:
        return float("nan")
    return float(spearmanr(x, y).statistic)
