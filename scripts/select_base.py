"""Choose the arithmetic base model by greedy validation accuracy (difficulty 0), as docs/results.md sec 1 did.

    python scripts/select_base.py llama_2x128 2500 --out docs/results/base_select.jsonl

Trains the demo's MLE base recipe with the named architecture for the given number of steps (into
runs/base_select/NAME_STEPS), scores 500 validation questions and appends one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from imitlm.demo.settings import DEFAULT, base_config
from imitlm.evaluation.generation import generate_samples
from imitlm.evaluation.metrics import accuracy
from imitlm.models import load_trained
from imitlm.tasks import arithmetic_rows
from imitlm.training.parsing import config_from_dict
from imitlm.training.recipes import TINY_GPT2, TINY_LLAMA, TINY_LLAMA_2LAYER
from imitlm.training.run import train

MODELS = {
    "gpt2_2x128": TINY_GPT2,
    "llama_4x128": TINY_LLAMA,
    "llama_2x128": TINY_LLAMA_2LAYER,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("steps", type=int)
    parser.add_argument("--out", default="docs/results/base_select.jsonl")
    parser.add_argument("--runs", default="runs/base_select")
    args = parser.parse_args()
    out = Path(args.runs) / f"{args.model}_{args.steps}"
    config = base_config(DEFAULT, out.parent)
    config.update(model_config=MODELS[args.model], output_dir=str(out), max_steps=args.steps, disable_tqdm=True)
    config["warmup_steps"] = 50  # as in the measured rows of docs/results/base_select.jsonl
    start = time.perf_counter()
    train(config_from_dict(config))
    seconds = time.perf_counter() - start
    model, tokenizer = load_trained(str(out))
    rows = arithmetic_rows("validation", 500, seed=0, difficulty=0)
    samples = generate_samples(model, tokenizer, list(rows["prompt"]), max_new_tokens=24)
    result = {
        "model": args.model,
        "steps": args.steps,
        "train_seconds": round(seconds, 1),
        "val_accuracy_greedy": accuracy([s.text for s in samples], list(rows["completion"])),
        "params": sum(p.numel() for p in model.parameters()),
    }
    print(json.dumps(result))
    with open(args.out, "a") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
