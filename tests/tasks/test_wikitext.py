"""The wikitext cleaner on hand-written markup: what is kept and what goes (tasks/wikitext.py)."""

from imitlm.tasks.wikitext import clean_wikitext

ARTICLE = """{{Infobox city|name=Paris|population={{formatnum:2148000}}}}
'''Paris''' ({{IPA|paʁi}}) is the [[capital city|capital]] of [[France]].<ref name="a">{{cite web|url=x}}</ref> It is \
''large''.<ref name="b"/> <!-- a comment -->
[[File:Eiffel.jpg|thumb|The [[Eiffel Tower]] at night]]
{| class="wikitable"
|-
| a || b {{x}}
|}

== History ==
The city grew on the [[Seine]]; see [http://example.org the site] and [http://bare.org].
* a list item
: an indented line
[[Category:Capitals]]
[[fr:Paris]]

== References ==
Everything here is dropped.
"""


def test_cleaner_keeps_prose_and_drops_markup():
    assert clean_wikitext(ARTICLE) == (
        "Paris is the capital of France. It is large. The city grew on the Seine; see the site and."
    )


def test_cleaner_docstring_example_and_nested_tables():
    text = "{{Infobox|a={{b}}}}'''Paris''' is the [[capital city|capital]] of [[France]].<ref>x</ref>"
    assert clean_wikitext(text) == "Paris is the capital of France."
    nested = "Before.\n{|\n| outer\n{|\n| inner\n|}\n|}\nAfter &amp; more."
    assert clean_wikitext(nested) == "Before. After & more."
