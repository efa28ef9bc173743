"""Generation for users (`imitlm generate`, evaluation) never emits `<pad>`, `<bos>` or `<unk>` as actions, even
from a model that prefers them; EOS stays an action."""

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from imitlm.data.encode import encode_prompt
from imitlm.evaluation.generation import generate_samples, never_actions
from imitlm.models.char_tokenizer import build_char_tokenizer
from imitlm.rollout.generate import generate_with_backspace
from imitlm.tasks.arithmetic import ALPHABET


def uniform_model(vocab_size: int) -> LlamaForCausalLM:
    """All logits equal: greedy takes id 0 (`<pad>` here), sampling draws every id."""
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, tie_word_embeddings=False, max_position_embeddings=64,
    )  # fmt: skip
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        model.lm_head.weight.zero_()
    return model


def test_never_actions_of_the_char_tokenizer():
    tokenizer = build_char_tokenizer(ALPHABET)
    assert never_actions(tokenizer) == sorted({tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.unk_token_id})
    tokenizer.pad_token = tokenizer.eos_token  # GPT-2 style: pad is EOS, which must stay an action
    assert tokenizer.eos_token_id not in never_actions(tokenizer)


def test_generation_suppresses_pad_bos_unk():
    tokenizer = build_char_tokenizer(ALPHABET)
    model = uniform_model(len(tokenizer))
    banned = set(never_actions(tokenizer))
    prompt = [encode_prompt(tokenizer, "1 + 1? ")]
    plain = generate_with_backspace(
        model, prompt, bksp_id=-1, eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id, max_new_actions=3,
        allow_backspace=False,
    )  # fmt: skip
    assert plain.actions[0][0] == tokenizer.pad_token_id  # without the rule, the model's own argmax is <pad>
    greedy = generate_samples(model, tokenizer, ["1 + 1? "] * 2, max_new_tokens=3)
    sampled = generate_samples(model, tokenizer, ["1 + 1? "] * 8, max_new_tokens=6, do_sample=True, seed=0)
    actions = [a for sample in greedy + sampled for a in sample.actions]
    assert actions and not banned & set(actions)
