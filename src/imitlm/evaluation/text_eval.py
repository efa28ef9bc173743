"""`imitlm evaluate --task text --data FILE`: open-ended generation on a real corpus.

Each row gives a prompt (or, for plain `text` rows, its first `prompt_tokens` tokens) and a reference continuation.
Metrics: perplexity of the references, distinct-n and Self-BLEU of the generations, and MAUVE (optional extra
`mauve-text`, GPL) between generations and references, on features from a local model directory.
"""

from __future__ import annotations

import torch

from imitlm.data.encode import encode_text
from imitlm.errors import UserError
from imitlm.evaluation.evaluate import completion_nll
from imitlm.evaluation.generation import generate_samples
from imitlm.evaluation.metrics import distinct_n, perplexity, self_bleu


def split_plain_text(rows, tokenizer, prompt_tokens: int):
    """Rows with an empty prompt become (first `prompt_tokens` tokens, the rest)."""

    def split(row):
        if row["prompt"]:
            return row
        ids = encode_text(tokenizer, row["completion"])
        if len(ids) <= prompt_tokens:
            return {"prompt": "", "completion": row["completion"]}
        return {"prompt": tokenizer.decode(ids[:prompt_tokens]), "completion": tokenizer.decode(ids[prompt_tokens:])}

    return rows.map(split)


@torch.no_grad()
def last_token_features(texts: list[str], model_dir: str, batch_size: int = 16, max_length: int = 256) -> torch.Tensor:
    """MAUVE's features: the final hidden state at the last token, from a local model (no hub access)."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    model = AutoModel.from_pretrained(model_dir).eval()
    features = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size], return_tensors="pt", padding=True, truncation=True, max_length=max_length
        )
        hidden = model(**batch).last_hidden_state  # (B, T, H)
        last = batch["attention_mask"].sum(dim=1) - 1  # (B,)
        features.append(hidden[torch.arange(hidden.shape[0]), last])
    return torch.cat(features).float()


def mauve_score(generations: list[str], references: list[str], features_model: str) -> float:
    try:
        import mauve
    except ImportError:
        raise UserError("MAUVE needs the optional extra: pip install 'imitlm[mauve]' (mauve-text, GPL)") from None
    p = last_token_features(references, features_model).numpy()
    q = last_token_features(generations, features_model).numpy()
    num_buckets = max(2, min(len(p) // 10, 50))
    return float(mauve.compute_mauve(p_features=p, q_features=q, num_buckets=num_buckets, verbose=False).mauve)


def evaluate_text(
    model,
    tokenizer,
    rows,
    *,
    prompt_tokens: int = 8,
    max_new_tokens: int = 64,
    batch_size: int = 32,
    temperature: float = 1.0,
    seed: int = 0,
    mauve_features_model: str | None = None,
) -> dict:
    rows = split_plain_text(rows, tokenizer, prompt_tokens)
    samples = generate_samples(
        model,
        tokenizer,
        list(rows["prompt"]),
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        do_sample=True,
        temperature=temperature,
        seed=seed,
    )
    generations = [s.text for s in samples]
    nll, tokens = completion_nll(model, tokenizer, rows, batch_size)
    result = {
        "num_examples": len(samples),
        "perplexity": perplexity(nll, tokens),
        "distinct_1": distinct_n(generations, 1),
        "distinct_2": distinct_n(generations, 2),
        "distinct_3": distinct_n(generations, 3),
        "self_bleu": self_bleu(generations[:200]),
        "mean_length_words": sum(len(g.split()) for g in generations) / max(len(generations), 1),
        "samples": [{"prompt": s.prompt, "text": s.text} for s in samples[:10]],
    }
    if mauve_features_model is not None:
        result["mauve"] = mauve_score(generations, list(rows["completion"]), mauve_features_model)
    return result
