"""What a subscriber is sent and which URLs may be called: signatures as receivers check them, 钉钉 加签 as DingTalk
documents it, robot texts, and the refusal of addresses that are not public in production."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.domain.webhooks import sending
from app.domain.webhooks.models import SubscriptionKind
from app.events import EventType, event_body, event_id_for


def test_the_signature_is_the_hmac_of_timestamp_dot_body_with_the_secret():
    outgoing = sending.webhook_request(
        "https://erp.example.com/h", "whsec_x", "d-1", {"id": "e", "type": "order.routed"}
    )
    timestamp = outgoing.headers["X-Ruleflow-Timestamp"]
    expected = hmac.new(b"whsec_x", timestamp.encode() + b"." + outgoing.body, hashlib.sha256).hexdigest()
    assert outgoing.headers["X-Ruleflow-Signature"] == f"sha256={expected}"
    assert outgoing.headers["X-Ruleflow-Event"] == "order.routed"
    assert outgoing.headers["X-Ruleflow-Delivery"] == "d-1"
    assert sending.signature("other", timestamp, outgoing.body) != outgoing.headers["X-Ruleflow-Signature"]


def test_a_dingtalk_robot_url_carries_timestamp_and_the_documented_sign():
    outgoing = sending.robot_request(
        SubscriptionKind.dingtalk,
        "https://oapi.dingtalk.com/robot/send?access_token=abc",
        "SECdemo",
        event_body(EventType.stock_low, {"sku": {"code": "A", "name": "甲"}, "available": 1, "threshold": 2}, key="k"),
    )
    query = parse_qs(urlsplit(outgoing.url).query)
    timestamp = query["timestamp"][0]
    digest = hmac.new(b"SECdemo", f"{timestamp}\nSECdemo".encode(), hashlib.sha256).digest()
    assert query["access_token"] == ["abc"] and query["sign"] == [base64.b64encode(digest).decode()]
    message = json.loads(outgoing.body)
    assert message["msgtype"] == "text" and "低库存预警" in message["text"]["content"]


def test_a_wecom_robot_and_an_unsigned_dingtalk_robot_keep_their_url():
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k1"
    event = event_body(EventType.review_backlog, {"held": 30, "threshold": 20, "by_reason": []}, key="b")
    assert sending.robot_request(SubscriptionKind.wecom, url, "", event).url == url
    assert (
        "审核积压" in json.loads(sending.robot_request(SubscriptionKind.wecom, url, "", event).body)["text"]["content"]
    )


def test_an_event_id_follows_from_its_key():
    assert event_id_for("order.routed:1:v1:r1") == event_id_for("order.routed:1:v1:r1")
    assert event_id_for("order.routed:1:v1:r1") != event_id_for("order.routed:1:v1:r2")


@pytest.mark.parametrize(
    "url", ["ftp://x.example.com/", "file:///etc/passwd", "javascript:alert(1)", "https://", "http://a b/"]
)
def test_only_http_and_https_urls_with_a_host_are_taken(url):
    with pytest.raises(sending.UrlRefused) as refused:
        sending.check_url(url, SubscriptionKind.webhook, allow_private=True)
    assert refused.value.code == "bad_url"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.0.0.5/",
        "http://192.168.1.1:8080/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost:8000/",
        "http://100.64.0.1/",
    ],
)
def test_in_production_addresses_that_are_not_public_are_refused(url):
    with pytest.raises(sending.UrlRefused) as refused:
        sending.check_url(url, SubscriptionKind.webhook, allow_private=False)
    assert refused.value.code == "private_address"
    assert sending.check_url(url, SubscriptionKind.webhook, allow_private=True) == url


async def test_a_name_that_resolves_to_loopback_is_not_called_in_production():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        outgoing = sending.webhook_request("http://localhost/hook", "s", "d", {"type": "order.routed"})
        answer = await sending.attempt(http, SubscriptionKind.webhook, outgoing, allow_private=False)
    assert not answer.ok and calls == [] and "localhost" in answer.error


async def test_a_public_name_is_called_at_the_address_that_was_checked(monkeypatch):
    calls = []

    async def public(host: str, port: int) -> str:
        return "93.184.216.34"

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(204)

    monkeypatch.setattr(sending, "resolve", public)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        outgoing = sending.webhook_request("https://erp.example.com:8443/hook", "s", "d", {"type": "order.routed"})
        answer = await sending.attempt(http, SubscriptionKind.webhook, outgoing, allow_private=False)
    assert answer.ok and answer.status_code == 204
    assert calls[0].url.host == "93.184.216.34" and calls[0].headers["host"] == "erp.example.com:8443"
    assert calls[0].extensions["sni_hostname"] == "erp.example.com"


async def test_a_robot_that_answers_200_with_an_errcode_did_not_take_the_message():
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(
            lambda r: httpx.Response(200, json={"errcode": 310000, "errmsg": "sign not match"})
        )
    ) as http:
        outgoing = sending.robot_request(
            SubscriptionKind.dingtalk, "http://r/?access_token=t", "", {"type": "stock.low"}
        )
        answer = await sending.attempt(http, SubscriptionKind.dingtalk, outgoing, allow_private=True)
    assert not answer.ok and "sign not match" in answer.response


def test_the_shown_url_masks_query_values():
    shown = sending.shown_url("https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef")
    assert shown == "https://oapi.dingtalk.com/robot/send?access_token=0123****"
    assert "secret" not in sending.shown_url("https://user:secret@erp.example.com/h")
