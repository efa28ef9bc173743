"""Adding <bksp> to a tokenizer and model; LoRA trains the new row."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

from imitlm.backspace.vocab import BKSP_TOKEN, add_backspace_token, lora_config_with_bksp
from imitlm.models import bksp_id_of

from reference.backspace_ref import tiny_model

WORDS = ["<pad>", "<eos>", "<unk>"] + [f"w{i}" for i in range(16)]  # 19 tokens


def tiny_tokenizer(extra_words=()):
    vocab = {w: i for i, w in enumerate(WORDS + list(extra_words))}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    tok.add_special_tokens({"extra_special_tokens": ["<sep>"]})  # an existing special token to keep
    return tok


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_add_keeps_original_logits_and_specials(kind):
    tok = tiny_tokenizer()
    n_before = len(tok)
    model = tiny_model(kind, vocab_size=n_before, **({"tie_word_embeddings": False} if kind == "llama" else {}))
    ids = torch.tensor([[3, 4, 5, 6, 7]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
    bksp = add_backspace_token(tok, model)
    assert bksp == n_before and len(tok) == n_before + 1
    assert {"<sep>", "<eos>", "<pad>", BKSP_TOKEN} <= set(tok.all_special_tokens)
    assert tok("w1 <bksp> w2").input_ids == [4, bksp, 5]
    assert model.get_input_embeddings().weight.shape[0] == n_before + 1
    with torch.no_grad():
        after = model(input_ids=ids).logits
    torch.testing.assert_close(after[..., :n_before], before, atol=1e-6, rtol=1e-6)
    assert bksp_id_of(model) == bksp == bksp_id_of(model.config)
    # idempotent
    assert add_backspace_token(tok, model) == bksp
    assert len(tok) == n_before + 1 and model.get_input_embeddings().weight.shape[0] == n_before + 1


def test_save_reload_keeps_id(tmp_path):
    tok = tiny_tokenizer()
    model = tiny_model("gpt2", vocab_size=len(tok))
    bksp = add_backspace_token(tok, model)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert bksp_id_of(reloaded) == bksp
    tok2 = PreTrainedTokenizerFast.from_pretrained(tmp_path)
    assert tok2.convert_tokens_to_ids(BKSP_TOKEN) == bksp
    assert add_backspace_token(tok2, reloaded) == bksp


def test_padded_embedding_is_not_shrunk():
    tok = tiny_tokenizer()
    model = tiny_model("llama", vocab_size=len(tok) + 5)  # vocab padded beyond the tokenizer
    bksp = add_backspace_token(tok, model)
    assert model.get_input_embeddings().weight.shape[0] == len(tok) + 4
    emb = model.get_input_embeddings().weight
    torch.testing.assert_close(emb[bksp], emb[:bksp].mean(0))


def test_ordinary_bksp_text_is_rejected():
    tok = tiny_tokenizer(extra_words=["<bksp>"])
    with pytest.raises(ValueError, match="ordinary token"):
        add_backspace_token(tok)
    with pytest.raises(ValueError, match="bksp_token_id"):
        bksp_id_of(tiny_model("gpt2"), required=True)


@pytest.mark.parametrize("tied", [True, False])
def test_lora_trains_bksp_row(tied):
    tok = tiny_tokenizer()
    model = tiny_model("llama", vocab_size=len(tok), tie_word_embeddings=tied)
    bksp = add_backspace_token(tok, model)
    cfg = lora_config_with_bksp(LoraConfig(r=4, target_modules=["q_proj", "v_proj"]), bksp, model=model)
    peft_model = get_peft_model(model, cfg)
    emb = peft_model.get_input_embeddings()
    head = peft_model.get_output_embeddings()
    probe = torch.tensor([3, bksp])
    hidden = torch.randn(1, 32)
    with torch.no_grad():
        emb_before = emb(probe).clone()
        head_before = head(hidden).clone()
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.tensor([[3, 4, bksp, 5, bksp, 6]])
    loss = peft_model(input_ids=ids, labels=ids).loss
    loss.backward()
    opt.step()
    with torch.no_grad():
        emb_after = emb(probe)
        head_after = head(hidden)
    assert not torch.allclose(emb_after[1], emb_before[1])  # the <bksp> row moved
    torch.testing.assert_close(emb_after[0], emb_before[0])  # ordinary rows frozen
    assert head_after[0, bksp] != head_before[0, bksp]  # <bksp> logit trainable (tied or not)
    torch.testing.assert_close(head_after[0, :bksp], head_before[0, :bksp])
    assert bksp_id_of(peft_model) == bksp
