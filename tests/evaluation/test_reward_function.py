"""`imitlm.RewardFunction`: the learned reward as a TRL reward function. Values against the closed form of the
telescoping sum (docs/design.md), conversational rows through a chat template, user errors, and two real steps of
TRL's GRPOTrainer with it."""

import pytest
import torch
from datasets import Dataset
from transformers import GPT2Config, GPT2LMHeadModel

from imitlm import RewardFunction
from imitlm.data.encode import encode_prompt
from imitlm.errors import UserError
from imitlm.evaluation.rewards import score_rows
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.tasks.arithmetic import ALPHABET

TEMPLATE = (
    "{% for m in messages %}{{ m['role'][0] }} {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}a {% endif %}"
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tokenizer = build_char_tokenizer(ALPHABET)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=16, n_positions=64))
    path = tmp_path_factory.mktemp("reward_model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path, model.eval(), tokenizer


def test_sum_is_the_return_and_telescopes_at_gamma_one(saved):
    path, model, tokenizer = saved
    rf = RewardFunction(path, gamma=1.0)
    prompts, completions = ["In base 10, what is 2 + 2? ", "ab"], ["4", "cde"]
    values = rf(prompts=prompts, completions=completions, completion_ids=[[1], [2]])
    assert rf.__name__ == "imitlm_reward" and len(values) == 2
    initial_values = []
    for prompt, completion, value in zip(prompts, completions, values):
        row = score_rows(model, tokenizer, [prompt], [completion], gamma=1.0)[0]
        with torch.no_grad():
            value_s0 = float(torch.logsumexp(model(torch.tensor([encode_prompt(tokenizer, prompt)])).logits[0, -1], -1))
        assert value == pytest.approx(row["log_likelihood"] + value_s0, abs=1e-4)  # sum_t r_t = log p + V(s_0)
        assert row["initial_value"] == pytest.approx(value_s0, abs=1e-5)
        initial_values.append(value_s0)
    mean = RewardFunction(model, tokenizer=tokenizer, gamma=1.0, reduction="mean")(prompts, completions)
    # V(s_0) once, the rest per token (completion characters + EOS): the mean log-likelihood plus V(s_0)
    expected = [v0 + (value - v0) / n for v0, value, n in zip(initial_values, values, [2, 4])]
    assert mean == pytest.approx(expected, abs=1e-5)


def test_conversational_rows_use_the_chat_template(saved):
    path, _, tokenizer = saved
    rf = RewardFunction(path)
    rf.tokenizer = tokenizer.__class__.from_pretrained(path)
    rf.tokenizer.chat_template = TEMPLATE
    chat = rf(prompts=[[{"role": "user", "content": "2 + 2?"}]], completions=[[{"role": "assistant", "content": "4"}]])
    plain = rf(prompts=["u 2 + 2? a "], completions=["4"])
    assert chat == pytest.approx(plain)
    rf.tokenizer.chat_template = None
    with pytest.raises(UserError, match="chat template"):
        rf(prompts=[[{"role": "user", "content": "1"}]], completions=[[{"role": "assistant", "content": "1"}]])


@pytest.mark.parametrize(
    "kwargs, fragment",
    [({"reduction": "max"}, "unknown reduction"), ({"gamma": 2.0}, "gamma must be"), ({"batch_size": 0}, "batch_size")],
)
def test_bad_arguments_are_user_errors(saved, kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        RewardFunction(saved[0], **kwargs)
    with pytest.raises(UserError, match="tokenizer"):
        RewardFunction(saved[1])


def test_two_grpo_steps_with_the_learned_reward(saved, tmp_path):
    trl = pytest.importorskip("trl")
    path, _, tokenizer = saved
    torch.manual_seed(1)
    policy = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=16, n_positions=64))
    rf = RewardFunction(path)
    calls = []

    def recorded(prompts, completions, **kwargs):
        values = rf(prompts=prompts, completions=completions, **kwargs)
        calls.append(values)
        return values

    recorded.__name__ = rf.__name__
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=4,
        max_steps=2,
        use_cpu=True,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
    )
    data = Dataset.from_dict({"prompt": ["In base 10, what is 1 + 1? ", "In base 10, what is 2 + 3? "] * 4})
    trainer = trl.GRPOTrainer(
        model=policy, reward_funcs=[recorded], args=args, train_dataset=data, processing_class=tokenizer
    )
    trainer.train()
    assert trainer.state.global_step == 2 and len(calls) >= 2
    assert all(len(values) == 4 and all(torch.isfinite(torch.tensor(values))) for values in calls)
    logged = [row for row in trainer.state.log_history if "rewards/imitlm_reward/mean" in row]
    assert logged, trainer.state.log_history


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_constant_logit_shift_shifts_every_score_by_the_same_amount(reduction):
    """Adding k to every logit leaves the policy unchanged; at gamma = 1 it adds k to V(s_0) and nothing else, so
    both reductions move every completion's score by k and rank completions as before (a per-token mean of the
    whole return would move a completion of T tokens by k / T and re-rank "c" against "cde")."""
    from imitlm.models.char_tokenizer import build_char_tokenizer

    from reference.token_table_lm import TokenTableLM

    tokenizer = build_char_tokenizer("abcde ")
    table = torch.randn(len(tokenizer), len(tokenizer), generator=torch.Generator().manual_seed(0))
    prompts, completions = ["ab ", "ab ", "ab "], ["c", "cde", "dd"]
    scores = {}
    for shift in (0.0, -20.0):
        rf = RewardFunction(TokenTableLM(table + shift), tokenizer=tokenizer, gamma=1.0, reduction=reduction)
        scores[shift] = rf(prompts, completions)
    assert scores[-20.0] == pytest.approx([s - 20.0 for s in scores[0.0]], abs=1e-4)
    rows = RewardFunction(TokenTableLM(table), tokenizer=tokenizer, gamma=1.0).score(prompts, completions)
    if reduction == "mean":  # V(s_0) once, plus the mean of the rest of the return over the tokens
        expected = [r["initial_value"] + (r["return"] - r["initial_value"]) / len(r["rewards"]) for r in rows]
        assert scores[0.0] == pytest.approx(expected, abs=1e-5)
