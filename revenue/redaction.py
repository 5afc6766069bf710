"""Secrets out of text: the one helper for every message that may quote a URL or a setting
(errors of ``revenue blocks create``, a driver's reason for a failed connection, any line
the CLI prints). Imports nothing beyond the standard library."""

from __future__ import annotations

import re

_SECRETS = [
    # user:password@ in a URL, to the last @ of the word (a password may hold one); the
    # user, host and path stay: postgresql://user:***@host/db
    re.compile(r"(://[^:/@\s]*:)\S*@"),
    re.compile(r"(password\s*[=:]\s*)\S+", re.IGNORECASE),
    re.compile(r"(secret[_a-z]*\s*[=:]\s*)\S+", re.IGNORECASE),
]


def redact(text: str) -> str:
    """``text`` with every URL's password and anything labelled password or secret
    replaced by ``***``."""
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + "***" + ("@" if m.group(0).endswith("@") else ""), text)
    return text
