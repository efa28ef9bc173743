"""The built-in real model, end to end: SmolLM2-135M-Instruct from its wheel (converted once from GGUF and cached),
2 LoRA steps of `sequencematch` on `lee`, generation with `<bksp>`, and the merged model that was saved gives the
logits of base + adapter."""

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from imitlm.evaluation.generation import generate_samples
from imitlm.models import add_backspace, bksp_id_of, load_trained, resolve_model_path
from imitlm.models.sources import offline_model_path

pytestmark = pytest.mark.slow


def test_lora_sequencematch_on_smollm2_saves_a_model_that_reloads_exactly(cli, tmp_path):
    out = tmp_path / "run"
    # a small rollout and short rows keep the two steps at a few seconds each
    result = cli(
        "train", "--model_name_or_path", "smollm2-135m", "--task", "text", "--dataset_name", "lee",
        "--objective", "sequencematch", "--use_peft", "true", "--max_steps", 2, "--output_dir", out,
        "--per_device_train_batch_size", 2, "--max_length", 128, "--rollout_batch_size", 2,
        "--max_new_tokens", 6, "--use_cpu", "true", "--report_to", "none", "--save_strategy", "no",
        "--disable_tqdm", "true",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    merged, tokenizer = load_trained(str(out))
    bksp = bksp_id_of(merged, required=True)
    assert tokenizer.convert_ids_to_tokens(bksp) == "<bksp>"
    base_dir = resolve_model_path("smollm2-135m")
    gguf = offline_model_path("smollm2-135m")  # the same file by path, and as a directory plus --gguf_file
    assert resolve_model_path(str(gguf)) == resolve_model_path(str(gguf.parent), gguf.name) == base_dir
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    add_backspace(AutoTokenizer.from_pretrained(base_dir), base)
    adapted = PeftModel.from_pretrained(base, str(out / "adapter")).eval()
    ids = torch.tensor([tokenizer("The government said on Monday that")["input_ids"] + [bksp]])
    untouched = AutoModelForCausalLM.from_pretrained(base_dir)
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, adapted(ids).logits, rtol=1e-4, atol=1e-4)
        ordinary = merged(ids[:, :-1]).logits[..., : untouched.config.vocab_size]  # (1, T, V) without <bksp>
        assert not torch.allclose(ordinary, untouched(ids[:, :-1]).logits, atol=1e-5)  # the 2 steps changed it

    samples = generate_samples(
        merged, tokenizer, ["The government said on Monday that"], max_new_tokens=12, do_sample=False
    )
    words = samples[0].text.split()
    assert len(words) >= 3 and all(word.isascii() for word in words), samples[0].text  # English, not ids or bytes


def test_an_offline_name_is_never_looked_up_on_the_hub(monkeypatch):
    """`imitlm train --model_name_or_path smollm2-135m` once asked the Hub for `smollm2-135m/config.json` before
    training (five retries, ~40 s, on a machine without the Hub): the vocabulary check must read the converted
    directory."""
    from types import SimpleNamespace

    from transformers import AutoConfig

    from imitlm.models.files import note_resized_vocabulary

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("smollm2-135m"))
    asked = []
    real = AutoConfig.from_pretrained
    monkeypatch.setattr(AutoConfig, "from_pretrained", lambda name, **kw: asked.append(name) or real(name, **kw))
    config = SimpleNamespace(model_name_or_path="smollm2-135m", gguf_file=None, tokenizer_name_or_path=None)
    note_resized_vocabulary(config, tokenizer)
    assert asked == [resolve_model_path("smollm2-135m")]
