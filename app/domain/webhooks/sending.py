"""Talking to subscribers: which URLs may be called, how a delivery is signed and worded, and one attempt.

A webhook gets the event JSON with ``X-Ruleflow-Event``, ``X-Ruleflow-Delivery``, ``X-Ruleflow-Timestamp`` (Unix
seconds) and ``X-Ruleflow-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret>``.
A 钉钉 robot gets a short Chinese text; with 加签 its URL carries ``timestamp`` (milliseconds) and ``sign`` =
URL-encoded base64 of HMAC-SHA256 of ``"<timestamp>\\n<secret>"`` keyed with the secret, as DingTalk documents.
A 企业微信 robot gets the same text at its ``send?key=`` URL. A robot answers ``{"errcode": 0}`` when it took it.

In production no address that is not public is called (loopback, private networks, link-local such as a cloud's
metadata service), unless ``WEBHOOK_ALLOW_PRIVATE`` is on: the host is resolved when a delivery is made and the
connection goes to the very address that was checked, so a name that changes its answer cannot slip past.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

import httpx

from app.db import utcnow
from app.domain.webhooks.models import SubscriptionKind
from app.errors import DomainError
from app.events import EventType
from app.i18n import N_

#: No subscriber keeps a worker longer than this per attempt.
TIMEOUT_SECONDS = 5.0
#: What of an answer is kept to show.
RESPONSE_EXCERPT = 300
#: The query parameter that carries a robot's credential.
ROBOT_CREDENTIAL = {SubscriptionKind.dingtalk: "access_token", SubscriptionKind.wecom: "key"}
URL_MAX = 2000


class UrlRefused(DomainError):
    """A subscriber URL that may not be called; ``code`` says why."""

    messages = {  # noqa: RUF012
        "bad_url": N_("The URL should start with http:// or https:// and name a host"),
        "too_long": N_("The URL is longer than %(max)s characters"),
        "private_address": N_(
            "The URL points to an address that is not public (%(host)s); set WEBHOOK_ALLOW_PRIVATE=on to allow it"
        ),
        "unresolvable": N_("The host %(host)s could not be resolved"),
        "robot_credential": N_("A robot URL must carry its %(param)s parameter, as the robot's settings show it"),
    }
    fields = {code: "url" for code in messages}  # noqa: RUF012


def check_url(url: str, kind: SubscriptionKind, *, allow_private: bool) -> str:
    """The URL as it will be called, or :class:`UrlRefused`. Addresses written as numbers are checked here; names
    are checked each time they are resolved (see :func:`resolve`)."""
    url = url.strip()
    if len(url) > URL_MAX:
        raise UrlRefused("too_long", max=URL_MAX)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise UrlRefused("bad_url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(ch in url for ch in " \r\n\t"):
        raise UrlRefused("bad_url")
    credential = ROBOT_CREDENTIAL.get(kind)
    if credential is not None and not dict(parse_qsl(parts.query)).get(credential):
        raise UrlRefused("robot_credential", param=credential)
    if not allow_private:
        host = parts.hostname
        if host == "localhost" or host.endswith(".localhost"):
            raise UrlRefused("private_address", host=host)
        literal = _address(host)
        if literal is not None and not literal.is_global:
            raise UrlRefused("private_address", host=host)
    return url


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


async def resolve(host: str, port: int) -> str:
    """A public address of ``host`` to connect to; every address it resolves to must be public."""
    literal = _address(host)
    if literal is not None:
        if not literal.is_global:
            raise UrlRefused("private_address", host=host)
        return str(literal)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise UrlRefused("unresolvable", host=host) from None
    addresses = [_address(str(info[4][0])) for info in infos]
    if not addresses or any(a is None or not a.is_global for a in addresses):
        raise UrlRefused("private_address", host=host)
    return str(addresses[0])


def shown_url(url: str) -> str:
    """The URL as pages show it: scheme, host and path, each query value masked but its first characters."""
    parts = urlsplit(url)
    query = [
        (key, value[:4] + "****" if value else "") for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    shown = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, urlencode(query, safe="*"), ""))
    return shown[:300]


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Ruleflow-Signature`` of a webhook delivery: ``sha256=`` and the hex HMAC of ``timestamp.body``."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """钉钉 加签: base64 of HMAC-SHA256 of ``timestamp + "\\n" + secret`` keyed with the secret (URL-encode it)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Outgoing:
    """One attempt's request."""

    url: str
    headers: dict[str, str]
    body: bytes


