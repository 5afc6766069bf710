"""The one rule for landing keys, on a real local directory (no Prefect, no database):
resolving a key or URI, listing, and the local store's refusal of symbolic links."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from revenue.io.landing.zone import LandingKeyError, listed_files, resolve_landed
from revenue.io.storage import LocalStore

CSV = b"order_id,customer_id,amount,order_date\n1,c,1.00,2026-03-05T10:00:00Z\n"


@pytest.fixture
def landing(tmp_path: Path) -> LocalStore:
    root = tmp_path / "landing"
    root.mkdir()
    return LocalStore(root)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.csv"
    secret.write_bytes(CSV)
    return secret


def test_a_file_uri_with_a_space_resolves_to_its_key(landing: LocalStore):
    """The event's resource id of a local file is its ``file://`` URI, percent-encoded;
    resolving it must decode it (it used to look for ``my%2520orders.csv``)."""
    landing.put("my orders.csv", CSV)
    landing.put("100%/a+b.csv", CSV)
    for key in ("my orders.csv", "100%/a+b.csv"):
        uri = landing.uri(key)
        resolved = resolve_landed(landing, uri)
        assert (resolved.key, resolved.uri) == (key, uri)
        assert resolve_landed(landing, key).uri == uri  # a bare key is taken as it is


@pytest.mark.parametrize(
    ("suffix", "reason"),
    [
        ("//etc/passwd", "an absolute path"),
        ("/a//b.csv", "an empty path segment"),
        ("/a/../../x.csv", "'..'"),
        ("/./x.csv", "'.'"),
        ("/x%1B%5B2J.csv", "a control character"),
        ("/x%0A.csv", "a control character"),
    ],
)
def test_a_uri_breaking_the_key_rule_is_a_clean_landing_key_error(landing: LocalStore, suffix: str, reason: str):
    uri = landing.uri() + suffix
    with pytest.raises(LandingKeyError) as refused:
        resolve_landed(landing, uri)
    assert "not a file key under the landing prefix" in str(refused.value)
    assert reason in str(refused.value)
    assert uri in str(refused.value)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("a//b.csv", "an empty path segment"),
        ("../x.csv", "'..'"),
        ("a/./b.csv", "'.'"),
        ("x\x1b]52;c;aGk=\x07.csv", "a control character"),
        ("x" * 1100, "longer than 1024 bytes"),
        ("_errors/x.csv", "reserved"),
    ],
)
def test_a_bare_key_breaking_the_rule_is_refused_and_named_printably(landing: LocalStore, key: str, reason: str):
    with pytest.raises(LandingKeyError) as refused:
        resolve_landed(landing, key)
    message = str(refused.value)
    assert reason in message
    assert "\x1b" not in message and "\x07" not in message
    if "\x1b" in key:
        assert "x\\x1b]52;c;aGk=\\x07.csv" in message


def test_a_symlink_out_of_the_root_is_never_followed(landing: LocalStore, outside: Path, caplog):
    landing.put("real.csv", CSV)
    (landing.root / "link.csv").symlink_to(outside)
    (landing.root / "linked-dir").symlink_to(outside.parent, target_is_directory=True)
    fifo = landing.root / "pipe.csv"
    os.mkfifo(fifo)
    with caplog.at_level(logging.WARNING):
        assert [f.key for f in listed_files(landing)] == ["real.csv"]
        assert [f.key for f in listed_files(landing)] == ["real.csv"]
    warned = [r.getMessage() for r in caplog.records if "link.csv" in r.getMessage()]
    assert len(warned) == 1 and "symbolic link" in warned[0]  # once, naming it
    for key in ("link.csv", "linked-dir/secret.csv"):
        with pytest.raises(LandingKeyError, match="symbolic link"):
            resolve_landed(landing, key)
        with pytest.raises(LandingKeyError, match="symbolic link"):
            landing.head(key)
        with pytest.raises(LandingKeyError, match="symbolic link"):
            landing.get(key)
        with pytest.raises(OSError, match="symbolic link"):  # to a reader: a file that cannot be read
            landing.get(key, etag="0" * 32)
    with pytest.raises(LandingKeyError, match="not a regular file"):
        resolve_landed(landing, "pipe.csv")
