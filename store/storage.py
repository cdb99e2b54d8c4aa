"""Where the documents live: one small interface, two backends, chosen by `CMO_FILES_URL`.

- a local folder (`program-files`, `/srv/cmo/files` or `file:///srv/cmo/files`): fine for one machine;
- an S3-compatible bucket (`s3://bucket/prefix`, on AWS or any store behind `CMO_S3_ENDPOINT_URL`):
  what several replicas share. Credentials come from boto3's usual chain (`AWS_ACCESS_KEY_ID`, …).

GMP records are kept unaltered for years, so the interface has no overwrite and no delete: `put_new`
writes a key only if it is free (a new version is a new key) and says whether it did. Everything the bot
reads back goes through `store.filing.read_document`, which checks the SHA-256 recorded at filing.

A store that cannot be reached raises `StoreUnavailable` (a domain error the person sees, with nothing
changed) and counts in the `cmo_storage_errors_total` metric.
"""

from __future__ import annotations

import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from prometheus_client import Counter

from store.errors import DomainError, Invalid

STORAGE_ERRORS = Counter("cmo_storage_errors_total", "Document store operations that failed (unreachable, "
                         "refused, missing or altered documents)", ["operation"])
_BUCKET_NAME = r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"


class StoreUnavailable(DomainError):
    """The document store did not answer or refused the request; nothing was filed or read."""


class Store(ABC):
    """Keys are relative POSIX paths such as `ACME-001/agreements/QA-1-signed.pdf`."""

    url: str

    @abstractmethod
    def put_new(self, key: str, content: bytes) -> bool:
        """Write `content` under `key` if nothing is there yet; False (and nothing written) if taken."""

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The bytes under `key`, or None when there is no such object."""

    @abstractmethod
    def keys(self) -> Iterator[str]:
        """Every key in the store (for moving an installation)."""

    def __str__(self) -> str:
        return self.url


class LocalStore(Store):
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        path = self.root / PurePosixPath(key)
        if self.root.resolve() not in path.resolve().parents:
            raise Invalid("That document name is not allowed.")
        return path

    def put_new(self, key: str, content: bytes) -> bool:
        """Written in full to a temporary file first, then linked under its name only if that is free (an
        atomic step, also on NFS): nobody ever reads half a document, and a taken name is never replaced."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".incoming-", delete=False) as staged:
                staged.write(content)
                staged.flush()
                os.fsync(staged.fileno())
            try:
                os.link(staged.name, path)
            except FileExistsError:
                return False
            finally:
                os.unlink(staged.name)
        except OSError as exc:
            raise _failed("put", f"the document folder {self.url} cannot be written ({exc.strerror})") from None
        return True

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _failed("get", f"the document folder {self.url} cannot be read ({exc.strerror})") from None

    def keys(self) -> Iterator[str]:
        if self.root.is_dir():
            for path in sorted(self.root.rglob("*")):
                if path.is_file() and not path.name.startswith(".incoming-"):
                    yield path.relative_to(self.root).as_posix()


class S3Store(Store):
    """A bucket (and optional prefix) on any S3-compatible store, through boto3."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, region: str | None = None,
                 client=None):
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}))

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_new(self, key: str, content: bytes) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if self._exists(key):
                return False
            # If-None-Match makes the write itself refuse a taken key (two replicas filing the same name at once).
            self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=content, IfNoneMatch="*")
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise _failed("put", f"the document store {self.url} refused the write ({_code(exc)})") from None
        except BotoCoreError as exc:
            raise _failed("put", f"the document store {self.url} is not answering ({type(exc).__name__})") from None
        return True

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _failed("get", f"the document store {self.url} refused the read ({_code(exc)})") from None
        except BotoCoreError as exc:
            raise _failed("get", f"the document store {self.url} is not answering ({type(exc).__name__})") from None

    def keys(self) -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        start = f"{self.prefix}/" if self.prefix else ""
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    yield item["Key"][len(start):]
        except (BotoCoreError, ClientError) as exc:
            raise _failed("list", f"the document store {self.url} cannot be listed ({type(exc).__name__})") from None


def _code(exc) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _failed(operation: str, what: str) -> StoreUnavailable:
    STORAGE_ERRORS.labels(operation).inc()
    return StoreUnavailable(f"Documents cannot be reached right now: {what}. Nothing was changed; try again shortly.")


def check_url(url: str) -> str:
    """The URL as given, or ValueError saying which forms are accepted (used by the settings)."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not re.match(_BUCKET_NAME, parsed.netloc):
            raise ValueError(f"{url!r} does not name a bucket: write s3://bucket/prefix")
    elif parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost") or not parsed.path:
            raise ValueError(f"{url!r} is not a local folder URL: write file:///absolute/folder")
    elif len(parsed.scheme) > 1:  # one letter: a Windows drive, i.e. a plain path
        raise ValueError(f"{url!r}: use a folder path, file:///folder or s3://bucket/prefix")
    elif not url.strip():
        raise ValueError("is empty: use a folder path, file:///folder or s3://bucket/prefix")
    return url


def open_store(url: str, *, endpoint_url: str | None = None, region: str | None = None) -> Store:
    """The store a `CMO_FILES_URL` names (already checked by the settings)."""
    parsed = urlparse(check_url(url))
    if parsed.scheme == "s3":
        return S3Store(parsed.netloc, unquote(parsed.path), endpoint_url=endpoint_url, region=region)
    if parsed.scheme == "file":
        return LocalStore(unquote(parsed.path))
    return LocalStore(url)
