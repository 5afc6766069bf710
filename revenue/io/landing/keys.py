"""The one rule for keys in the landing zone, shared by listing, the SQS queue and a run
given a key or URI (``revenue.io.landing.zone``, ``revenue.io.landing.queue``), and by the
local store (``revenue.io.storage.LocalStore``).

A key is a path relative to the landing root (the landing block's folder) made of
``/``-separated names, each of them non-empty and neither ``.`` nor ``..``: so no absolute
key (``/etc/passwd``, ``landing//etc/passwd``), no way out of the root, no trailing ``/``.
It holds no control character (C0, DEL, C1, the Unicode line and paragraph separators) and
no undecodable byte (a local file name that is not UTF-8), and is at most
``MAX_KEY_BYTES`` bytes of UTF-8 (S3's own limit). Anything else is a ``LandingKeyError``
naming the key (its unprintable characters escaped) and the reason.

Decoding happens once, where a key arrives, and the rule applies to the decoded key:
an S3 notification's key is URL-encoded with ``+`` for a space (``unquote_plus``); a
URI is the store's own (``ObjectStore.uri``): ``s3://bucket/prefix/key`` carries the key
as it is, ``file:///root/key`` percent-encoded (``LocalStore.key_of`` decodes it); a bare
key is taken as it is.
"""

from __future__ import annotations

import logging
import threading
import unicodedata

from revenue.errors import DataError

log = logging.getLogger("revenue.io.landing.zone")

MAX_KEY_BYTES = 1024
_UNPRINTABLE = {"Cc", "Cs", "Zl", "Zp"}


class LandingKeyError(DataError):
    """A key that is not a file key under the landing root (or names no object there)."""


def shown(key: str) -> str:
    """``key`` as it can be printed: control characters, separators and undecodable bytes
    escaped (``\\x1b``, ``\\u2028``, ``\\udcff``), everything else as it is."""
    return "".join(
        ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        if unicodedata.category(ch) in _UNPRINTABLE
        else ch
        for ch in key
    )


def key_problem(key: str) -> str | None:
    """Why ``key`` breaks the rule (see the module), None when it keeps it."""
    if not key:
        return "an empty key"
    if key.startswith("/"):
        return "an absolute path"
    if any(unicodedata.category(ch) in _UNPRINTABLE for ch in key):
        if any(unicodedata.category(ch) == "Cs" for ch in key):
            return "a name that is not valid UTF-8"
        return "a control character"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return f"longer than {MAX_KEY_BYTES} bytes"
    parts = key.split("/")
    if "" in parts:
        return "an empty path segment ('//' or a trailing '/')"
    if "." in parts or ".." in parts:
        return "a '.' or '..' segment"
    return None


_reported: set[tuple[str, str]] = set()
_reported_lock = threading.Lock()
_REPORTED_MAX = 10_000


def skipped_once(location: str, key: str, why: str) -> None:
    """Log that a listing skipped ``key`` of ``location`` and why, once per process (the
    watcher lists every pass; a log line every 30 s would bury everything else)."""
    with _reported_lock:
        if (location, key) in _reported:
            return
        if len(_reported) < _REPORTED_MAX:
            _reported.add((location, key))
    log.warning("landing %s: skipped %s: %s", location, shown(key), why)
