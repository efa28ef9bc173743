"""Rows that must fit the model's positions, for the commands that read a model rather than train one (`evaluate`,
`rewards`, the sweep's scoring): as training does (`data.encode.tokenize_rows`), what does not fit is dropped with
one warning that counts it, instead of torch's index error. Plain-text rows (empty prompt) are cut to the model's
length instead: a long document is still scored on its first part."""

from __future__ import annotations

import logging

import datasets

from imitlm.data.encode import encode_completions, encode_prompts, encode_text
from imitlm.errors import UserError

logger = logging.getLogger(__name__)


def fit_rows(rows, tokenizer, limit: int | None, source: str):
    """``rows`` (`prompt`/`completion` strings) whose prompt and completion (with BOS and EOS) fit ``limit`` tokens;
    plain-text rows cut to fit. ``limit`` None (no position limit): unchanged."""
    if limit is None or len(rows) == 0:
        return rows
    prompts = encode_prompts(tokenizer, list(rows["prompt"]))
    completions = encode_completions(tokenizer, list(rows["completion"]))
    cut, keep = [], []
    for index, (prompt, completion) in enumerate(zip(prompts, completions)):
        if len(prompt) + len(completion) <= limit:
            keep.append(index)
        elif not rows[index]["prompt"] and limit > 2:
            cut.append(index)
            keep.append(index)
    if not keep:
        raise UserError(
            f"every row of {source} is longer than the model's {limit} positions (prompt + reference); "
            "shorten the rows or use a model with more positions"
        )
    if len(keep) < len(prompts):
        logger.warning(
            "skipped %d of %d rows of %s whose prompt + reference exceed the model's %d positions",
            len(prompts) - len(keep),
            len(prompts),
            source,
            limit,
        )
    if cut:
        logger.warning("cut %d plain-text rows of %s to the model's %d positions", len(cut), source, limit)
        texts = {index: cut_text(rows[index]["completion"], tokenizer, limit) for index in cut}
        completions = [texts.get(index, rows[index]["completion"]) for index in keep]
        return datasets.Dataset.from_dict(
            {"prompt": [rows[index]["prompt"] for index in keep], "completion": completions}
        )
    return rows.select(keep) if len(keep) < len(prompts) else rows


def cut_text(text: str, tokenizer, limit: int) -> str:
    """A plain-text row's text cut to its longest prefix of at most ``limit`` tokens with BOS and EOS (a prefix of
    the text itself, found by bisection: decoding cut token ids would not give back the same text)."""
    low, high = 0, len(text)  # the longest fitting prefix has a length in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        if len(encode_text(tokenizer, text[:middle])) <= limit - 2:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def fit_text_rows(rows, tokenizer, limit: int | None, source: str, split):
    """`evaluate --task text`'s rows: plain text cut to fit, then split into prompt and reference by ``split(rows)``
    (`evaluation.text_eval.split_plain_text`), then checked again (decoding the split can lengthen a row that held
    unknown characters)."""
    rows = fit_rows(rows, tokenizer, limit, source)
    return fit_rows(split(rows), tokenizer, limit, source)
