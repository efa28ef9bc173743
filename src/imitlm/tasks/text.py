"""Generic text data: a Hugging Face dataset name or a local jsonl/csv/parquet file or folder (as TRL's scripts),
or a built-in offline corpus (`lee`, `enwiki`: `tasks/corpora.py`).

Rows have `text`, or `prompt` + `completion`, or chat `messages` (rendered with the tokenizer's chat template).
Every loader returns rows with string columns `prompt` and `completion` (plain text: empty prompt).
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

import datasets

from imitlm.data.chat import is_conversational, render_completion, render_prompt
from imitlm.data.progress import without_progress_bars
from imitlm.errors import UserError

logger = logging.getLogger(__name__)
LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def check_utf8(path: Path) -> None:
    """Text files must be UTF-8; read in chunks so large files cost no memory."""
    try:
        with open(path, encoding="utf-8") as handle:
            while handle.read(1 << 20):
                pass
    except UnicodeDecodeError as error:
        raise UserError(f"{path} is not UTF-8 text (byte {error.start}); re-encode it as UTF-8") from None


def csv_as_text(path: Path) -> datasets.Features:
    """Every column of a CSV file typed as a string (pandas would read "007" as the number 7)."""
    import csv

    with open(path, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    if len(set(header)) != len(header) or not all(header):
        raise UserError(f"{path}: its first line must name each column once (e.g. prompt,completion)")
    return datasets.Features({name: datasets.Value("string") for name in header})


@without_progress_bars
def load_raw_dataset(name_or_path: str, split: str = "train", config_name: str | None = None) -> datasets.Dataset:
    from imitlm.tasks.corpora import CORPORA, corpus_rows

    path = Path(name_or_path)
    if name_or_path in CORPORA and not path.exists():  # built-in offline corpora: `lee`, `enwiki`
        return corpus_rows(name_or_path, split)
    close = difflib.get_close_matches(name_or_path.lower(), CORPORA, n=1, cutoff=0.75)
    if close and "/" not in name_or_path and not path.exists():
        raise UserError(f"unknown dataset {name_or_path!r}; did you mean the built-in corpus {close[0]!r}?")
    if path.exists():
        files = sorted(p for p in path.rglob("*") if p.suffix in LOCAL_FORMATS) if path.is_dir() else [path]
        if not files:
            raise UserError(f"no jsonl/csv/parquet files in {path}; point --dataset_name at a data file or folder")
        suffixes = {p.suffix for p in files}
        if len({LOCAL_FORMATS.get(s) for s in suffixes}) != 1 or None in {LOCAL_FORMATS.get(s) for s in suffixes}:
            raise UserError(
                f"{path}: unsupported or mixed file types {sorted(suffixes)}; use one of jsonl, csv, parquet"
            )
        builder = LOCAL_FORMATS[files[0].suffix]
        if all(f.stat().st_size == 0 for f in files):
            raise UserError(f"{path} is empty; give a dataset with at least one row")
        if builder in ("json", "csv"):
            for f in files:
                check_utf8(f)
        # csv: every cell read as text, so an answer "007" or "1.50" stays what the file says
        options = {"features": csv_as_text(files[0]), "keep_default_na": False} if builder == "csv" else {}
        try:
            return datasets.load_dataset(builder, data_files=[str(f) for f in files], split="train", **options)
        except UnicodeDecodeError:
            raise UserError(f"{path} is not UTF-8 text; re-encode it as UTF-8") from None
        except Exception as error:  # datasets wraps parse errors in many types
            if "utf-8" in str(error).lower() or "decode" in str(error).lower():
                raise UserError(f"{path} is not UTF-8 text; re-encode it as UTF-8") from None
            raise UserError(f"could not read {path} as {builder}: {first_line(error)}; fix the file's format") from None
    if name_or_path.startswith((".", "/")) or Path(name_or_path).suffix in LOCAL_FORMATS:
        raise UserError(f"data file not found: {name_or_path}; check the path")
    try:
        return datasets.load_dataset(name_or_path, config_name, split=split)
    except Exception as error:  # offline, no such dataset, no such split or configuration: datasets' many types
        raise UserError(
            f"could not load dataset {name_or_path!r} (split {split!r}): {first_line(error)}; "
            "give an existing local jsonl/csv/parquet file or an available hub dataset"
        ) from None


@without_progress_bars
def to_prompt_completion(dataset: datasets.Dataset, tokenizer=None, source: str = "dataset") -> datasets.Dataset:
    """Normalise columns to `prompt`/`completion` strings."""
    if len(dataset) == 0:
        raise UserError(f"{source} is empty; give a dataset with at least one row")
    columns = set(dataset.column_names)
    if {"prompt", "completion"} <= columns:
        if "text" in columns:
            logger.warning(
                "%s has `text` beside `prompt`/`completion`: training on prompt/completion, `text` ignored", source
            )
        rows = dataset.select_columns(["prompt", "completion"])
        if is_conversational(rows[0]["prompt"]) or is_conversational(rows[0]["completion"]):  # TRL's chat format

            def render(row):
                return {
                    "prompt": render_prompt(row["prompt"], tokenizer),
                    "completion": render_completion(row["completion"]),
                }

            rows = rows.map(render, remove_columns=rows.column_names)
    elif "text" in columns:
        rows = dataset.map(lambda row: {"prompt": "", "completion": row["text"]}, remove_columns=dataset.column_names)
    elif "messages" in columns:
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise UserError(
                f"{source} has chat `messages` but the tokenizer has no chat template; use a chat model's "
                "tokenizer or convert the rows to prompt/completion"
            )

        def render(row):
            messages = row["messages"]
            if not messages or messages[-1].get("role") != "assistant":
                raise UserError(f"{source}: every `messages` row must end with an assistant turn")
            prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
            return {"prompt": prompt, "completion": messages[-1]["content"]}

        rows = dataset.map(render, remove_columns=dataset.column_names)
    else:
        raise UserError(
            f"{source} has columns {sorted(columns)}; it needs `text`, `prompt` and `completion`, or `messages`"
        )
    return check_rows(as_strings(rows), source)


def as_strings(rows: datasets.Dataset) -> datasets.Dataset:
    """Numbers are text here: a JSON answer 17172 is the completion "17172"."""
    for column in ("prompt", "completion"):
        feature = rows.features[column]
        if isinstance(feature, datasets.Value) and feature.dtype.startswith(("int", "uint", "float")):
            rows = rows.cast_column(column, datasets.Value("string"))
    return rows


def check_rows(rows: datasets.Dataset, source: str) -> datasets.Dataset:
    """Each row's own problem, by its index (0-based, as in the file)."""
    for i, row in enumerate(rows):
        for column in ("prompt", "completion"):
            value = row[column]
            if value is None and column == "prompt":
                raise UserError(f"{source}: row {i} has no prompt; use an empty string for none")
            if value is None:
                raise UserError(f"{source}: row {i} has no completion; remove the row or fill it in")
            if not isinstance(value, str):
                raise UserError(f"{source}: row {i} has a {column} of type {type(value).__name__}; it must be text")
        if not row["completion"].strip():
            raise UserError(f"{source}: row {i} has an empty completion; remove it or fill it in")
    return rows
