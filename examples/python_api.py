"""imitlm's Python API as a TRL user writes it: a model, an ImitConfig, a dataset of raw strings, train; then the
learned reward as a TRL reward function. Runs on CPU in seconds:

    python examples/python_api.py /tmp/imitlm_example
"""

import sys

from datasets import Dataset
from transformers import GPT2Config, GPT2LMHeadModel

from imitlm import ImitationTrainer, ImitConfig, RewardFunction
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.tasks.arithmetic import ALPHABET


def main(output_dir: str) -> list[float]:
    tokenizer = build_char_tokenizer(ALPHABET)  # or AutoTokenizer.from_pretrained(...) for a pretrained model
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=32, n_positions=64))
    data = Dataset.from_dict(
        {
            "prompt": [f"In base 10, what is {a} + {b}? " for a in range(8) for b in range(8)],
            "completion": [str(a + b) for a in range(8) for b in range(8)],
        }
    )
    args = ImitConfig(
        output_dir=output_dir,
        objective="sequencematch",  # any preset: mle, mle_bksp, iqlearn, iqlearn_online, sequencematch
        max_steps=4,
        per_device_train_batch_size=8,
        rollout_every=2,
        rollout_batch_size=8,
        report_to=[],
        use_cpu=True,
    )
    trainer = ImitationTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    trainer.train()
    trainer.save_model(output_dir)  # model, tokenizer (with <bksp>) and the run's settings

    reward = RewardFunction(output_dir)  # usable as GRPOTrainer(reward_funcs=[reward])
    return reward(prompts=["In base 10, what is 2 + 3? "] * 2, completions=["5", "7"])


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else "runs/python_api_example"))
