"""Sampling primitives (against explicit loops) and the trace display."""

import torch

from imitlm.rollout.display import format_trace
from imitlm.rollout.sampling import process_logits, sample_from_logits, top_k_filter, top_p_filter


def test_top_k_keeps_k_largest():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0], [0.0, -1.0, 2.0, 1.0]])
    out = top_k_filter(logits, 2)
    assert torch.isfinite(out).tolist() == [[False, True, False, True], [False, False, True, True]]
    assert torch.equal(top_k_filter(logits, 0), logits)


def test_top_p_matches_loop_reference():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 9, generator=g)
    for p in (0.1, 0.5, 0.9, 0.999):
        out = top_p_filter(logits, p)
        for row, row_out in zip(logits, out):
            probs = row.softmax(-1)
            order = probs.argsort(descending=True).tolist()
            keep, mass = set(), 0.0
            for i in order:  # smallest prefix of the sorted tokens whose mass reaches p
                keep.add(i)
                mass += float(probs[i])
                if mass >= p:
                    break
            assert {i for i in range(9) if torch.isfinite(row_out[i])} == keep


def test_sampling_follows_probabilities_and_greedy_is_argmax():
    logits = torch.log(torch.tensor([[0.1, 0.6, 0.3]])).expand(20000, 3)
    g = torch.Generator().manual_seed(0)
    draws = sample_from_logits(logits, do_sample=True, generator=g)
    freq = torch.bincount(draws, minlength=3).float() / len(draws)
    torch.testing.assert_close(freq, torch.tensor([0.1, 0.6, 0.3]), atol=0.02, rtol=0)
    assert sample_from_logits(logits[:2], do_sample=False).tolist() == [1, 1]
    hot = process_logits(logits[:1], temperature=0.5)
    torch.testing.assert_close(hot, logits[:1] * 2)


def test_format_trace():
    toks = ["a", "b", "X", "<bksp>", "c", "Y", "Z", "<bksp>", "<bksp>", "d"]
    assert format_trace(toks, "<bksp>", color=False) == "ab~~X~~c~~Y~~~~Z~~d"
    flags = [t == "<bksp>" for t in toks]
    colored = format_trace(toks, flags, color=True)
    assert "\x1b[9;31mX\x1b[0m" in colored and "<bksp>" not in colored


def test_trace_of_a_byte_level_bpe_shows_text_not_byte_symbols():
    """`imitlm generate` and the demo reports show each action as the text it writes (no "Ġ" for a space)."""
    from imitlm.backspace.vocab import add_backspace_token
    from imitlm.models.bpe_tokenizer import build_bpe_tokenizer
    from imitlm.rollout.display import trace_of

    tokenizer = build_bpe_tokenizer(["the cat sat on the mat", "the dog ran"] * 20, vocab_size=300)
    bksp = add_backspace_token(tokenizer)
    words = [tokenizer(w, add_special_tokens=False)["input_ids"] for w in ("the", " cat", " dog", " sat")]
    actions = [*words[0], *words[1], *words[2], bksp, *words[3]]  # "the cat dog<bksp> sat"
    assert trace_of(tokenizer, actions, bksp, color=False) == "the cat~~ dog~~ sat"
    assert trace_of(tokenizer, actions[:3], None, color=False) == tokenizer.decode(actions[:3])
