"""Object storage over either an ``S3Bucket`` or a ``LocalFileSystem`` block.

Keys are relative to the block's folder (``bucket_folder`` or ``basepath``). Local
writes are atomic (temporary file + rename) so a crash never leaves half a file.

A local store never follows a symbolic link: its keys keep the landing key rule
(``revenue.io.landing.keys``), listing skips links and anything that is not a regular file (a
FIFO would block a reader), logging each once, and ``get``/``head``/``put`` refuse a key
with a link on its path (``KeyRefused``: a ``LandingKeyError`` and an ``OSError``), so
nothing outside the root is read or written through one.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote_to_bytes

from revenue.io.landing.keys import LandingKeyError, key_problem, shown, skipped_once

if TYPE_CHECKING:  # Prefect is imported only where a block is turned into a store
    import io

    import boto3
    from prefect.filesystems import LocalFileSystem
    from prefect_aws.s3 import S3Bucket


class ObjectChanged(Exception):
    """The object under a key is no longer the version asked for (another ETag, or gone)."""

    def __init__(self, key: str, etag: str) -> None:
        super().__init__(f"{key}: no longer version {etag}")
        self.key, self.etag = key, etag


@dataclass(frozen=True)
class StoredObject:
    """One object: its key relative to the store, size in bytes, ETag and when it was last
    written (seconds since the epoch; 0 when the store did not say)."""

    key: str
    size: int
    etag: str
    modified: float = 0.0


class ObjectStore(Protocol):
    lists_from_a_key: bool
    """Whether ``list(start_after=...)`` skips the keys before it at the store (S3's
    ``StartAfter``) rather than after walking everything (a local directory)."""

    def put(self, key: str, data: bytes) -> StoredObject: ...
    def get(self, key: str, etag: str | None = None) -> bytes: ...
    def head(self, key: str) -> StoredObject | None: ...
    def list(self, prefix: str = "", start_after: str | None = None) -> list[StoredObject]:
        """Objects under ``prefix`` (sorted by key); with ``start_after``, only keys after it
        in UTF-8 byte order (S3's listing order)."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object under ``key``; nothing to remove is not an error."""
        ...

    def uri(self, key: str = "") -> str: ...
    def key_of(self, uri: str) -> str | None:
        """The key ``uri(key)`` was made from, decoded; None for a URI outside the store."""
        ...


class S3Store:
    """Objects under ``s3://bucket/bucket_folder/``."""

    lists_from_a_key = True

    @property
    def session(self) -> boto3.Session:
        """A boto3 session with the store's credentials (for its SQS notifications)."""
        return self.credentials.get_boto3_session()

    def __init__(self, block: S3Bucket) -> None:
        self.bucket = block.bucket_name
        self.folder = block.bucket_folder.strip("/")
        self._client = block.credentials.get_s3_client()
        self.credentials = block.credentials

    def _full(self, key: str) -> str:
        return f"{self.folder}/{key}" if self.folder else key

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.folder) + 1 :] if self.folder else full_key

    def put(self, key: str, data: bytes) -> StoredObject:
        response = self._client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data)
        return StoredObject(key=key, size=len(data), etag=response["ETag"].strip('"'))

    def get(self, key: str, etag: str | None = None) -> bytes:
        """The object's bytes; with ``etag``, only that version (else ``ObjectChanged``)."""
        from botocore.exceptions import ClientError

        conditions = {"IfMatch": f'"{etag}"'} if etag else {}
        try:
            body: bytes = self._client.get_object(Bucket=self.bucket, Key=self._full(key), **conditions)["Body"].read()
            return body
        except ClientError as error:
            gone = ("PreconditionFailed", "412", "NoSuchKey", "404")
            if etag and error.response.get("Error", {}).get("Code") in gone:
                raise ObjectChanged(key, etag) from None
            raise

    def head(self, key: str) -> StoredObject | None:
        from botocore.exceptions import ClientError

        try:
            meta = self._client.head_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return StoredObject(key=key, size=meta["ContentLength"], etag=meta["ETag"].strip('"'))

    def list(self, prefix: str = "", start_after: str | None = None) -> list[StoredObject]:
        paginator = self._client.get_paginator("list_objects_v2")
        found: list[StoredObject] = []
        after = {"StartAfter": self._full(start_after)} if start_after else {}
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._full(prefix), **after):
            for item in page.get("Contents", []):
                found.append(
                    StoredObject(
                        key=self._relative(item["Key"]),
                        size=item["Size"],
                        etag=item["ETag"].strip('"'),
                        modified=item["LastModified"].timestamp(),
                    )
                )
        return sorted(found, key=lambda o: o.key)

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._full(key))

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self._full(key)}".rstrip("/")

    def key_of(self, uri: str) -> str | None:
        """An S3 URI carries its key as it is (no decoding)."""
        root = self.uri() + "/"
        return uri[len(root) :] if uri.startswith(root) else None


class KeyRefused(LandingKeyError, OSError):
    """The local store refuses a key: it breaks the key rule, or a symbolic link or something
    other than a regular file is on its path. To a run given the key it is a
    ``LandingKeyError``; to a reader of a registered file, a file that cannot be read (an
    ``OSError``: recorded unreadable, never left pending)."""


