"""Issue "Results on a real pretrained model": LoRA fine-tuning of SmolLM2-135M-Instruct (the built-in
`smollm2-135m`) with each preset, several seeds, scored on a split of the task. One JSON line per run is appended to
``--results``; the generations of text runs go to ``--out_dir``/generations/.

    python scripts/study_real.py --study text --split test --steps 60 --seeds 1 2 3 --num_prompts 150 \
        --variant mle --variant mle_bksp --results docs/results/smollm2/text_test.jsonl --out_dir runs/real --base
    python scripts/study_real.py --study arithmetic --split validation --difficulty 0 ...

Text (`lee`, SequenceMatch's Table 1 at small scale): one sample per prompt at T = 1 from the prompt/continuation
rows of the split; MAUVE against the human continuations with the base model's features (the default of `imitlm
evaluate --task text`) and with MiniLM's; perplexity of the human continuations; distinct-n, Self-BLEU, backspace
rate. Rewards (Wulfmeier et al.'s analysis): Spearman correlation of each run's sequence return (sum of its implicit
per-token rewards, `imitlm rewards`) on its own samples with (a) the base model's log-likelihood of the sample and
(b) minus the distance between the sample's MAUVE features and those of the human continuation of the same prompt.

Arithmetic (`add_or_sub_in_base`, SequenceMatch's Figure 3): the demo's metrics (`demo.metrics.evaluate_method`):
greedy accuracy at forced-error rates 0 / 0.05 / 0.1, sampled accuracy, Self-BLEU of 5 samples per prompt, and the
Spearman correlation of the return with correctness of sampled answers. Per-question correctness is kept for paired
intervals (`scripts/summarise_real.py`).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import sys
import time
from argparse import ArgumentParser
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from study_arithmetic import parse_variant, run_name  # noqa: E402

MODEL = "smollm2-135m"
FEATURES = {"smollm2": "smollm2-135m", "minilm": "all-minilm-l6-v2"}


def train_config(study: str, preset: str, overrides: dict, seed: int, args, out: Path) -> dict:
    """The settings of the LoRA runs of issue 34 (batch 8, lr 2e-4, r 16 on q/k/v/o) with the preset's defaults: the
    configuration of `imitlm demo --model` (`demo.pretrained.finetune_config`) with this study's steps and rates."""
    from imitlm.demo.pretrained import PretrainedDemoSettings, finetune_config

    settings = PretrainedDemoSettings(
        model=MODEL,
        preset_steps=args.steps,
        arithmetic_steps=args.steps,
        batch_size=args.batch_size,
        arithmetic_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        arithmetic_learning_rate=args.learning_rate,
        difficulty=args.difficulty,
    )
    if study == "arithmetic":
        overrides = {"num_train_examples": args.train_examples, **overrides}
    return finetune_config(settings, study, preset, seed, out, **overrides)


def train_child(config: dict) -> None:
    from imitlm.training.parsing import config_from_dict
    from imitlm.training.run import train

    train(config_from_dict(config))


def train_run(config: dict) -> float:
    """Train in a child process: each run starts from a clean interpreter, and its memory is returned after it."""
    started = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(target=train_child, args=(config,))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"training {config['objective']} failed (exit {child.exitcode})")
    return time.perf_counter() - started


def first_loss_terms(model_dir: str) -> dict:
    """The loss terms logged first in a run (issue 31, study 4: the magnitude of each term at the start)."""
    path = Path(model_dir) / "log_history.json"
    if not path.is_file():
        return {}
    for entry in json.loads(path.read_text()):
        if "loss" in entry:
            return {k: round(v, 4) for k, v in entry.items() if k == "loss" or k.startswith("objective/")}
    return {}


def score_arithmetic(model_dir: str, args) -> dict:
    from imitlm.demo.metrics import evaluate_method
    from imitlm.demo.settings import DEFAULT

    settings = replace(DEFAULT, num_test_examples=args.num_prompts, difficulty=args.difficulty)
    metrics = evaluate_method(model_dir, settings, split=args.split)
    per_question = metrics.pop("per_question")
    metrics.pop("backspace_examples", None)
    return {**metrics, "per_question": per_question}


def clean(value):
    """Floats rounded, NaN (a constant side of a correlation) as null: strict JSON."""
    if isinstance(value, float):
        return round(value, 5) if math.isfinite(value) else None
    return value


def main() -> None:
    parser = ArgumentParser()
    parser.add_argument("--study", choices=("text", "arithmetic"), required=True)
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--num_prompts", type=int, default=150)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--learning_rate", type=float, default=2e-4)
    parser.add_argument("--difficulty", type=int, default=0)
    parser.add_argument("--train_examples", type=int, default=20000)
    parser.add_argument("--results", required=True)
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--base", action="store_true", help="Also score the untuned base model (once per seed).")
    args = parser.parse_args()

    from imitlm.demo.pretrained import score_text
    from imitlm.models import load_trained
    from imitlm.tasks.corpora import corpus_rows

    torch.set_num_threads(1)
    rows = None
    if args.study == "text":
        rows = corpus_rows("lee", args.split)
        rows = rows.select(range(min(args.num_prompts, len(rows))))
        base = load_trained(MODEL)
    jobs = [("base", seed) for seed in args.seeds] if args.base else []
    jobs += [(variant, seed) for seed in args.seeds for variant in args.variant]
    for variant, seed in jobs:
        seconds, model_dir = 0.0, MODEL
        if variant != "base":
            preset, overrides = parse_variant(variant)
            tag = f"{args.study}_d{args.difficulty}" if args.study == "arithmetic" else args.study
            model_dir = str(Path(args.out_dir) / tag / f"{run_name(variant)}_s{seed}")
            if not (Path(model_dir) / "config.json").is_file():
                config = train_config(args.study, preset, overrides, seed, args, Path(model_dir))
                seconds = train_run(config)
        row = {"study": args.study, "variant": variant, "seed": seed, "split": args.split, "steps": args.steps}
        row.update({"train_seconds": round(seconds, 1), "loss_terms_first": first_loss_terms(model_dir)})
        started = time.perf_counter()
        if args.study == "text":
            metrics, generations = score_text(model_dir, rows, seed, args.max_new_tokens, base, FEATURES)
            folder = Path(args.out_dir) / "generations"
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{args.split}_{run_name(variant)}_s{seed}.jsonl"
            (folder / name).write_text("".join(json.dumps(g) + "\n" for g in generations))
        else:
            metrics = score_arithmetic(model_dir, args)
            row["difficulty"] = args.difficulty
        row["score_seconds"] = round(time.perf_counter() - started, 1)
        row.update({k: clean(v) for k, v in metrics.items()})
        with open(args.results, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps({k: v for k, v in row.items() if k != "per_question"}), flush=True)


if __name__ == "__main__":
    main()
