"""The README's Python example runs (examples/python_api.py), and the trainer takes what TRL users pass: a model
name, raw prompt/completion strings, `text`, chat messages, prompt/completion as messages, tokenised rows."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from transformers import GPT2Config, GPT2LMHeadModel

from imitlm import ImitationTrainer, ImitConfig
from imitlm.errors import UserError
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.objectives import PRESETS
from imitlm.tasks.arithmetic import ALPHABET

EXAMPLE = Path(__file__).parents[2] / "examples" / "python_api.py"
TEMPLATE = (
    "{% for m in messages %}{{ m['role'][0] }} {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}a {% endif %}"
)


def test_readme_python_example_runs(tmp_path):
    spec = importlib.util.spec_from_file_location("python_api", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    rewards = example.main(str(tmp_path / "run"))
    assert len(rewards) == 2 and all(math.isfinite(r) for r in rewards)
    assert (tmp_path / "run" / "model.safetensors").is_file()


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    tokenizer = build_char_tokenizer(ALPHABET)
    tokenizer.chat_template = TEMPLATE
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=16, n_positions=96))
    path = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def chat(user, answer):
    return [{"role": "user", "content": user}], [{"role": "assistant", "content": answer}]


DATASETS = {
    "strings": {"prompt": ["1 + 1? ", "2 + 2? "], "completion": ["2", "4"]},
    "text": {"text": ["1 + 1 = 2", "2 + 2 = 4"]},
    "messages": {"messages": [sum(chat("1 + 1?", "2"), []), sum(chat("2 + 2?", "4"), [])]},
    "prompt_completion_messages": {
        "prompt": [chat("1 + 1?", "2")[0], chat("2 + 2?", "4")[0]],
        "completion": [chat("1 + 1?", "2")[1], chat("2 + 2?", "4")[1]],
    },
}


# every data format with two presets, and chat prompt/completion rows with every preset
CASES = sorted({(kind, preset) for kind in DATASETS for preset in ("mle", "sequencematch")}) + [
    ("prompt_completion_messages", preset) for preset in sorted(set(PRESETS) - {"mle", "sequencematch"})
]


@pytest.mark.parametrize("kind, preset", CASES)
def test_every_preset_trains_on_every_data_format_from_a_model_name(saved_model, tmp_path, preset, kind):
    args = ImitConfig(
        output_dir=str(tmp_path),
        objective=preset,
        max_steps=2,
        per_device_train_batch_size=2,
        rollout_every=1,
        rollout_batch_size=2,
        max_new_tokens=4,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
    )
    data = Dataset.from_dict(DATASETS[kind]).repeat(2)
    trainer = ImitationTrainer(model=str(saved_model), args=args, train_dataset=data)
    trainer.train()
    assert trainer.state.global_step == 2
    assert all(math.isfinite(row["loss"]) for row in trainer.state.log_history if "loss" in row)


def test_chat_prompts_render_through_the_template(saved_model, tmp_path):
    args = ImitConfig(output_dir=str(tmp_path), objective="mle", report_to=[], use_cpu=True)
    data = Dataset.from_dict(DATASETS["prompt_completion_messages"])
    trainer = ImitationTrainer(model=str(saved_model), args=args, train_dataset=data)
    tokenizer = trainer.processing_class
    row = trainer.train_dataset[0]
    assert tokenizer.decode(row["prompt_ids"], skip_special_tokens=True) == "u 1 + 1? a "
    assert tokenizer.decode(row["completion_ids"], skip_special_tokens=True) == "2"


def test_model_object_without_tokenizer_and_chat_without_template_are_one_line_errors(saved_model, tmp_path):
    args = ImitConfig(output_dir=str(tmp_path), objective="mle", report_to=[], use_cpu=True)
    model = GPT2LMHeadModel.from_pretrained(saved_model)
    with pytest.raises(UserError, match="processing_class"):
        ImitationTrainer(model=model, args=args, train_dataset=Dataset.from_dict(DATASETS["strings"]))
    tokenizer = build_char_tokenizer(ALPHABET)  # no chat template
    with pytest.raises(UserError, match="chat template"):
        ImitationTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_dict(DATASETS["prompt_completion_messages"]),
            processing_class=tokenizer,
        )
