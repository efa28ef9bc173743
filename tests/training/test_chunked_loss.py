"""The chunked loss step (`imitation_forward(..., chunk_size=C)`: hidden states + output head, `objectives.chunked`)
equals the full-logit step for every preset and divergence: loss, metrics and every parameter gradient, to 1e-5 in
float32, on tiny GPT-2 (tied head), Llama (untied) and Qwen2 models, with chunk sizes that do and do not divide the
number of positions, padding, `<bksp>` layouts (noise, deletions back to the prompt) and policy rows."""

import pytest
import torch
from transformers import Gemma2Config, GPT2Config, GraniteConfig, LlamaConfig, Qwen2Config

from imitlm.backspace.layout import make_layout, target_counts
from imitlm.data.batches import pad_batch
from imitlm.errors import UserError
from imitlm.models import hidden_and_head
from imitlm.objectives import DIVERGENCES, PRESETS
from imitlm.training.loss_step import imitation_forward

VOCAB, PAD, EOS = 64, 0, 1
BKSP = VOCAB - 1
SMALL = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)
CONFIGS = {
    "gpt2": lambda: GPT2Config(
        vocab_size=VOCAB,
        n_layer=1,
        n_embd=16,
        n_head=2,
        n_positions=32,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    ),
    "llama": lambda: LlamaConfig(vocab_size=VOCAB, max_position_embeddings=32, tie_word_embeddings=False, **SMALL),
    "qwen2": lambda: Qwen2Config(vocab_size=VOCAB, max_position_embeddings=32, tie_word_embeddings=True, **SMALL),
}
N = BKSP  # noise token ids are ordinary ids; N marks one in the rows below


def tiny_model(kind: str, config=None, attn: str = "sdpa"):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = config or CONFIGS[kind]()
    config.pad_token_id, config.eos_token_id, config.bos_token_id = PAD, EOS, EOS
    return AutoModelForCausalLM.from_config(config, attn_implementation=attn).float().train()


def rows(backspace: bool):
    """Data rows (noise + <bksp>, EOS-terminated, truncated, padded) and policy rows (deletions back to the
    prompt, so <bksp> is illegal at later positions too); without `<bksp>` the noise and deletions are dropped."""
    data = [
        ([5, 6, 7], [8, 9, 40, BKSP, 10, EOS], [0, 0, 1, 0, 0, 0]),
        ([5, 6], [11, 12, 13, 14, 15, 16, 17, 18, 19], [0] * 9),  # truncated: bootstraps
        ([5, 6, 7, 8], [9, EOS], [0, 0]),
    ]
    policy = [
        ([5, 6], [20, BKSP, 21, 22, BKSP, BKSP, 23, EOS], [0] * 8),
        ([5, 6, 7], [24, 25, 26, BKSP, 28, 29, 30], [0] * 7),
    ]
    prompts, actions, noise, is_policy = [], [], [], []
    for group, flag in ((data, False), (policy, True)):
        for prompt, acts, flags in group:
            if not backspace:  # drop noise tokens and deletions (and what they deleted)
                kept = []
                for token, is_noise in zip(acts, flags):
                    if token == BKSP:
                        kept.pop()
                    elif not is_noise:
                        kept.append(token)
                acts, flags = kept, [0] * len(kept)
            prompts.append(prompt)
            actions.append(acts)
            noise.append([bool(f) for f in flags])
            is_policy.append(flag)
    return pad_batch(prompts, actions, PAD, noise_flags=noise, is_policy=is_policy)


def loss_and_grads(model, batch, spec, bksp_id, chunk_size):
    counts = target_counts(batch)
    loss, metrics, _ = imitation_forward(
        model, batch, spec, counts, bksp_id=bksp_id, eos_id=EOS, pad_id=PAD, chunk_size=chunk_size
    )
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad], allow_unused=True)
    return loss.detach(), metrics, grads


def assert_same(full, chunked, label):
    (loss_f, metrics_f, grads_f), (loss_c, metrics_c, grads_c) = full, chunked
    torch.testing.assert_close(loss_c, loss_f, rtol=1e-5, atol=1e-5, msg=label)
    for name, value in metrics_f.items():
        torch.testing.assert_close(metrics_c[name], value, rtol=1e-5, atol=1e-5, msg=f"{label} {name}")
    for index, (grad_f, grad_c) in enumerate(zip(grads_f, grads_c)):
        assert (grad_f is None) == (grad_c is None), (label, index)
        if grad_f is not None:
            torch.testing.assert_close(grad_c, grad_f, rtol=1e-5, atol=1e-5, msg=f"{label} gradient {index}")


@pytest.mark.parametrize("chunk_size", [4, 7])  # the batches have 28 / 12 needed positions: 4 divides, 7 not both
@pytest.mark.parametrize("kind", list(CONFIGS))
def test_chunked_equals_full_for_every_preset_and_divergence(kind, chunk_size):
    model = tiny_model(kind)
    batches = {backspace: rows(backspace) for backspace in (False, True)}
    for preset_name, preset in PRESETS.items():
        bksp_id = BKSP if preset.backspace else None
        batch = batches[preset.backspace]
        for divergence in DIVERGENCES:
            tau = 0.7 if divergence == "js" else 1.0  # q_temperature reaches the reductions too
            spec = preset.objective_spec(divergence=divergence, tau=tau, gamma=0.9)
            label = f"{kind} {preset_name} {divergence} chunk {chunk_size}"
            assert_same(
                loss_and_grads(model, batch, spec, bksp_id, None),
                loss_and_grads(model, batch, spec, bksp_id, chunk_size),
                label,
            )


