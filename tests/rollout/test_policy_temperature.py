"""One policy everywhere: a model trained at tau != 1 is the policy softmax(Q / tau) in rollouts, `generate`,
perplexity, rewards and the loss; a user temperature T multiplies tau (softmax(Q / (tau T))).

The reference is the same model with its logits divided by tau and tau = 1: both must sample the same actions from
the same seed and score the same numbers."""

import datasets
import pytest
import torch
import torch.nn.functional as F

from imitlm import RewardFunction
from imitlm.backspace.layout import make_layout, target_counts
from imitlm.evaluation.evaluate import completion_nll
from imitlm.evaluation.generation import generate_samples
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.rollout.buffer import collect_rollouts

from reference.token_table_lm import TokenTableLM

TOKENIZER = build_char_tokenizer("0123456789+ ")
V = len(TOKENIZER)
PROMPTS = ["1+2 ", "12+30 ", "9+9 ", "4 "] * 10
ROWS = datasets.Dataset.from_dict({"prompt": ["1+2 ", "12+30 ", "9+9 "], "completion": ["3", "42", "18"]})


def table(seed: int = 0) -> torch.Tensor:
    return 2.0 * torch.randn(V, V, generator=torch.Generator().manual_seed(seed))  # (V, V)


def trained_at(logits_table: torch.Tensor, tau: float | None) -> TokenTableLM:
    """A model as `imitlm train` saves it: its settings (config.json's `imitlm` entry) hold q_temperature."""
    model = TokenTableLM(logits_table)
    if tau is not None:
        model.config.imitlm = {"q_temperature": tau}
    return model


@pytest.mark.parametrize(("tau", "temperature"), [(0.5, 1.0), (2.5, 1.0), (0.5, 2.0)])
def test_generate_samples_the_trained_policy_times_the_user_temperature(tau, temperature):
    """softmax(Q / (tau T)): the model saved with tau samples what the model with logits Q / tau samples at T."""
    q = table()
    kwargs = dict(max_new_tokens=6, batch_size=64, do_sample=True, temperature=temperature, seed=3)
    trained = generate_samples(trained_at(q, tau), TOKENIZER, PROMPTS, **kwargs)
    reference = generate_samples(trained_at(q / tau, None), TOKENIZER, PROMPTS, **kwargs)
    assert [s.actions for s in trained] == [s.actions for s in reference]


def test_rollouts_sample_the_trained_policy():
    q, tau = table(1), 0.5
    prompts = [TOKENIZER(p, add_special_tokens=False)["input_ids"] or [TOKENIZER.bos_token_id] for p in PROMPTS]
    kwargs = dict(bksp_id=None, eos_id=TOKENIZER.eos_token_id, pad_id=TOKENIZER.pad_token_id, max_new_tokens=6)
    rows, _ = collect_rollouts(
        trained_at(q, None), prompts, temperature=1.0, tau=tau, generator=torch.Generator().manual_seed(4), **kwargs
    )
    reference, _ = collect_rollouts(
        trained_at(q / tau, None),
        prompts,
        temperature=1.0,
        tau=1.0,
        generator=torch.Generator().manual_seed(4),
        **kwargs,
    )
    assert rows == reference


def test_perplexity_is_the_trained_policy():
    q, tau = table(2), 0.5
    nll, tokens = completion_nll(trained_at(q, tau), TOKENIZER, ROWS)
    reference, reference_tokens = completion_nll(trained_at(q / tau, None), TOKENIZER, ROWS)
    assert tokens == reference_tokens
    assert nll == pytest.approx(reference, rel=1e-5)
    plain, _ = completion_nll(trained_at(q, None), TOKENIZER, ROWS)
    assert abs(plain - nll) > 0.1  # tau matters here


def test_reward_function_reads_q_temperature_given_and_saved():
    """r_t(Q; tau) = tau r_t(Q / tau; 1): the saved tau and an explicit q_temperature both reach the rewards."""
    q, tau = table(3), 0.5
    prompts, completions = ["1+2 ", "9+9 "], ["3", "18"]
    reference = RewardFunction(trained_at(q / tau, None), tokenizer=TOKENIZER, gamma=0.9)(prompts, completions)
    given = RewardFunction(trained_at(q, None), tokenizer=TOKENIZER, gamma=0.9, q_temperature=tau)(prompts, completions)
    saved = RewardFunction(trained_at(q, tau), tokenizer=TOKENIZER, gamma=0.9)(prompts, completions)
    assert given == pytest.approx([tau * r for r in reference], rel=1e-5)
    assert saved == pytest.approx(given, rel=1e-6)
    plain = RewardFunction(trained_at(q, None), tokenizer=TOKENIZER, gamma=0.9)(prompts, completions)
    assert plain != pytest.approx(given, rel=1e-3)


def _record_sampling_logits(monkeypatch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(logits in, logits out) of every sampling step's temperature/top-k/top-p processing."""
    import imitlm.rollout.generate as generate_module

    calls = []
    original = generate_module.process_logits

    def recording(scores, **kwargs):
        out = original(scores.clone(), **kwargs)
        calls.append((scores.clone(), out.clone()))
        return out

    monkeypatch.setattr(generate_module, "process_logits", recording)
    return calls


def test_trainer_samples_and_scores_with_softmax_of_q_over_tau(tmp_path, monkeypatch):
    """--q_temperature 0.5: the trainer's rollouts draw from softmax(Q / 0.5), and its loss scores the data with
    log softmax(Q / 0.5) (the mle preset: the loss is exactly that cross-entropy)."""
    from imitlm.training.trainer import ImitationTrainer

    from training.helpers import tiny_config, tiny_setup

    tau = 0.5
    config = tiny_config(tmp_path, objective="iqlearn_online", q_temperature=tau)
    model, tokenizer, data = tiny_setup(config)
    trainer = ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    calls = _record_sampling_logits(monkeypatch)
    trainer.run_rollouts()
    assert calls
    for logits_in, logits_out in calls:
        finite = torch.isfinite(logits_in)
        torch.testing.assert_close(logits_out[finite], logits_in[finite] / tau)

    config = tiny_config(tmp_path, objective="mle", q_temperature=tau)
    model, tokenizer, data = tiny_setup(config)
    trainer = ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    batch = trainer.data_collator([data[i] for i in range(4)])
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch, num_items_in_batch=target_counts(batch))
        layout = make_layout(
            batch, bksp_id=None, eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id, dtype=torch.float32
        )
        logits = model(**layout.model_inputs()).logits  # (B, T, V)
    labels = torch.where(layout.target_mask, layout.targets, torch.full_like(layout.targets, -100))
    expected = F.cross_entropy((logits / tau).flatten(0, 1), labels.flatten(), ignore_index=-100)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