class LocalStore:
    """Objects as regular files under a local directory (never through a symbolic link)."""

    lists_from_a_key = False

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root or ".").expanduser().resolve()

    def _path(self, key: str) -> Path:
        """The file of ``key``: the key keeps the rule, and no existing part of its path
        below the root is a symbolic link (``KeyRefused``)."""
        problem = key_problem(key)
        if problem is not None:
            raise KeyRefused(f"landed file {shown(key)}: not a file key under {self.uri()} ({problem})")
        path = self.root
        for part in key.split("/"):
            path = path / part
            if path.is_symlink():
                raise KeyRefused(f"landed file {shown(key)}: a symbolic link in the landing store, not followed")
        return path

    def put(self, key: str, data: bytes) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return StoredObject(key=key, size=len(data), etag=hashlib.md5(data).hexdigest())

    def get(self, key: str, etag: str | None = None) -> bytes:
        """The file's bytes; with ``etag`` (an MD5), only that version (else ``ObjectChanged``);
        ``KeyRefused`` for a link, a non-regular file or a key breaking the rule."""
        try:
            with _open_regular(self._path(key), key) as handle:
                data = handle.read()
        except (FileNotFoundError, NotADirectoryError):
            if etag:
                raise ObjectChanged(key, etag) from None
            raise
        if etag and hashlib.md5(data).hexdigest() != etag:
            raise ObjectChanged(key, etag)
        return data

    def head(self, key: str) -> StoredObject | None:
        """The file's size and MD5; None when there is no file (``KeyRefused`` for a link
        or a non-regular file)."""
        path = self._path(key)
        try:
            with _open_regular(path, key) as handle:
                size = os.fstat(handle.fileno()).st_size
                return StoredObject(key=key, size=size, etag=_md5_handle(handle))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def list(self, prefix: str = "", start_after: str | None = None) -> list[StoredObject]:
        """Regular files under ``prefix``; links and other non-regular entries are skipped
        (each logged once per process), never followed."""
        if not self.root.is_dir():
            return []
        found = []
        for key, info in self._walk(self.root, ""):
            if key.startswith(prefix) and (start_after is None or key > start_after):
                try:
                    with _open_regular(self.root / key, key) as handle:
                        etag = _md5_handle(handle)
                except (FileNotFoundError, KeyRefused):  # gone or replaced since it was listed
                    continue
                except OSError as error:
                    skipped_once(self.uri(), key, f"cannot be read ({type(error).__name__})")
                    continue
                found.append(StoredObject(key=key, size=info.st_size, etag=etag, modified=info.st_mtime))
        return sorted(found, key=lambda o: o.key)

    def _walk(self, directory: Path, relative: str) -> Iterator[tuple[str, os.stat_result]]:
        try:
            entries = list(os.scandir(directory))
        except OSError as error:
            if directory != self.root:  # an unreadable subdirectory never hides the others
                skipped_once(self.uri(), relative.rstrip("/"), f"cannot be listed ({type(error).__name__})")
                return
            raise
        for entry in entries:
            key = f"{relative}{entry.name}"
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # gone since it was listed
                continue
            if stat.S_ISLNK(info.st_mode):
                skipped_once(self.uri(), key, "a symbolic link: not followed")
            elif stat.S_ISDIR(info.st_mode):
                yield from self._walk(Path(entry.path), f"{key}/")
            elif not stat.S_ISREG(info.st_mode):
                skipped_once(self.uri(), key, "not a regular file")
            elif not entry.name.startswith(".tmp-"):
                yield key, info

    def delete(self, key: str) -> None:
        """Remove the file (never through a link: ``KeyRefused``)."""
        self._path(key).unlink(missing_ok=True)

    def uri(self, key: str = "") -> str:
        return (self.root / key).as_uri() if key else self.root.as_uri()

    def key_of(self, uri: str) -> str | None:
        """A ``file://`` URI is percent-encoded (``Path.as_uri``): decoded here, once."""
        root = self.uri() + "/"
        if not uri.startswith(root):
            return None
        return os.fsdecode(unquote_to_bytes(uri[len(root) :]))


class _open_regular:
    """Open a file for reading without following a final symbolic link (``O_NOFOLLOW``)
    and only if it is a regular file (``KeyRefused`` otherwise)."""

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.key = path, key

    def __enter__(self) -> io.BufferedReader:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self.path, flags)
        except OSError:
            if os.path.islink(self.path):  # it became a link since ``_path`` looked
                raise KeyRefused(
                    f"landed file {shown(self.key)}: a symbolic link in the landing store, not followed"
                ) from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise KeyRefused(f"landed file {shown(self.key)}: not a regular file")
        self.handle = os.fdopen(fd, "rb")
        return self.handle

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def _md5_handle(handle: io.BufferedReader) -> str:
    digest = hashlib.md5()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def ensure_container(store: ObjectStore) -> bool:
    """Create the store's bucket (S3) or directory (local) if missing; whether it did."""
    if isinstance(store, S3Store):
        from botocore.exceptions import ClientError

        try:
            store._client.head_bucket(Bucket=store.bucket)
            return False
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
        region = store._client.meta.region_name
        location = (
            {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        store._client.create_bucket(Bucket=store.bucket, **location)
        return True
    if isinstance(store, LocalStore):
        existed = store.root.is_dir()
        store.root.mkdir(parents=True, exist_ok=True)
        return not existed
    raise TypeError(f"unsupported store {type(store).__name__}")


def object_store(block: S3Bucket | LocalFileSystem) -> S3Store | LocalStore:
    """The store for a lake, results or landing block."""
    from prefect.filesystems import LocalFileSystem
    from prefect_aws.s3 import S3Bucket

    if isinstance(block, S3Bucket):
        return S3Store(block)
    if isinstance(block, LocalFileSystem):
        if not block.basepath:
            raise TypeError("a LocalFileSystem block without a basepath cannot be a store")
        return LocalStore(block.basepath)
    raise TypeError(f"unsupported storage block {type(block).__name__}")
