"""The text study of issue "Text": preset variants continuing from the text demo's shared MLE base, several seeds,
scored on the corpus's VALIDATION split (held-out articles; the test split is only for final numbers).

    python scripts/study_text.py --out_dir runs/text_study --results docs/results/text_validation.jsonl \
        --variant mle --variant sequencematch:noise_prob=0.05 --seeds 1 2 3
    # once the choice is made on validation, the chosen runs again, scored on the test split:
    python scripts/study_text.py ... --split test --results docs/results/text_test.jsonl

The base and the MAUVE feature model are the demo's (`imitlm demo --task text` settings, trained here once per
``--out_dir``; ``--model_config`` and ``--base_steps`` change both, for a larger base). Each run appends one JSON
line: variant, seed, base, settings and the demo's text metrics (perplexity, MAUVE, distinct-n, Self-BLEU, ...);
MAUVE is a set-level metric, so differences are paired by seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from imitlm.demo.run import trained_row
from imitlm.demo.text import evaluate_text_method, train_base_and_features, write_train_rows
from imitlm.demo.text_settings import DEFAULT, preset_config
from imitlm.training.parsing import config_from_dict

sys.path.insert(0, str(Path(__file__).parent))
# the same `preset:key=value,...` variants, run names and recorded settings as the arithmetic study
from study_arithmetic import effective_settings, parse_variant, run_name  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out_dir", required=True, help="Holds the shared base, the feature model and every run.")
    parser.add_argument("--results", required=True, help="jsonl file the rows are appended to.")
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--split", default="validation", choices=("validation", "test"))
    parser.add_argument("--steps", type=int, default=DEFAULT.preset_steps, help="Steps of each imitation phase.")
    parser.add_argument("--base_steps", type=int, default=DEFAULT.base_steps, help="Steps of the base (and features).")
    parser.add_argument(
        "--model_config",
        type=json.loads,
        default={},
        help="JSON merged over the demo's GPT-2 config for the base and the feature model, e.g. '{\"n_layer\": 4}'.",
    )
    parser.add_argument(
        "--score_only",
        action="store_true",
        help="Score the models an earlier call trained in --out_dir instead of training them again (training is "
        "deterministic on CPU, so this equals retraining), e.g. on the test split once the choice is made.",
    )
    parser.add_argument("--score_base", action="store_true", help="Also score the shared base itself, once.")
    args = parser.parse_args()
    settings = replace(
        DEFAULT,
        eval_split=args.split,
        preset_steps=args.steps,
        base_steps=args.base_steps,
        feature_steps=args.base_steps,
        model_config={**DEFAULT.model_config, **args.model_config},
        workers=1,
    )
    out = Path(args.out_dir)
    if not (out / "base" / "model.safetensors").is_file() or not (out / "features" / "model.safetensors").is_file():
        write_train_rows(settings, out)
        train_base_and_features(settings, out)
    base = {"steps": settings.base_steps, "model_config": settings.model_config}

    def score(model_dir) -> dict:
        return evaluate_text_method(str(model_dir), settings, str(out / "features"))

    if args.score_base:  # the base with no imitation phase: what every variant continues from
        append(args.results, {"variant": "base", "split": args.split, "base": base, "seed": 0, **score(out / "base")})
    for seed in args.seeds:
        for text in args.variant:
            preset, overrides = parse_variant(text)
            run_dir = out / "runs" / f"{run_name(text)}_steps{args.steps}" / f"seed_{seed}"
            config = preset_config(settings, out, preset, seed, text_overrides=False)
            config.update(overrides, output_dir=str(run_dir))
            if args.score_only:
                if not (run_dir / "model.safetensors").is_file():
                    raise SystemExit(f"no trained model in {run_dir}: run once without --score_only")
                row = {"method": preset, "seed": seed, **score(run_dir)}
            else:
                row = trained_row(preset, seed, config, score)
                row.pop("history")
            settings_row = effective_settings(run_dir, config_from_dict(config))
            append(args.results, {"variant": text, "split": args.split, "base": base, "settings": settings_row, **row})


def append(results: str, row: dict) -> None:
    print(json.dumps({k: v for k, v in row.items() if not isinstance(v, (list, dict))}), flush=True)
    with open(results, "a") as handle:
        handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
