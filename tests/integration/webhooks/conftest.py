"""Webhook fixtures: the processing demo (the four-stage flow published, the app served, an arq worker on
PostgreSQL) and fake subscribers on local ports that check what real ones check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.processing.conftest import demo, demo_data, server, settings, worker

__all__ = ["demo", "demo_data", "server", "settings", "worker"]

#: How far a receiver lets a delivery's timestamp be from its own clock.
TOLERANCE_SECONDS = 300


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeServer:
    """A local HTTP endpoint: every POST it got, and what it answers (changed by the test)."""

    port: int = 0
    status: int = 200
    answer: str = "ok"
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def respond(self, request: Received) -> tuple[int, str]:
        return self.status, self.answer


class FakeSubscriber(FakeServer):
    """An integrator's endpoint that verifies ``X-Ruleflow-Signature`` (HMAC of ``timestamp.body`` with its
    secret) and a fresh ``X-Ruleflow-Timestamp`` before it takes a delivery, as a receiver should."""

    secret: str = ""

    def respond(self, request: Received) -> tuple[int, str]:
        timestamp = request.headers.get("x-ruleflow-timestamp", "")
        expected = (
            "sha256="
            + hmac.new(self.secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers.get("x-ruleflow-signature", "")):
            return 401, "bad signature"
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
            return 401, "stale timestamp"
        return self.status, self.answer


class FakeDingTalk(FakeServer):
    """A 钉钉 custom robot with 加签: it takes a message only with its access token, a timestamp (ms) within an
    hour and ``sign`` = base64 HMAC-SHA256 of ``timestamp\\nsecret``; it answers 200 with an ``errcode``."""

    token: str = "robot-token"
    secret: str = "SECrobot"

    def respond(self, request: Received) -> tuple[int, str]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}
        timestamp = query.get("timestamp", "")
        expected = base64.b64encode(
            hmac.new(self.secret.encode(), f"{timestamp}\n{self.secret}".encode(), hashlib.sha256).digest()
        ).decode()
        if query.get("access_token") != self.token:
            return 200, json.dumps({"errcode": 300001, "errmsg": "token is not exist"})
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 3_600_000:
            return 200, json.dumps({"errcode": 310000, "errmsg": "invalid timestamp"})
        if not hmac.compare_digest(expected, query.get("sign", "")):
            return 200, json.dumps({"errcode": 310000, "errmsg": "sign not match"})
        message = request.json
        if message.get("msgtype") != "text" or not message.get("text", {}).get("content"):
            return 200, json.dumps({"errcode": 40035, "errmsg": "invalid msgtype or content"})
        return 200, json.dumps({"errcode": 0, "errmsg": "ok"})


class FakeWeCom(FakeServer):
    """A 企业微信 group robot: it takes a text message at ``send?key=<its key>`` and answers 200 with an ``errcode``."""

    key: str = "wecom-key"

    def respond(self, request: Received) -> tuple[int, str]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}
        if query.get("key") != self.key:
            return 200, json.dumps({"errcode": 93000, "errmsg": "invalid webhook url"})
        message = request.json
        if message.get("msgtype") != "text" or not message.get("text", {}).get("content"):
            return 200, json.dumps({"errcode": 40008, "errmsg": "invalid message type"})
        return 200, json.dumps({"errcode": 0, "errmsg": "ok"})


def serve_fake(fake: FakeServer) -> Iterator[FakeServer]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            with fake.lock:
                fake.received.append(request)
            status, text = fake.respond(request)
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def subscriber() -> Iterator[FakeSubscriber]:
    yield from serve_fake(FakeSubscriber())  # type: ignore[misc]


@pytest.fixture
def dingtalk() -> Iterator[FakeDingTalk]:
    yield from serve_fake(FakeDingTalk())  # type: ignore[misc]


@pytest.fixture
def wecom() -> Iterator[FakeWeCom]:
    yield from serve_fake(FakeWeCom())  # type: ignore[misc]
