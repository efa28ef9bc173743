"""Reward extraction for analysis (Wulfmeier et al. sec 5): per-token r_t and sequence returns of given sequences."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

from imitlm.evaluation.evaluate import finite
from imitlm.evaluation.scoring import teacher_forced
from imitlm.objectives import implicit_rewards_of, log_policy_of, sequence_returns
from imitlm.rollout.generate import policy_tau
from imitlm.validation import check_sampling

DEFAULT_GAMMA = 0.998


def score_rows(
    model,
    tokenizer,
    prompts: list[str],
    completions: list[str],
    *,
    gamma: float,
    tau: float | None = None,
    batch_size: int = 32,
) -> list[dict]:
    """One dict per row: `tokens`, `rewards` (r_t per completion token, EOS included), `return`, `log_likelihood`,
    `initial_value` (``V(s_0)``).
    ``tau`` None: the model's saved one (`rollout.generate.policy_tau`)."""
    tau = policy_tau(model) if tau is None else tau
    results = []
    scored = teacher_forced(model, tokenizer, prompts, completions, batch_size, tau)
    for start, actions, layout, values, q_taken in scored:
        targets = layout.targets
        rewards = implicit_rewards_of(q_taken, values, targets, layout.next_index, layout.done, gamma)  # (B, T) r_t
        returns = sequence_returns(rewards, layout.target_mask)  # (B,)
        log_probs = log_policy_of(q_taken, values, targets, tau)  # (B, T)
        for row, acts in enumerate(actions):
            mask = layout.target_mask[row]
            results.append(
                {
                    "prompt": prompts[start + row],
                    "completion": completions[start + row],
                    "tokens": readable_tokens(tokenizer, acts),
                    "rewards": [round(float(r), 6) for r in rewards[row][mask]],
                    "return": float(returns[row]),
                    "log_likelihood": float(log_probs[row][mask].sum()),
                    "initial_value": float(values[row][mask][0]),  # V(s_0), the state that is the prompt
                }
            )
    return results


def readable_tokens(tokenizer, ids: list[int]) -> list[str]:
    """Each token as the text it stands for (" the", not the byte-level "\u0120the"); special tokens by name."""
    return [tokenizer.convert_tokens_to_string([token]) for token in tokenizer.convert_ids_to_tokens(ids)]


def write_rewards(args) -> None:
    from imitlm.data.checks import check_text
    from imitlm.data.fit import fit_rows
    from imitlm.models import load_trained, model_max_length, setting
    from imitlm.tasks.text import load_raw_dataset, to_prompt_completion

    model, tokenizer = load_trained(args.model, gguf_file=args.gguf_file)
    rows = to_prompt_completion(load_raw_dataset(args.data), tokenizer, source=args.data)
    rows = fit_rows(rows, tokenizer, model_max_length(model), args.data)
    check_text([*rows["prompt"], *rows["completion"]], tokenizer, args.data)
    gamma = setting(args.gamma, model, "gamma", DEFAULT_GAMMA)
    tau = setting(args.q_temperature, model, "q_temperature", 1.0)
    check_sampling(SimpleNamespace(gamma=gamma, q_temperature=tau))  # the saved settings too
    results = score_rows(
        model,
        tokenizer,
        list(rows["prompt"]),
        list(rows["completion"]),
        gamma=gamma,
        tau=tau,
        batch_size=args.batch_size,
    )
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        for result in results:
            out.write(json.dumps(finite(result), allow_nan=False) + "\n")  # strict JSON: NaN as null
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
