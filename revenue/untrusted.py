"""Text from outside the pipeline, shown as text: in markdown, in alerts, in run names and
on a terminal.

Untrusted: everything a landing zone or a source table supplies (a landed file's key and
name, its values, an error message that quotes them) and everything read back from a
shared service (flow run and worker names). A file named ``<img src=x>.csv``,
``![t](http://evil/x.png).csv``, ``a](javascript:alert(1)).csv`` or ``<!channel>.csv`` must
read as that name, never become an image, a link, a mention or a terminal command.

- ``markdown_text``: for every markdown the pipeline writes (artifacts, their descriptions).
  Both Prefect UIs parse it as GitHub-flavoured markdown with raw HTML allowed (the V1 UI
  with ``marked`` and DOMPurify, the V2 UI with ``react-markdown``, ``rehype-raw`` and
  ``rehype-sanitize``: both keep ``<img src=http://...>``), so every character that can
  start markup is backslash-escaped (an escaped character is shown as itself by any
  CommonMark renderer), line breaks become spaces and control characters are shown as
  ``\\xNN``. ``markdown_link`` is the only way a link is made: its text escaped, its
  address the pipeline's own.
- ``alert_text``: for what goes into an alert's event (Slack's rules: ``&`` ``<`` ``>`` as
  entities, so no ``<!channel>``, ``<@U...>`` or ``<url|label>``; no markdown link) and cut
  to ``ALERT_CHARS`` with a pointer to the run, which has the whole text.
- ``run_name_text``: the part of a run name a file supplies, percent-encoded outside the
  characters of ordinary file names, so a run name carries no markup wherever it is shown
  (Prefect's own notifications template run names as they are).
- ``terminal_text``: for what the CLI prints: no escape sequence reaches the terminal.

Pure functions, no Prefect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import quote

ALERT_CHARS = 500
"""An alert carries at most this much of a cause (about; the escapes come on top); the run
has it whole."""
RUN_NAME_CHARS = 80
"""The most of a file's name a run name carries (Prefect shows run names on one line)."""

_INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
"""Zero-width and bidirectional-override characters: they hide or reorder what is shown."""
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + _INVISIBLE + "]")
"""Every character that is not text, but a tab and a newline (which ``one_line`` turns
into spaces)."""
_BREAKS = re.compile("[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")
_MARKDOWN_SPECIAL = frozenset("\\`*_[]()!<>&|#~")
_FILE_NAME_CHARS = frozenset("-_.~+=,@ ")


def visible(char: str) -> str:
    """A control or invisible character as its escape: ``\\x1b``, ``\\u202e``."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: object) -> str:
    """``text`` safe to print: newlines and tabs kept, every other control character
    (ESC of an ANSI or OSC sequence, BEL, CR, backspace, C1) and every invisible or
    bidirectional character shown as its escape, so nothing can move the cursor, clear the
    screen, retitle the window or write the clipboard."""
    return _CONTROL.sub(lambda m: visible(m.group()), str(text).replace("\r", "\\r"))


def one_line(text: object) -> str:
    """``text`` on one line: line breaks and runs of whitespace as one space, other control
    and invisible characters shown as their escapes."""
    flat = _CONTROL.sub(lambda m: visible(m.group()), _BREAKS.sub(" ", str(text)))
    return re.sub(" {2,}", " ", flat).strip()


def cut(text: str, limit: int | None) -> str:
    """``text`` at most ``limit`` characters, ``…`` where it was cut."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def markdown_text(text: object, limit: int | None = None) -> str:
    """``text`` as markdown that renders as exactly that text, on one line (cut to
    ``limit`` characters of the text first): every character that can start markup or
    HTML (``\\ ` * _ [ ] ( ) ! < > & | # ~``) backslash-escaped, but an ``_`` inside a word
    (it never emphasises there, and file names are full of them)."""
    flat = cut(one_line(text), limit)
    out = []
    for i, char in enumerate(flat):
        if char == "_" and 0 < i < len(flat) - 1 and flat[i - 1].isalnum() and flat[i + 1].isalnum():
            out.append(char)
        elif char in _MARKDOWN_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def markdown_code(text: object, limit: int | None = None) -> str:
    """``text`` as an inline code span inside a markdown table cell (shown verbatim, in a
    monospace font), or as ``markdown_text`` where a code span cannot hold it: a code span
    takes no escapes, so a backslash before a pipe would end the cell."""
    flat = cut(one_line(text), limit)
    if "\\" in flat and "|" in flat:
        return markdown_text(flat)
    runs = [len(run) for run in re.findall("`+", flat)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    escaped = flat.replace("|", "\\|")
    return f"{fence}{pad}{escaped}{pad}{fence}"


_URL_SAFE = ":/?#=&%@+,;~-._!$*'"
"""What an address keeps as it is in a link (parentheses, spaces, brackets are encoded)."""
_SAFE_URL = re.compile(r"^(https?://[^\s]+|/[^\s]*)$", re.IGNORECASE)


def markdown_link(text: object, url: str | None) -> str:
    """A link the pipeline makes (to a flow run), ``text`` its label: the address must be
    ``http(s)://`` or a path (else there is no link, only the text). A label that would need
    escaping (a name with markup in it) is shown as escaped text next to a link labelled
    ``open``, never inside one: it cannot end the link or add one, and the V1 UI, which
    shows a link's label as its raw source, shows no backslashes."""
    flat, label = one_line(text), markdown_text(text)
    if not url or not _SAFE_URL.match(url):
        return label
    address = quote(url, safe=_URL_SAFE)
    if label == flat and flat:
        return f"[{label}]({address})"
    return f"{label} ([open]({address}))"


def markdown_table(rows: Sequence[Mapping[str, object]], limit: int | None = 200) -> str:
    """Rows of untrusted values as a markdown table, every cell escaped (``None`` empty)."""
    if not rows:
        return "nothing to show\n"
    columns = list(rows[0])
    lines = ["| " + " | ".join(markdown_text(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = ("" if row.get(c) is None else markdown_text(row.get(c), limit) for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_name_text(text: object, limit: int = RUN_NAME_CHARS) -> str:
    """A file name as a run name carries it: letters, digits and ``- _ . ~ + = , @`` and
    spaces as they are, any other character percent-encoded (``<`` is ``%3C``), at most
    ``limit`` characters of the name."""
    flat = " ".join(str(text).split())
    kept = "".join(
        char if (char.isalnum() and char.isprintable()) or char in _FILE_NAME_CHARS else quote(char, safe="")
        for char in flat[:limit]
    )
    return kept + ("…" if len(flat) > limit else "")


def alert_text(text: object, run_url: str = "", limit: int = ALERT_CHARS) -> str:
    """``text`` for an alert message: on one line, at most ``limit`` characters (then
    ``… (full text on the run: <its URL>)``), ``&`` ``<`` ``>`` as ``&amp;`` ``&lt;``
    ``&gt;`` (Slack's escapes: no mention, no ``<url|label>`` link; the apprise library
    behind Prefect's Slack block escapes again, so Slack shows them literally) and a
    markdown link broken (``] (``)."""
    flat = re.sub(r"\]\s*\(", "] (", one_line(text))
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "… (full text on the run" + (f": {run_url}" if run_url else "") + ")"
    return _slack_escape(flat)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
