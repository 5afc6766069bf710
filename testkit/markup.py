"""Markdown as a browser gets it from the Prefect UI, for tests that check what a landed
file's name becomes: rendered by a CommonMark parser with GFM tables and raw HTML allowed
(``markdown-it-py``; both Prefect UIs let HTML through their renderers), then read back as
elements and text."""

from __future__ import annotations

from collections.abc import Iterable
from html.parser import HTMLParser

from markdown_it import MarkdownIt

OURS = frozenset({"p", "h1", "h2", "h3", "strong", "em", "code", "hr", "table", "thead", "tbody", "tr", "th", "td"})
"""The elements the pipeline's own markdown makes (links are checked by address)."""


class Rendered(HTMLParser):
    """The elements and the text of rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.pieces: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.pieces.append(data)

    @property
    def text(self) -> str:
        """The visible text, whitespace runs as one space."""
        return " ".join(" ".join(self.pieces).split())

    def links(self) -> tuple[str | None, ...]:
        return tuple(attrs.get("href") for tag, attrs in self.tags if tag == "a")


def rendered(markdown: str) -> Rendered:
    page = Rendered()
    page.feed(MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown))
    return page


def assert_only_our_markup(markdown: str, shown: str, links: Iterable[str] = ()) -> Rendered:
    """``markdown`` renders no element the pipeline does not make (no image, no script, no
    HTML from a name), its links are exactly ``links``, and ``shown`` reads as itself."""
    page = rendered(markdown)
    links = tuple(links)
    kinds = {tag for tag, _ in page.tags}
    assert kinds <= OURS | ({"a"} if links else set()), (kinds - OURS, markdown)
    assert page.links() == links, (page.links(), markdown)
    assert shown in page.text, (shown, page.text)
    return page
