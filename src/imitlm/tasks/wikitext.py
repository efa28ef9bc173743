"""Wikitext (MediaWiki markup) -> plain prose, for the `enwiki` corpus (`tasks/corpora.py`).

Kept: the running text of paragraphs, with link labels and the words inside bold/italic quotes.
Dropped: templates ``{{...}}`` (infoboxes, citations), tables ``{| ... |}``, ``<ref>`` footnotes, comments, files,
images and categories, headings, list/indented/table lines, and everything from the first "References",
"See also", "Notes", "Further reading" or "External links" heading on. A small regex cleaner, not a parser:
nested templates and links are removed innermost first, so the usual nesting is handled.

Example::

    >>> clean_wikitext("{{Infobox|a={{b}}}}'''Paris''' is the [[capital city|capital]] of [[France]].<ref>x</ref>")
    'Paris is the capital of France.'
"""

from __future__ import annotations

import html
import re

COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
REF = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.DOTALL | re.IGNORECASE)
INNER_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")  # a template with no template inside
INNER_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\|\}", re.DOTALL)  # a table with no table inside
INNER_LINK = re.compile(r"\[\[([^\[\]]*)\]\]")
EXTERNAL_LINK = re.compile(r"\[(?:https?|ftp)://[^\s\]]*\s*([^\]]*)\]")
HEADING = re.compile(r"^(=+)\s*(.*?)\s*\1\s*$", re.MULTILINE)
TAG = re.compile(r"<[^>]+>")
QUOTES = re.compile(r"'{2,}")
EMPTY_PARENTHESES = re.compile(r"\s*\(\W*\)")
DROPPED_NAMESPACES = ("file:", "image:", "category:", "media:")
END_SECTIONS = ("references", "see also", "notes", "further reading", "external links", "bibliography", "sources")


def remove_nested(pattern: re.Pattern, text: str) -> str:
    """Remove innermost matches until none is left (so nested structures go from the inside out)."""
    while True:
        text, count = pattern.subn("", text)
        if not count:
            return text


def link_label(match: re.Match) -> str:
    """``[[target|label]]`` -> label, ``[[target]]`` -> target; files, categories and interwiki links -> nothing."""
    inner = match.group(1)
    target = inner.split("|", 1)[0].strip().lower()
    if target.startswith(DROPPED_NAMESPACES) or re.match(r"^[a-z-]{2,12}:", target):
        return ""
    return inner.rsplit("|", 1)[-1]


def clean_wikitext(text: str) -> str:
    """Plain prose of one article's wikitext (see the module docstring for what is kept); paragraphs joined by
    single spaces, whitespace collapsed."""
    text = html.unescape(text)
    text = COMMENT.sub("", text)
    text = REF.sub("", text)
    text = remove_nested(INNER_TEMPLATE, text)
    text = remove_nested(INNER_TABLE, text)
    while True:  # links, innermost first: a file caption's inner links become words, then the file goes
        text, count = INNER_LINK.subn(link_label, text)
        if not count:
            break
    text = EXTERNAL_LINK.sub(lambda m: m.group(1), text)
    for heading in HEADING.finditer(text):
        if heading.group(2).strip().lower() in END_SECTIONS:
            text = text[: heading.start()]
            break
    text = HEADING.sub("", text)
    text = TAG.sub("", text)
    text = QUOTES.sub("", text)
    paragraphs = [line.strip() for line in text.splitlines()]
    # list items, indented lines, table or template leftovers, redirects: not running prose
    prose = [line for line in paragraphs if line and not line.startswith(("*", "#", ":", ";", "|", "!", "{", "}"))]
    text = EMPTY_PARENTHESES.sub("", " ".join(prose))  # what held only a removed template: "Albedo ({{IPAc-en|...}})"
    return re.sub(r"\s+([,.;:])", r"\1", re.sub(r"\s+", " ", text)).strip()