@pytest.mark.parametrize("head", ["lora", "trainable_bksp_row", "frozen"])
def test_peft_head(head):
    """LoRA on the (untied) head, peft's trainable `<bksp>` row on it (`lora_config_with_bksp`; peft cannot do both
    on one module), or a frozen plain head (LoRA elsewhere: the fused path without a weight gradient): same loss and
    gradients of every trainable parameter."""
    from peft import LoraConfig, get_peft_model

    from imitlm.backspace.vocab import lora_config_with_bksp

    model = tiny_model("llama")
    targets = ["q_proj", "v_proj", "lm_head"] if head == "lora" else ["q_proj", "v_proj"]
    config = LoraConfig(r=2, lora_alpha=4, lora_dropout=0.0, target_modules=targets)
    if head == "trainable_bksp_row":
        config = lora_config_with_bksp(config, BKSP, model)
    model = get_peft_model(model, config)
    with torch.no_grad():  # non-zero LoRA B and <bksp> rows, so the adapters change the logits
        for param in model.parameters():
            if param.requires_grad:
                param.add_(0.1 * torch.randn_like(param))
    spec = PRESETS["sequencematch"].objective_spec()
    batch = rows(True)
    assert_same(loss_and_grads(model, batch, spec, BKSP, None), loss_and_grads(model, batch, spec, BKSP, 5), head)


TRANSFORMS = {
    "gemma2": lambda: Gemma2Config(vocab_size=VOCAB, head_dim=8, final_logit_softcapping=3.0, **SMALL),
    "granite": lambda: GraniteConfig(vocab_size=VOCAB, logits_scaling=4.0, **SMALL),
}


@pytest.mark.parametrize("kind", list(TRANSFORMS))
def test_logit_transforms_are_applied_and_unknown_ones_refused(kind, monkeypatch):
    import imitlm.models.head

    model = tiny_model(kind, TRANSFORMS[kind](), attn="eager")  # gemma2 has no sdpa kernel
    layout = make_layout(rows(True), bksp_id=BKSP, eos_id=EOS, pad_id=PAD, dtype=torch.float32)
    full = model(**layout.model_inputs()).logits  # (B, T, V)
    _, hidden, head = hidden_and_head(model, layout.model_inputs())
    torch.testing.assert_close(head(hidden), full)
    # a transform the head does not know of (here: the plain output embedding): refused, not trained wrong
    monkeypatch.setattr(imitlm.models.head, "output_head", lambda model: model.get_output_embeddings())
    with pytest.raises(UserError, match="--chunked_loss false"):
        hidden_and_head(model, layout.model_inputs())


def test_chunked_loss_flag_default_and_refusals():
    from types import SimpleNamespace

    from imitlm.training.config import CHUNKED_LOSS_MIN_VOCAB
    from imitlm.training.trainer import loss_chunk_size

    def args(**kw):
        return SimpleNamespace(**{"chunked_loss": None, "loss_chunk_size": None, "fsdp": "", "deepspeed": None, **kw})

    small, large = torch.nn.Linear(2, 64), torch.nn.Linear(2, CHUNKED_LOSS_MIN_VOCAB)
    model = SimpleNamespace(get_output_embeddings=lambda: small)
    assert loss_chunk_size(args(), model) is None  # small vocabulary: full logits
    assert loss_chunk_size(args(chunked_loss=True, loss_chunk_size=5), model) == 5
    model = SimpleNamespace(get_output_embeddings=lambda: large)
    assert loss_chunk_size(args(), model) >= 16  # large vocabulary: on by default
    assert loss_chunk_size(args(chunked_loss=False), model) is None
    assert loss_chunk_size(args(fsdp="full_shard"), model) is None  # off by default under FSDP
    with pytest.raises(UserError, match="--chunked_loss false"):
        loss_chunk_size(args(chunked_loss=True, deepspeed="ds.json"), model)


def test_trainer_chunked_equals_full_and_accumulation_holds(tmp_path):
    """Through `ImitationTrainer` (sequencematch: <bksp>, noise, policy rows): --chunked_loss true trains like false,
    and batch 8 x accumulation 1 == batch 2 x accumulation 4 still holds with it."""
    from training.test_trainer_invariance import run

    model_full, logs_full = run(tmp_path / "full", "sequencematch", 8, 1, chunked_loss=False)
    model_a, logs_a = run(tmp_path / "a", "sequencematch", 8, 1, chunked_loss=True, loss_chunk_size=7)
    model_b, logs_b = run(tmp_path / "b", "sequencematch", 2, 4, chunked_loss=True, loss_chunk_size=7)
    for row_full, row_a, row_b in zip(logs_full, logs_a, logs_b):
        assert row_a["loss"] == pytest.approx(row_full["loss"], rel=1e-5, abs=1e-6)
        assert row_b["loss"] == pytest.approx(row_a["loss"], rel=1e-5, abs=1e-6)
        assert row_b["grad_norm"] == pytest.approx(row_a["grad_norm"], rel=1e-4, abs=1e-6)
    for (name, full), (_, a), (_, b) in zip(
        model_full.named_parameters(), model_a.named_parameters(), model_b.named_parameters()
    ):
        torch.testing.assert_close(a, full, rtol=1e-4, atol=5e-6, msg=name)
        torch.testing.assert_close(b, a, rtol=1e-4, atol=5e-6, msg=name)
