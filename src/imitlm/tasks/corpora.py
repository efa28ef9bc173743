"""Built-in English corpora that exist offline: text shipped in the `gensim` wheel's test data (extra `text`).

- ``lee``: ``lee_background.cor``, 300 Australian news articles (Lee et al. 2005), one per line; all kept.
- ``enwiki``: ``enwiki-latest-pages-articles1.xml-...-shortened.bz2``, a sample of English Wikipedia in MediaWiki XML;
  main-namespace articles that are not redirects, cleaned by `tasks.wikitext.clean_wikitext`, kept when at least
  ``MIN_ARTICLE_CHARS`` characters of prose remain (the rest are mostly markup: lists, tables, stubs).

The text is read from the installed package at run time, never copied into this repository.
Splits are by article: an article's split is a hash of its text (80% train, 10% validation, 10% test), so no
article is in two splits. Each article is cut into rows: a prompt of ``PROMPT_WORDS`` words and the next
``COMPLETION_WORDS`` words as its reference continuation, stepping by ``COMPLETION_WORDS`` so that every word after
the first prompt is a continuation once. Words (whitespace-separated), not tokens: the rows are the same whichever
tokenizer a model uses.
"""

from __future__ import annotations

import bz2
import hashlib
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

from imitlm.errors import UserError
from imitlm.tasks.wikitext import clean_wikitext

CORPORA = {
    "lee": "lee_background.cor",
    "enwiki": "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
}
SPLITS = ("train", "validation", "test")
PROMPT_WORDS = 16
COMPLETION_WORDS = 24
MIN_ARTICLE_CHARS = 1000


def corpus_path(name: str) -> Path:
    """The corpus file inside the installed gensim package."""
    if name not in CORPORA:
        raise UserError(f"unknown built-in corpus {name!r}; use one of {sorted(CORPORA)}")
    try:
        from importlib.resources import files

        path = Path(str(files("gensim") / "test" / "test_data" / CORPORA[name]))
    except ModuleNotFoundError:
        raise UserError(
            f"the {name!r} corpus is read from the gensim package: pip install 'imitlm[text]' (or gensim)"
        ) from None
    if not path.exists():
        raise UserError(f"{path} is missing from the installed gensim; reinstall it: pip install 'imitlm[text]'")
    return path


def wiki_articles(path: Path) -> list[str]:
    """Cleaned main-namespace, non-redirect articles of a MediaWiki XML dump with at least MIN_ARTICLE_CHARS."""
    articles = []
    with bz2.open(path) as handle:
        for _, element in ET.iterparse(handle):
            if not element.tag.endswith("}page"):
                continue
            namespace = element.findtext("{*}ns")
            text = element.findtext("{*}revision/{*}text") or ""
            if namespace == "0" and element.find("{*}redirect") is None:
                prose = clean_wikitext(text)
                if len(prose) >= MIN_ARTICLE_CHARS:
                    articles.append(prose)
            element.clear()
    return articles


@lru_cache(maxsize=4)
def load_documents(name: str) -> tuple[str, ...]:
    """Every kept article of the named corpus, in file order, whitespace collapsed."""
    path = corpus_path(name)
    if name == "enwiki":
        return tuple(wiki_articles(path))
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(" ".join(line.split()) for line in lines if line.strip())


def split_of_document(text: str) -> str:
    """An article's split from its text alone: sha256 bucket 0 -> test, 1 -> validation, 2..9 -> train."""
    bucket = int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def split_documents(documents) -> dict[str, list[str]]:
    """``{split: [article, ...]}``; identical articles land in the same split."""
    splits: dict[str, list[str]] = {split: [] for split in SPLITS}
    for document in documents:
        splits[split_of_document(document)].append(document)
    return splits


def cut_document(
    text: str, prompt_words: int = PROMPT_WORDS, completion_words: int = COMPLETION_WORDS
) -> list[tuple[str, str]]:
    """(prompt, continuation) rows of one article; the continuation starts with a space (it follows the prompt).

    Example: words w1..w7 with prompt_words=2, completion_words=2 -> ("w1 w2", " w3 w4"), ("w3 w4", " w5 w6");
    the last two words, w7 alone, are too short for a full continuation and are dropped.
    """
    words = text.split()
    rows = []
    for start in range(prompt_words, len(words) - completion_words + 1, completion_words):
        prompt = " ".join(words[start - prompt_words : start])
        rows.append((prompt, " " + " ".join(words[start : start + completion_words])))
    return rows


def corpus_rows(name: str, split: str):
    """A `datasets.Dataset` of `prompt`/`completion` rows of one split of a built-in corpus."""
    import datasets

    if split not in SPLITS:
        raise UserError(f"the {name!r} corpus has splits {list(SPLITS)}, not {split!r}")
    documents = split_documents(load_documents(name))[split]
    rows = [row for document in documents for row in cut_document(document)]
    return datasets.Dataset.from_dict({"prompt": [p for p, _ in rows], "completion": [c for _, c in rows]})
