"""The arithmetic study of issue "Results": imitation phases from one shared MLE base, several seeds, scored on the
VALIDATION split (the test split is only for the demo's final numbers).

    python scripts/study_arithmetic.py --base runs/study/base --out docs/results/study_validation.jsonl \
        --variant mle --variant sequencematch:il_weight=0.001,td_weight=25 --seeds 1 2 3
    # then, once the choice is made on validation, the same runs on the test split:
    python scripts/study_arithmetic.py ... --eval_only --split test --out docs/results/study_test.jsonl

Each run appends one JSON line: variant, seed, settings, per-question correctness at forced-error rates 0 / 0.05 /
0.1 (greedy), so paired intervals can be computed afterwards (`imitlm.evaluation.statistics`).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from imitlm.demo.metrics import evaluate_method
from imitlm.demo.settings import DEFAULT
from imitlm.training.parsing import config_from_dict
from imitlm.training.recipes import (
    TINY_GPT2,
    TINY_LLAMA,
    TINY_LLAMA_2LAYER,
    arithmetic_from_scratch,
    continue_with_preset,
)
from imitlm.training.run import train

RATES = (0.0, 0.05, 0.1)
MODELS = {"gpt2": TINY_GPT2, "llama": TINY_LLAMA, "llama_2x128": TINY_LLAMA_2LAYER}


def parse_variant(text: str) -> tuple[str, dict]:
    preset, _, rest = text.partition(":")
    overrides = {}
    for item in filter(None, rest.split(",")):
        key, value = item.split("=")
        if value in ("true", "false"):
            overrides[key] = value == "true"
        else:
            overrides[key] = float(value) if key not in ("noise_type", "divergence", "lr_scheduler_type") else value
        if key in ("max_steps", "mle_warmup_steps", "il_ramp_steps", "rollout_every", "warmup_steps"):
            overrides[key] = int(float(value))
    return preset, overrides


def run_name(variant: str) -> str:
    """A run directory's name for a variant: `sequencematch:noise_prob=0.05` -> `sequencematch_noise_prob0.05`."""
    return variant.replace(":", "_").replace(",", "_").replace("=", "")


def evaluate(model_dir: str, preset: str, split: str, num: int, difficulty: int) -> dict:
    """The demo's metrics on ``split``; per-question correctness under the keys summarise_study.py reads."""
    settings = replace(DEFAULT, num_test_examples=num, difficulty=difficulty)
    metrics = evaluate_method(model_dir, settings, split=split)
    per_question = metrics.pop("per_question")
    out = {f"correct_forced_{rate}": per_question[f"accuracy_forced_{rate}"] for rate in RATES[1:]}
    out["correct_forced_0.0"] = per_question["accuracy_greedy"]
    out["correct_sampled"] = per_question["accuracy_sampled"]
    keys = ("self_bleu", "distinct_1", "distinct_2", "perplexity", "backspace_rate", "reward_return_spearman")
    return {**out, **{key: metrics[key] for key in keys if key in metrics}}


def effective_settings(run_dir: Path, parsed) -> dict:
    """The settings the run trained with (the preset's after overrides, as saved in its config.json), so a row keeps
    its meaning when a preset's defaults change later."""
    saved = json.loads((run_dir / "config.json").read_text()).get("imitlm", {})
    keys = ("learning_rate", "lr_scheduler_type", "warmup_steps", "max_steps", "rollout_temperature", "rollout_every")
    keys += ("il_ramp_steps",)
    return {**saved, **{key: getattr(parsed, key) for key in keys}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--base_steps", type=int, default=2500)
    parser.add_argument(
        "--model",
        choices=sorted(MODELS),
        default="llama",
        help="Base architecture if --base is new (and of --from_scratch runs).",
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--split", default="validation")
    parser.add_argument("--num_examples", type=int, default=500)
    parser.add_argument("--difficulty", type=int, default=0)
    parser.add_argument("--runs", default="runs/study")
    parser.add_argument("--eval_only", action="store_true", help="Score runs trained before on --split; no training.")
    parser.add_argument(
        "--from_scratch",
        action="store_true",
        help="Train each variant from a fresh model with the base recipe (its --base_steps, schedule and batch) "
        "instead of continuing from --base.",
    )
    args = parser.parse_args()
    base_recipe = arithmetic_from_scratch(
        args.base,
        steps=args.base_steps,
        batch_size=64,
        num_train_examples=20000,
        difficulty=args.difficulty,
        model_config=MODELS[args.model],
    )
    if not args.eval_only and not args.from_scratch and not (Path(args.base) / "model.safetensors").is_file():
        train(config_from_dict(dict(base_recipe, disable_tqdm=True)))
    for seed in args.seeds:
        for text in args.variant:
            preset, overrides = parse_variant(text)
            run_dir = Path(args.runs) / f"{run_name(text)}_s{seed}"
            if args.from_scratch:  # the base recipe itself, with the preset's objective and rollouts
                config = dict(base_recipe, objective=preset, output_dir=str(run_dir), seed=seed, max_new_tokens=16)
                config.update(rollout_every=10, rollout_batch_size=64)
            else:
                config = continue_with_preset(
                    base_recipe,
                    args.base,
                    run_dir,
                    preset,
                    steps=args.steps,
                    rollout_every=10,
                    rollout_batch_size=64,
                    seed=seed,
                )
            config.update(overrides, disable_tqdm=True)
            parsed = config_from_dict(config)
            start = time.perf_counter()
            if not args.eval_only:
                train(parsed)
            seconds = time.perf_counter() - start
            result = {
                "variant": text,
                "seed": seed,
                "split": args.split,
                "steps": config["max_steps"],
                "train_seconds": round(seconds, 1),
                "settings": effective_settings(run_dir, parsed),
                **evaluate(str(run_dir), preset, args.split, args.num_examples, args.difficulty),
            }
            summary = {k: sum(v) / len(v) for k, v in result.items() if k.startswith("correct_")}
            summary.update({k: result[k] for k in ("self_bleu", "perplexity") if k in result})
            print(json.dumps({"variant": text, "seed": seed, **summary}), flush=True)
            with open(args.out, "a") as handle:
                handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
