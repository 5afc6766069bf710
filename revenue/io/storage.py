"""Object storage over either an ``S3Bucket`` or a ``LocalFileSystem`` block.

Keys are relative to the block's folder (``bucket_folder`` or ``basepath``). Local
writes are atomic (temporary file + rename) so a crash never leaves half a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # Prefect is imported only where a block is turned into a store
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

    def uri(self, key: str = "") -> str: ...


class S3Store:
    """Objects under ``s3://bucket/bucket_folder/``."""

    lists_from_a_key = True

    @property
    def session(self):
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
            return self._client.get_object(Bucket=self.bucket, Key=self._full(key), **conditions)["Body"].read()
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

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self._full(key)}".rstrip("/")


class LocalStore:
    """Objects as files under a local directory."""

    lists_from_a_key = False

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root or ".").expanduser().resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root != path and self.root not in path.parents:
            raise ValueError(f"key {key!r} escapes the store root")
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
        """The file's bytes; with ``etag`` (an MD5), only that version (else ``ObjectChanged``)."""
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            if etag:
                raise ObjectChanged(key, etag) from None
            raise
        if etag and hashlib.md5(data).hexdigest() != etag:
            raise ObjectChanged(key, etag)
        return data

    def head(self, key: str) -> StoredObject | None:
        path = self._path(key)
        if not path.is_file():
            return None
        return StoredObject(key=key, size=path.stat().st_size, etag=_md5_file(path))

    def list(self, prefix: str = "", start_after: str | None = None) -> list[StoredObject]:
        if not self.root.exists():
            return []
        found = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and (start_after is None or key > start_after):
                    stat = path.stat()
                    found.append(StoredObject(key=key, size=stat.st_size, etag=_md5_file(path), modified=stat.st_mtime))
        return sorted(found, key=lambda o: o.key)

    def uri(self, key: str = "") -> str:
        return (self.root / key).as_uri() if key else self.root.as_uri()


def _md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
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
