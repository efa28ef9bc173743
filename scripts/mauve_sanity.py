"""Is a MAUVE feature model sane? For each feature model, MAUVE of human continuations against: other human
continuations (should be near 1), the same continuations with their words shuffled and a unigram salad (near 0), and
samples of the untuned base model SmolLM2-135M-Instruct (in between). Rows: the `lee` corpus's validation and test
continuations, split at random into two halves; repeated over ``--splits`` random halves.

    python scripts/mauve_sanity.py --features smollm2-135m all-minilm-l6-v2 runs/mauve_sanity/features \
        --output docs/results/mauve_sanity.json

A directory that does not exist yet as the last feature model is trained first: the text demo's home-trained MAUVE
feature model (a 2-layer GPT-2 trained by MLE on lee's training split, `demo.text_settings.feature_config`).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

CONDITIONS = ("human", "shuffled_words", "unigram_salad", "base_samples")


def halves(texts: list[str], prompts: list[str], seed: int):
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    first, second = order[:half], order[half : 2 * half]
    return [texts[i] for i in first], [texts[i] for i in second], [prompts[i] for i in second]


def shuffled_words(texts: list[str], seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for text in texts:
        words = text.split()
        rng.shuffle(words)
        out.append(" " + " ".join(words))
    return out


def unigram_salad(texts: list[str], seed: int) -> list[str]:
    """Texts of the same lengths in words, each word drawn from the pooled words of all texts (unigram frequencies)."""
    rng = random.Random(seed)
    pool = [word for text in texts for word in text.split()]
    return [" " + " ".join(rng.choice(pool) for _ in text.split()) for text in texts]


def base_samples(prompts: list[str], seed: int, max_new_tokens: int) -> list[str]:
    from imitlm.evaluation.generation import generate_samples
    from imitlm.models import load_trained

    model, tokenizer = load_trained("smollm2-135m")
    samples = generate_samples(
        model, tokenizer, prompts, max_new_tokens=max_new_tokens, do_sample=True, temperature=1.0, seed=seed
    )
    return [s.text for s in samples]


def train_home_features(path: Path) -> None:
    from imitlm.demo.text import write_train_rows
    from imitlm.demo.text_settings import DEFAULT, feature_config
    from imitlm.training.parsing import config_from_dict
    from imitlm.training.run import train

    write_train_rows(DEFAULT, path.parent)  # the demo's training rows, as path.parent/data/train.jsonl
    config = feature_config(DEFAULT, path.parent)
    config["output_dir"] = str(path)
    train(config_from_dict(config))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--features", nargs="+", required=True, help="Offline names or model directories.")
    parser.add_argument("--output", required=True)
    parser.add_argument("--splits", type=int, default=3, help="Random halves (seeds 0..N-1).")
    parser.add_argument("--max_new_tokens", type=int, default=32)
    args = parser.parse_args()

    from imitlm.evaluation.text_eval import mauve_from_features, text_features
    from imitlm.tasks.corpora import corpus_rows

    rows = [row for split in ("validation", "test") for row in corpus_rows("lee", split)]
    texts, prompts = [row["completion"] for row in rows], [row["prompt"] for row in rows]
    for name in args.features:
        if name == args.features[-1] and "/" in name and not Path(name).exists():
            train_home_features(Path(name))
    results = {"rows": len(rows), "splits": args.splits, "max_new_tokens": args.max_new_tokens, "mauve": {}}
    started = time.perf_counter()
    candidates = []
    for seed in range(args.splits):
        references, other, other_prompts = halves(texts, prompts, seed)
        candidates.append(
            (
                references,
                {
                    "human": other,
                    "shuffled_words": shuffled_words(other, seed),
                    "unigram_salad": unigram_salad(other, seed),
                    "base_samples": base_samples(other_prompts, seed, args.max_new_tokens),
                },
            )
        )
    for name in args.features:
        scores = {condition: [] for condition in CONDITIONS}
        for references, sets in candidates:
            p = text_features(references, name).numpy()
            for condition in CONDITIONS:
                scores[condition].append(round(mauve_from_features(p, text_features(sets[condition], name).numpy()), 4))
        results["mauve"][name] = {c: {"mean": round(sum(v) / len(v), 4), "values": v} for c, v in scores.items()}
        print(name, {c: results["mauve"][name][c]["mean"] for c in CONDITIONS}, flush=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["examples"] = {c: candidates[0][1][c][:3] for c in CONDITIONS}
    Path(args.output).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
