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
    """The settings of the LoRA runs of issue 34 (batch 8, lr 2e-4, r 16 on q/k/v/o) with the preset's defaults."""
    task = {"task": "text", "dataset_name": "lee", "max_length": 128}
    if study == "arithmetic":
        task = {"task": "arithmetic", "difficulty": args.difficulty, "num_train_examples": args.train_examples}
    return {
        "model_name_or_path": MODEL,
        **task,
        "objective": preset,
        "use_peft": True,
        "lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        "per_device_train_batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "max_steps": args.steps,
        "seed": seed,
        "output_dir": str(out),
        "use_cpu": True,
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
        "logging_steps": 10,
        **overrides,
    }


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


@torch.no_grad()
def base_log_likelihoods(base, tokenizer, prompts: list[str], texts: list[str]) -> list[float]:
    """Summed log-likelihood of each continuation (+EOS) after its prompt under the untuned base model."""
    from imitlm.evaluation.scoring import teacher_forced
    from imitlm.objectives import log_policy_of

    out = []
    for _, _, layout, values, q_taken in teacher_forced(base, tokenizer, prompts, texts, 32, 1.0):
        picked = log_policy_of(q_taken, values, layout.targets, 1.0)
        out += [float(picked[row][layout.target_mask[row]].sum()) for row in range(picked.shape[0])]
    return out


def score_text(model_dir: str, rows, seed: int, args, base) -> tuple[dict, list[dict]]:
    from imitlm.evaluation.evaluate import completion_nll
    from imitlm.evaluation.generation import generate_samples
    from imitlm.evaluation.metrics import distinct_n, perplexity, self_bleu
    from imitlm.evaluation.rewards import score_rows, spearman
    from imitlm.evaluation.text_eval import mauve_from_features, text_features
    from imitlm.models import bksp_id_of, load_trained, run_settings

    model, tokenizer = load_trained(model_dir)
    prompts, references = list(rows["prompt"]), list(rows["completion"])
    samples = generate_samples(
        model, tokenizer, prompts, max_new_tokens=args.max_new_tokens, batch_size=16, do_sample=True, seed=seed
    )
    texts = [s.text for s in samples]
    bksp = bksp_id_of(model)
    nll, tokens = completion_nll(model, tokenizer, rows, 16)
    result = {
        "perplexity": perplexity(nll, tokens),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "distinct_3": distinct_n(texts, 3),
        "self_bleu": self_bleu(texts),
        "mean_length_words": sum(len(t.split()) for t in texts) / len(texts),
        "backspace_rate": sum(s.num_backspaces(bksp) for s in samples) / max(sum(len(s.actions) for s in samples), 1),
        "samples_with_backspace": sum(s.num_backspaces(bksp) > 0 for s in samples),
    }
    distance = None
    for name, features_model in FEATURES.items():
        generated = text_features(texts, features_model)
        human = text_features(references, features_model)
        result[f"mauve_{name}"] = mauve_from_features(human.numpy(), generated.numpy())
        if name == "smollm2":
            distance = (generated - human).norm(dim=-1).tolist()  # to the human continuation of the same prompt
    scored = score_rows(
        model,
        tokenizer,
        prompts,
        [t or "." for t in texts],
        gamma=run_settings(model).get("gamma", 0.998),
        tau=run_settings(model).get("q_temperature", 1.0),
        batch_size=16,
    )
    returns = [row["return"] for row in scored]
    base_ll = base_log_likelihoods(base[0], base[1], prompts, [t or "." for t in texts])
    result["spearman_return_base_loglik"] = spearman(returns, base_ll)
    result["spearman_return_neg_feature_distance"] = spearman(returns, [-d for d in distance])
    generations = [
        {"prompt": p, "text": t, "reference": r, "return": ret, "base_loglik": ll, "feature_distance": d}
        for p, t, r, ret, ll, d in zip(prompts, texts, references, returns, base_ll, distance)
    ]
    return result, generations


def score_arithmetic(model_dir: str, preset: str, args) -> dict:
    from imitlm.demo.metrics import evaluate_method
    from imitlm.demo.settings import DEFAULT

    settings = replace(DEFAULT, num_test_examples=args.num_prompts, difficulty=args.difficulty)
    metrics = evaluate_method(model_dir, settings, preset, split=args.split)
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
            metrics, generations = score_text(model_dir, rows, seed, args, base)
            folder = Path(args.out_dir) / "generations"
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{args.split}_{run_name(variant)}_s{seed}.jsonl"
            (folder / name).write_text("".join(json.dumps(g) + "\n" for g in generations))
        else:
            metrics = score_arithmetic(model_dir, variant.partition(":")[0] if variant != "base" else "mle", args)
            row["difficulty"] = args.difficulty
        row["score_seconds"] = round(time.perf_counter() - started, 1)
        row.update({k: clean(v) for k, v in metrics.items()})
        with open(args.results, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps({k: v for k, v in row.items() if k != "per_question"}), flush=True)


if __name__ == "__main__":
    main()
