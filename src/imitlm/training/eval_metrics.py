"""What `--eval_strategy steps|epoch` logs: the Trainer computes a loss only for batches with `labels`, so without
this our rows gave no `eval_loss` (and `--load_best_model_at_end` a KeyError). Here:

- `eval_loss`: the run's objective at the current step (`ImitationTrainer.spec_at`) on the evaluation rows, the
  quantity training minimises (per-batch means, averaged by the Trainer's evaluation loop);
- `eval_mle_loss` and `eval_perplexity`: the negative log-likelihood per reference token (EOS included), pooled
  over every evaluation token;
- `eval_accuracy` (task arithmetic): greedy exact match on the first `ACCURACY_ROWS` evaluation questions (as
  `imitlm evaluate` scores them, from the tokenised rows: training never imports `imitlm.evaluation`), cheap
  enough to run at every evaluation (skipped under FSDP/DeepSpeed, whose sharded weights cannot generate alone).

An evaluation never changes the training that follows: torch's global generators are restored after it
(`kept_random_state`; the evaluation dataloader draws its base seed from them).
"""

from __future__ import annotations

import contextlib
import math

import torch

from imitlm.backspace.layout import target_counts
from imitlm.training.loss_step import imitation_forward

ACCURACY_ROWS = 32


@torch.no_grad()
def eval_step(trainer, model, inputs) -> torch.Tensor:
    """One evaluation batch: its objective loss; the MLE sums are kept on ``trainer`` for `extra_metrics`."""
    inputs = trainer._prepare_inputs(inputs)
    counts = target_counts(inputs).to(inputs["input_ids"].device)
    tokenizer = trainer.processing_class
    loss, metrics, _ = imitation_forward(
        model,
        inputs,
        trainer.spec_at(trainer.state.global_step),
        counts,
        bksp_id=trainer.bksp_id,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
        chunk_size=trainer.chunk_size,
    )
    tokens = metrics["objective/num_data_tokens"].float()
    sums = torch.stack([metrics["objective/mle"].float() * tokens, tokens])
    trainer._eval_sums = sums if getattr(trainer, "_eval_sums", None) is None else trainer._eval_sums + sums
    return loss.detach()


def extra_metrics(trainer, prefix: str, eval_dataset) -> dict[str, float]:
    """The pooled MLE loss and perplexity of the evaluation just run, and arithmetic accuracy."""
    sums, trainer._eval_sums = getattr(trainer, "_eval_sums", None), None
    metrics = {}
    if sums is not None:
        if trainer.args.world_size > 1:
            sums = trainer.accelerator.reduce(sums, reduction="sum")
        nll, tokens = sums.tolist()
        mle = nll / max(tokens, 1.0)
        metrics[f"{prefix}_mle_loss"] = mle
        metrics[f"{prefix}_perplexity"] = math.exp(min(mle, 50.0))
    sharded = trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled
    if getattr(trainer.args, "task", None) == "arithmetic" and eval_dataset is not None and not sharded:
        metrics[f"{prefix}_accuracy"] = greedy_accuracy(trainer, eval_dataset)
    return metrics


@torch.no_grad()
def greedy_accuracy(trainer, dataset) -> float:
    """Exact match (outer whitespace stripped, as `imitlm evaluate`) of greedy completions of the first
    `ACCURACY_ROWS` rows, generated from their tokenised prompts with `<bksp>` as an action where the model has it."""
    from imitlm.models import model_max_length
    from imitlm.rollout.generate import generate_with_backspace

    tokenizer = trainer.processing_class
    rows = dataset.select(range(min(ACCURACY_ROWS, len(dataset))))
    prompts = [list(ids) for ids in rows["prompt_ids"]]
    model = trainer.accelerator.unwrap_model(trainer.model)
    limit = model_max_length(model) or trainer.args.max_length
    never = {tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.unk_token_id} - {None, tokenizer.eos_token_id}
    was_training = model.training
    model.eval()
    result = generate_with_backspace(
        model,
        prompts,
        bksp_id=trainer.bksp_id if trainer.bksp_id is not None else -1,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
        max_new_actions=trainer.args.max_new_tokens,
        max_state_length=max(1, limit - max(len(ids) for ids in prompts)),
        allow_backspace=trainer.bksp_id is not None,
        block_undo=True,  # greedy would loop on x <bksp> x ...
        suppress_ids=sorted(never),
    )
    model.train(was_training)
    correct = 0
    for final_ids, reference in zip(result.final_ids, rows["completion_ids"]):
        text = tokenizer.decode(list(final_ids), skip_special_tokens=True)
        correct += text.strip() == tokenizer.decode(list(reference[:-1]), skip_special_tokens=True).strip()
    return correct / len(prompts)


@contextlib.contextmanager
def kept_random_state():
    """torch's CPU and CUDA generator states as they were before the block."""
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
