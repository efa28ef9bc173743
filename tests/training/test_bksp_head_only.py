"""--bksp_head_only: the `<bksp>` targets train the output head only. Same loss; the head's gradient is the plain
one; every other parameter's gradient is that of the loss without the `<bksp>` targets (same normaliser), in the
full-logit and the chunked paths."""

import pytest
import torch

from imitlm.backspace.layout import make_layout, target_counts
from imitlm.objectives import PRESETS, imitation_loss_from_values, legal_soft_q
from imitlm.training.loss_step import imitation_forward

from training.test_chunked_loss import BKSP, EOS, PAD, rows, tiny_model


def head_and_body(model):
    head = model.get_output_embeddings().weight
    body = [p for p in model.parameters() if p is not head]
    return head, body


def without_bksp_targets(model, batch, spec, counts):
    """The plain loss with the `<bksp>` transitions taken out of the expert mask, the counts unchanged."""
    layout = make_layout(batch, bksp_id=BKSP, eos_id=EOS, pad_id=PAD, dtype=torch.float32)
    logits = model(**layout.model_inputs()).logits.float()
    values, q_taken = legal_soft_q(logits, layout.targets, layout.bksp_illegal, BKSP, spec.tau)
    mask = layout.target_mask & (layout.targets != BKSP)
    loss, _ = imitation_loss_from_values(
        values, q_taken, layout.targets, mask, layout.done, layout.next_index, batch["is_policy"], spec,
        num_data_tokens=counts[0], num_policy_tokens=counts[1],
    )  # fmt: skip
    return loss


@pytest.mark.parametrize("chunk_size", [None, 5])
def test_bksp_targets_train_the_head_only(chunk_size):
    model = tiny_model("llama")  # untied head: its gradient is checked on its own
    batch = rows(backspace=True)
    batch = {k: v[~batch["is_policy"]] for k, v in batch.items()}  # data rows: noise + <bksp>, truncation, EOS
    spec = PRESETS["mle_bksp"].objective_spec()
    counts = target_counts(batch)
    head, body = head_and_body(model)

    def forward(head_only):
        loss, _, _ = imitation_forward(
            model, batch, spec, counts, bksp_id=BKSP, eos_id=EOS, pad_id=PAD, chunk_size=chunk_size,
            bksp_head_only=head_only,
        )  # fmt: skip
        return loss, torch.autograd.grad(loss, [head, *body])

    plain_loss, (plain_head, *plain_body) = forward(False)
    loss, (grad_head, *grad_body) = forward(True)
    torch.testing.assert_close(loss, plain_loss, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad_head, plain_head, rtol=1e-5, atol=1e-6)
    reference = torch.autograd.grad(without_bksp_targets(model, batch, spec, counts), body)
    for got, want in zip(grad_body, reference):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert any(not torch.allclose(g, p, atol=1e-6) for g, p in zip(grad_body, plain_body))  # the switch acts


def test_bksp_learning_rate_gives_the_lora_row_its_own_group(tmp_path):
    from peft import LoraConfig

    from imitlm.errors import UserError
    from imitlm.training.trainer import BKSP_ROW_LEARNING_RATE, ImitationTrainer

    from training.helpers import tiny_config, tiny_setup

    config = tiny_config(tmp_path, objective="mle_bksp", bksp_learning_rate=0.05)
    model, tokenizer, data = tiny_setup(config)
    lora = LoraConfig(r=2, target_modules=["c_attn"], task_type="CAUSAL_LM")
    trainer = ImitationTrainer(
        model=model, args=config, train_dataset=data, processing_class=tokenizer, peft_config=lora
    )
    optimizer = trainer.create_optimizer()
    row = [p for n, p in trainer.model.named_parameters() if "trainable_tokens_delta" in n]
    groups = [g for g in optimizer.param_groups if any(p is row[0] for p in g["params"])]
    assert len(row) == 1 and len(groups) == 1 and groups[0]["lr"] == 0.05
    assert sum(any(p is row[0] for p in g["params"]) for g in optimizer.param_groups) == 1  # in one group only
    assert all(g["lr"] == config.learning_rate for g in optimizer.param_groups if g is not groups[0])

    config = tiny_config(tmp_path, objective="mle_bksp")  # the default rate of the LoRA row
    model, tokenizer, data = tiny_setup(config)
    trainer = ImitationTrainer(
        model=model, args=config, train_dataset=data, processing_class=tokenizer, peft_config=lora
    )
    optimizer = trainer.create_optimizer()
    row = [p for n, p in trainer.model.named_parameters() if "trainable_tokens_delta" in n]
    assert [g["lr"] for g in optimizer.param_groups if any(p is row[0] for p in g["params"])] == [
        BKSP_ROW_LEARNING_RATE
    ]

    config = tiny_config(tmp_path, objective="mle_bksp")  # full fine-tuning: no row of its own, one rate
    model, tokenizer, data = tiny_setup(config)
    trainer = ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    assert {g["lr"] for g in trainer.create_optimizer().param_groups} == {config.learning_rate}

    config = tiny_config(tmp_path, objective="mle_bksp", bksp_learning_rate=0.05)  # no LoRA: no such row
    model, tokenizer, data = tiny_setup(config)
    trainer = ImitationTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    with pytest.raises(UserError, match="--bksp_learning_rate"):
        trainer.create_optimizer()
