"""`imitlm evaluate --task text --data FILE`: open-ended generation on a real corpus.

Each row gives a prompt (or, for plain `text` rows, its first `prompt_tokens` tokens) and a reference continuation.
Metrics: perplexity of the references, distinct-n and Self-BLEU of the generations, and MAUVE (optional extra
`mauve-text`, GPL) between generations and references, on features from a local model directory.
"""

from __future__ import annotations

from pathlib import Path

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


FEATURE_MODELS = ("smollm2-135m", "all-minilm-l6-v2")  # built-in offline names; any local model directory works too
DEFAULT_FEATURES = "smollm2-135m"  # the only one of the two that tells text from shuffled words (docs/models.md)


def default_features_model() -> str | None:
    """MAUVE's feature model when none is asked for: `DEFAULT_FEATURES` where the mauve extra and its wheel are
    installed, else None (no MAUVE)."""
    import importlib.metadata
    import importlib.util

    from imitlm.models import OFFLINE_MODELS

    if importlib.util.find_spec("mauve") is None:
        return None
    try:
        importlib.metadata.distribution(OFFLINE_MODELS[DEFAULT_FEATURES].distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    return DEFAULT_FEATURES


def check_features_model(features_model: str, option: str = "--mauve_features_model") -> None:
    """Before any generation (MAUVE comes last): the mauve extra is installed and the feature model exists."""
    import importlib.util

    if importlib.util.find_spec("mauve") is None:
        raise UserError("MAUVE needs the optional extra: pip install 'imitlm[mauve]' (mauve-text, GPL)")
    if features_model not in FEATURE_MODELS and not Path(features_model).is_dir():
        raise UserError(
            f"{option} {features_model} is not a directory; give a local model directory or one of: "
            + ", ".join(FEATURE_MODELS)
        )


@torch.no_grad()
def text_features(texts: list[str], features_model: str, batch_size: int = 16, max_length: int = 256) -> torch.Tensor:
    """MAUVE's features, (N, H): a causal LM's final hidden state at each text's last token (as MAUVE's authors use
    GPT-2's), or an encoder's final hidden states mean-pooled over the tokens (sentence-transformers' pooling for
    all-MiniLM-L6-v2). ``features_model``: a local directory, GGUF file or offline name (`models.sources`)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from imitlm.models import resolve_model_path

    model_dir = resolve_model_path(features_model, option="--mauve_features_model")
    causal_names = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    causal = bool(causal_names & set(AutoConfig.from_pretrained(model_dir).architectures or []))
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
        mask = batch["attention_mask"]  # (B, T), right-padded
        if causal:
            features.append(hidden[torch.arange(hidden.shape[0]), mask.sum(dim=1) - 1])
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            features.append((hidden * weights).sum(dim=1) / weights.sum(dim=1))
    return torch.cat(features).float()


def mauve_score(generations: list[str], references: list[str], features_model: str) -> float:
    p = text_features(references, features_model).numpy()
    q = text_features(generations, features_model).numpy()
    return mauve_from_features(p, q)


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
        result["mauve_features"] = mauve_features_model
    return result


@torch.no_grad()
def continuation_features(
    model, tokenizer, prompts: list[str], continuations: list[str], batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """MAUVE features of continuations read in context: the final hidden states of ``model`` over the tokens of
    each continuation (+EOS) after its prompt, (mean over those tokens, the last one's); both (N, H)."""
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", 1024)
    means, lasts = [], []
    for start in range(0, len(prompts), batch_size):
        rows = []
        for prompt, continuation in zip(prompts[start : start + batch_size], continuations[start : start + batch_size]):
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"][-(limit // 2) :]
            continuation_ids = tokenizer(continuation, add_special_tokens=False)["input_ids"]
            continuation_ids = continuation_ids[: limit - len(prompt_ids) - 1] + [tokenizer.eos_token_id]
            rows.append((prompt_ids, continuation_ids))
        width = max(len(p) + len(c) for p, c in rows)
        input_ids = torch.full((len(rows), width), tokenizer.pad_token_id)  # (B, T), right-padded
        attention_mask = torch.zeros_like(input_ids)
        continuation_mask = torch.zeros_like(input_ids, dtype=torch.bool)
        for i, (p, c) in enumerate(rows):
            input_ids[i, : len(p) + len(c)] = torch.tensor(p + c)
            attention_mask[i, : len(p) + len(c)] = 1
            continuation_mask[i, len(p) : len(p) + len(c)] = True
        mask = attention_mask.to(model.device)
        hidden = model(input_ids=input_ids.to(model.device), attention_mask=mask, output_hidden_states=True)
        hidden = hidden.hidden_states[-1]  # (B, T, H)
        weights = continuation_mask.to(hidden.device, hidden.dtype).unsqueeze(-1)  # (B, T, 1)
        means.append((hidden * weights).sum(dim=1) / weights.sum(dim=1))
        last = torch.tensor([len(p) + len(c) - 1 for p, c in rows], device=hidden.device)
        lasts.append(hidden[torch.arange(len(rows), device=hidden.device), last])
    return torch.cat(means).float().cpu(), torch.cat(lasts).float().cpu()


def mauve_from_features(p_features, q_features, seed: int = 25) -> float:
    """MAUVE (Pillutla et al. 2021) of two feature sets, buckets = N/10 (2..50), as `mauve_score`."""
    try:
        import mauve
    except ImportError:
        raise UserError("MAUVE needs the optional extra: pip install 'imitlm[mauve]' (mauve-text, GPL)") from None
    num_buckets = max(2, min(len(p_features) // 10, 50))
    result = mauve.compute_mauve(
        p_features=p_features, q_features=q_features, num_buckets=num_buckets, seed=seed, verbose=False
    )
    return float(result.mauve)
