"""The built-in offline corpora (tasks/corpora.py): no article in two splits, the prompt/continuation cut, and the
one-line errors when a name is unknown or gensim is missing."""

import importlib.resources
import importlib.util

import pytest

from imitlm.errors import UserError
from imitlm.tasks.corpora import SPLITS, corpus_path, cut_document, split_documents, split_of_document
from imitlm.tasks.text import load_raw_dataset

needs_gensim = pytest.mark.skipif(
    importlib.util.find_spec("gensim") is None, reason="the text corpora need gensim: pip install 'imitlm[text]'"
)


def test_cut_document_hand_example():
    rows = cut_document("w1 w2 w3 w4 w5 w6 w7", prompt_words=2, completion_words=2)
    assert rows == [("w1 w2", " w3 w4"), ("w3 w4", " w5 w6")]
    assert cut_document("too short", prompt_words=2, completion_words=2) == []


def test_splits_are_by_article_and_deterministic():
    documents = [f"article number {i} about something" for i in range(200)] * 2  # duplicates included
    splits = split_documents(documents)
    assert sum(map(len, splits.values())) == len(documents)
    for split, members in splits.items():
        assert all(split_of_document(d) == split for d in members)
    assert not set(splits["train"]) & set(splits["test"]) and not set(splits["train"]) & set(splits["validation"])
    assert all(splits[s] for s in SPLITS)  # 200 distinct articles reach every split


@needs_gensim
def test_lee_corpus_rows_never_share_an_article():
    from imitlm.tasks.corpora import load_documents

    documents = load_documents("lee")
    assert len(documents) == 300
    splits = split_documents(documents)
    article_sets = [set(splits[s]) for s in SPLITS]
    assert sum(map(len, article_sets)) == len(set(documents))
    assert all(not a & b for i, a in enumerate(article_sets) for b in article_sets[i + 1 :])
    test_rows = load_raw_dataset("lee", "test")  # the hook: `--dataset_name lee`
    test_text = " ".join(splits["test"])
    train_text = " ".join(splits["train"])
    assert all(row["prompt"] + row["completion"] in test_text for row in test_rows.select(range(20)))
    assert not any(row["prompt"] + row["completion"] in train_text for row in test_rows.select(range(20)))


def test_unknown_corpus_and_missing_gensim_are_one_line_errors(monkeypatch):
    with pytest.raises(UserError, match="unknown built-in corpus"):
        corpus_path("lea")
    with pytest.raises(UserError, match="did you mean the built-in corpus 'enwiki'"):
        load_raw_dataset("enwik", "train")  # a typo is not sent to the hub

    def no_gensim(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(importlib.resources, "files", no_gensim)
    with pytest.raises(UserError, match=r"pip install 'imitlm\[text\]'"):
        corpus_path("lee")
