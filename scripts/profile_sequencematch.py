"""Where a `sequencematch` LoRA step's time goes on SmolLM2-135M (README, "On a real model"): cProfile over
``--steps`` steps of `bench --model`'s setting (batch 8, max length 128, one rollout of 8 x 24 per ``--steps``), the
cumulative seconds of the named parts, as shares of the whole training loop.

    python scripts/profile_sequencematch.py --steps 10 --output docs/results/profile_sequencematch.json
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile

PARTS = {  # part: (a piece of the file's path, a piece of the function's name) as cProfile records them
    "rollouts (generation)": ("imitlm/training/trainer.py", "run_rollouts"),
    "layout (ids, positions, 4D mask)": ("imitlm/backspace/layout.py", "make_layout"),
    "forward (data + policy rows)": ("imitlm/models/head.py", "hidden_and_head"),
    "objective from hidden states": ("imitlm/objectives/chunked.py", "chunked_soft_q"),
    "backward": ("~", "run_backward"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from imitlm.benchmarking.real_model import REAL_DEFAULT, lee_rows, load_real_model, lora_config
    from imitlm.models import resolve_model_path
    from imitlm.training.config import ImitConfig
    from imitlm.training.trainer import ImitationTrainer

    settings = REAL_DEFAULT
    with tempfile.TemporaryDirectory() as out:
        config = ImitConfig(
            output_dir=out, objective="sequencematch", max_steps=args.steps, per_device_train_batch_size=settings.batch,
            max_length=settings.max_length, learning_rate=2e-4, rollout_every=args.steps,
            rollout_batch_size=settings.rollout_batch, max_new_tokens=settings.rollout_tokens, use_cpu=True,
            report_to=[], save_strategy="no", disable_tqdm=True, logging_steps=10_000, seed=0,
        )  # fmt: skip
        trainer = ImitationTrainer(
            model=load_real_model("smollm2-135m"), args=config, train_dataset=lee_rows(settings.rows),
            processing_class=AutoTokenizer.from_pretrained(resolve_model_path("smollm2-135m")),
            peft_config=lora_config(),
        )  # fmt: skip
        profile = cProfile.Profile()
        profile.runcall(trainer.train)
    stats = pstats.Stats(profile).stats
    total = max(cum for (_, _, name), (_, _, _, cum, _) in stats.items() if name == "_inner_training_loop")

    def seconds(where: tuple[str, str]) -> float:  # the outermost call's cumulative time (recursion counted once)
        path, function = where
        matches = (cum for (file, _, name), (_, _, _, cum, _) in stats.items() if path in file and function in name)
        return max(matches, default=0.0)

    result = {"steps": args.steps, "training_loop_seconds": round(total, 2)}
    for part, where in PARTS.items():
        result[part] = {"seconds": round(seconds(where), 2), "share": round(seconds(where) / total, 3)}
    print(json.dumps(result, indent=1))
    with open(args.output, "w") as handle:
        json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
