"""Issue "the <bksp> presets wreck a pretrained model's samples": one LoRA run of a preset variant on SmolLM2-135M
(lee training rows), then next-token statistics on clean held-out text and a forced-error check. One JSON line per
run is appended to ``--results``.

    python scripts/bksp_pretrained.py --variant mle_bksp --variant mle_bksp:noise_prob=0.05 --steps 60 \
        --seeds 1 --results docs/results/bksp_pretrained.jsonl --out_dir runs/bksp

Statistics on ``--num_rows`` rows of lee's validation split (articles no run trains on), at every continuation
position of prompt + continuation: next-token entropy of the policy (nats), the mass outside its 100 most likely
actions, p(`<bksp>`), and perplexity of the continuations under the ordinary tokens. Forced errors: after a random
cut of each continuation, a token drawn uniformly from the ordinary vocabulary is appended, and p(`<bksp>`) there is
read (with the same prefix without the token as its control).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from study_arithmetic import parse_variant, run_name  # noqa: E402


def train_run(preset: str, overrides: dict, seed: int, steps: int, out: Path) -> float:
    """Train in a child process, so the diagnostic switches (`bksp_probes`) of one run never leak into the next."""
    import multiprocessing

    started = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(target=train_child, args=(preset, overrides, seed, steps, out))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"training {preset} {overrides} failed (exit {child.exitcode})")
    return time.perf_counter() - started


def train_child(preset: str, overrides: dict, seed: int, steps: int, out: Path) -> None:
    from bksp_probes import PROBES, as_options, install

    from imitlm.training.parsing import config_from_dict
    from imitlm.training.run import train

    overrides = as_options(overrides)
    probes = {key: overrides.pop(key) for key in PROBES if key in overrides}
    install(probes)

    config = {
        "model_name_or_path": "smollm2-135m",
        "task": "text",
        "dataset_name": "lee",
        "objective": preset,
        "use_peft": True,
        "lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        "per_device_train_batch_size": 8,
        "learning_rate": 2e-4,
        "max_steps": steps,
        "max_length": 128,
        "seed": seed,
        "output_dir": str(out),
        "use_cpu": True,
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
        "logging_steps": 10,
        **overrides,
    }
    train(config_from_dict(config))


@torch.no_grad()
def clean_statistics(model, tokenizer, rows, bksp: int | None) -> dict:
    entropy, tail, p_bksp, nll, count = 0.0, 0.0, 0.0, 0.0, 0
    for row in rows:
        prompt = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        continuation = tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt + continuation])
        logits = model(ids).logits[0, len(prompt) - 1 : -1].float()  # (C, V): predicting each continuation token
        logp = torch.log_softmax(logits, dim=-1)
        probs = logp.exp()
        entropy += float(-(probs * logp).sum())
        tail += float((1 - probs.topk(100, dim=-1).values.sum(-1)).sum())
        if bksp is not None:
            p_bksp += float(probs[:, bksp].sum())
            ordinary = torch.log_softmax(torch.cat([logits[:, :bksp], logits[:, bksp + 1 :]], dim=-1), dim=-1)
            targets = torch.tensor(continuation)
            targets = targets - (targets > bksp).long()
        else:
            ordinary, targets = logp, torch.tensor(continuation)
        nll -= float(ordinary.gather(1, targets[:, None]).sum())
        count += len(continuation)
    return {
        "entropy": entropy / count,
        "tail_mass_top100": tail / count,
        "p_bksp_clean": p_bksp / count,
        "perplexity": math.exp(nll / count),
        "tokens": count,
    }


@torch.no_grad()
def forced_errors(model, tokenizer, rows, bksp: int | None, seed: int = 0) -> dict:
    if bksp is None:
        return {}
    rng = random.Random(seed)
    special = set(tokenizer.all_special_ids) | {bksp}
    ordinary = [i for i in range(len(tokenizer)) if i not in special]
    after_noise, control, argmax = [], [], []
    for row in rows:
        prompt = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        continuation = tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
        prefix = prompt + continuation[: rng.randrange(1, len(continuation))]
        noisy = prefix + [rng.choice(ordinary)]
        logits = model(torch.tensor([noisy])).logits[0, -1].float()
        after_noise.append(float(torch.softmax(logits, -1)[bksp]))
        argmax.append(int(logits.argmax()) == bksp)
        control.append(float(torch.softmax(model(torch.tensor([prefix])).logits[0, -1].float(), -1)[bksp]))
    n = len(after_noise)
    return {
        "p_bksp_after_noise": sum(after_noise) / n,
        "argmax_bksp_after_noise": sum(argmax) / n,
        "p_bksp_control": sum(control) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--num_rows", type=int, default=30)
    parser.add_argument("--results", required=True)
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--base", action="store_true", help="Also score the untuned base model (once).")
    args = parser.parse_args()

    from imitlm.models import bksp_id_of, load_trained
    from imitlm.tasks.corpora import corpus_rows

    rows = corpus_rows("lee", "validation").select(range(args.num_rows))
    jobs = [("base", None)] if args.base else []
    jobs += [(variant, seed) for variant in args.variant for seed in args.seeds]
    for variant, seed in jobs:
        seconds = 0.0
        if variant == "base":
            model_dir = "smollm2-135m"
        else:
            preset, overrides = parse_variant(variant)
            model_dir = str(Path(args.out_dir) / f"{run_name(variant)}_s{seed}")
            if not (Path(model_dir) / "config.json").is_file():
                seconds = train_run(preset, overrides, seed, args.steps, Path(model_dir))
        model, tokenizer = load_trained(model_dir)
        bksp = bksp_id_of(model)
        row = {"variant": variant, "seed": seed, "steps": args.steps, "train_seconds": round(seconds, 1)}
        row.update(clean_statistics(model, tokenizer, rows, bksp))
        row.update(forced_errors(model, tokenizer, rows, bksp))
        row = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()}
        with open(args.results, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