def webhook_request(url: str, secret: str, delivery_id: str, event: dict[str, Any]) -> Outgoing:
    """The signed POST of an event to an integrator's webhook."""
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Ruleflow-OMS-Webhooks/1",
        "X-Ruleflow-Event": str(event.get("type", "")),
        "X-Ruleflow-Delivery": delivery_id,
        "X-Ruleflow-Timestamp": timestamp,
        "X-Ruleflow-Signature": signature(secret, timestamp, body),
    }
    return Outgoing(url, headers, body)


def robot_request(kind: SubscriptionKind, url: str, secret: str, event: dict[str, Any]) -> Outgoing:
    """The text a 钉钉 or 企业微信 robot posts to its group about an event (钉钉 signed when it has a secret)."""
    if kind == SubscriptionKind.dingtalk and secret:
        timestamp = str(int(time.time() * 1000))
        joiner = "&" if urlsplit(url).query else "?"
        url = f"{url}{joiner}timestamp={timestamp}&sign={quote_plus(dingtalk_sign(secret, timestamp))}"
    message = {"msgtype": "text", "text": {"content": robot_text(event)}}
    body = json.dumps(message, ensure_ascii=False).encode()
    return Outgoing(url, {"Content-Type": "application/json", "User-Agent": "Ruleflow-OMS-Webhooks/1"}, body)


def robot_text(event: dict[str, Any]) -> str:
    """A short Chinese text about an alert event, sent as plain text so that nothing in it is formatted."""
    data = event.get("data") or {}
    if event.get("type") == EventType.stock_low:
        sku = data.get("sku") or {}
        lines = [
            f"【Ruleflow 低库存预警】{sku.get('name', '')}（{sku.get('code', '')}）可用库存 {data.get('available')}，"
            f"已不高于预警值 {data.get('threshold')}。",
        ]
        lines += [
            f"· {w.get('name') or w.get('code')}：{w.get('available')}" for w in (data.get("warehouses") or [])[:10]
        ]
        return "\n".join(lines)
    if event.get("type") == EventType.review_backlog:
        lines = [f"【Ruleflow 审核积压】审核队列中有 {data.get('held')} 单待处理，超过 {data.get('threshold')} 单。"]
        lines += [
            f"· {g.get('label') or g.get('code')}：{g.get('count')} 单" for g in (data.get("by_reason") or [])[:5]
        ]
        return "\n".join(lines)
    return f"【Ruleflow】{event.get('type')}"


@dataclass(frozen=True)
class Answer:
    """How one attempt went: a success, or the status code / error that makes it a failure."""

    ok: bool
    status_code: int | None
    response: str
    error: str
    at: datetime

    def log_entry(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "status_code": self.status_code,
            "response": self.response,
            "error": self.error,
        }


async def attempt(
    http: httpx.AsyncClient, kind: SubscriptionKind, outgoing: Outgoing, *, allow_private: bool
) -> Answer:
    """POST once (no redirects followed, at most ``TIMEOUT_SECONDS``). A webhook succeeds with a 2xx answer; a
    robot with a 200 whose JSON ``errcode`` is 0."""
    at = utcnow()
    url = httpx.URL(outgoing.url)
    headers = dict(outgoing.headers)
    extensions: dict[str, Any] = {}
    try:
        if not allow_private:
            address = await resolve(url.host, url.port or (443 if url.scheme == "https" else 80))
            headers["Host"] = url.netloc.decode()
            if url.scheme == "https":
                extensions["sni_hostname"] = url.host
            url = url.copy_with(host=address)
        response = await http.post(
            url,
            content=outgoing.body,
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
            extensions=extensions,
        )
    except UrlRefused as exc:
        return Answer(False, None, "", exc.message, at)
    except httpx.TimeoutException:
        return Answer(False, None, "", f"{TIMEOUT_SECONDS:g} 秒内没有应答", at)
    except httpx.HTTPError as exc:
        return Answer(False, None, "", f"{type(exc).__name__}: {exc}"[:300], at)
    text = response.text[: RESPONSE_EXCERPT + 1]
    excerpt = text if len(text) <= RESPONSE_EXCERPT else text[:RESPONSE_EXCERPT] + "…"
    if not 200 <= response.status_code < 300:
        return Answer(False, response.status_code, excerpt, "", at)
    if kind != SubscriptionKind.webhook:
        try:
            errcode = json.loads(response.text).get("errcode")
        except (ValueError, AttributeError):
            errcode = None
        if errcode != 0:
            return Answer(False, response.status_code, excerpt, "机器人未接受消息", at)
    return Answer(True, response.status_code, excerpt, "", at)
