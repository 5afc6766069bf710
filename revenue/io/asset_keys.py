"""Prefect asset keys from URIs: the one rule for every key the pipeline's asset events name
(a landed file, a warehouse or source table, a lake folder).

Prefect (``prefect.types.names.validate_valid_asset_key``) accepts a key that starts with a
lowercase ``scheme://``, holds none of ``RESTRICTED_ASSET_CHARACTERS`` (space, ``%``, ``#``,
``?``, ``&``, quotes, brackets, ``|``, ``\\``, ``^``, a backtick, tab, newline, NUL) and is at
most ``MAX_ASSET_KEY_LENGTH`` (512) characters. A landed file's URI breaks that easily: an S3
URI carries its key as it is (``s3://bucket/landing/orders 2026.csv``) and a ``file://`` URI
is percent-encoded (``file:///landing/orders%202026.csv``).

:func:`asset_key` makes the same valid key from the same URI every time: it percent-decodes
the URI (so a file's ``s3://`` and ``file://`` URIs read alike), turns every restricted or
unprintable character into ``_``, keeps any other character (unicode included), and cuts a
key longer than Prefect's limit, ending it with ``~`` and a hash of the whole URI so two long
URIs stay two keys. Two URIs that differ only in restricted characters (``a b.csv``,
``a_b.csv``) share a key: asset keys name lineage, they are not the files' addresses.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import unquote

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9]*)://")
_UNPRINTABLE = frozenset({"Cc", "Cs", "Zl", "Zp"})
"""Control characters, lone surrogates (a file name that is not UTF-8), line and paragraph
separators."""
_HASH_CHARS = 16


def asset_key(uri: str) -> str:
    """The Prefect asset key of ``uri``: valid, and the same for the same URI.

    Raises:
        ValueError: ``uri`` does not start with ``scheme://`` (letters and digits).
    """
    # Prefect's own rule, imported here: revenue.stages (and so this module) imports without Prefect.
    from prefect.types.names import MAX_ASSET_KEY_LENGTH, RESTRICTED_ASSET_CHARACTERS

    match = _SCHEME.match(uri)
    if match is None:
        raise ValueError(f"not a URI with a scheme: {uri[:80]!r}")
    decoded = unquote(uri[match.end() :], errors="surrogateescape")
    rest = "".join("_" if ch in RESTRICTED_ASSET_CHARACTERS or _unprintable(ch) else ch for ch in decoded)
    key = f"{match.group(1).lower()}://{rest}"
    if len(key) <= MAX_ASSET_KEY_LENGTH:
        return key
    digest = hashlib.sha256(uri.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    return f"{key[: MAX_ASSET_KEY_LENGTH - _HASH_CHARS - 1]}~{digest}"


def _unprintable(character: str) -> bool:
    return unicodedata.category(character) in _UNPRINTABLE
