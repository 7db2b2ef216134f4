"""A local fake of the platforms' order-list APIs, for the pull tests.

It checks each platform's request signature or access token exactly as the platform documents it (written
here independently of the adapters, so a signing bug in an adapter fails the test) and serves pages of orders.
Where the platform returns only the fields a request asks for (TOP's ``fields``), so does the fake: a field the
adapter reads but its request leaves out is missing from what it gets, as it would be from the platform.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

from tests.samples import channels as samples

APP_KEY = "fake-app-key"
APP_SECRET = "fake-app-secret"
TOKEN = "fake-access-token"


def many(channel: str, count: int) -> list[dict[str, Any]]:
    """``count`` distinct orders in the channel's own format."""
    orders = []
    for n in range(count):
        if channel in ("taobao", "tmall"):
            order = samples.taobao_multi_line_with_gift()
            order["tid"] = f"39500000000{n:05d}"
        elif channel == "jd":
            order = samples.jd_order_with_coupon_and_gift()
            order["orderId"] = f"2850000{n:05d}"
        elif channel == "douyin":
            order = samples.douyin_presale_bundle_gift_refund()
            order["order_id"] = f"69200000000{n:05d}"
        elif channel == "kuaishou":
            order = samples.kuaishou_paid()
            order["orderBaseInfo"]["oid"] = 2400000000000 + n
        elif channel == "youzan":
            order = samples.youzan_presale_with_present()["full_order_info"]
            order["order_info"]["tid"] = f"E2026111100000{n:05d}"
        elif channel in ("wechat_channels", "wechat_miniprogram"):
            order = samples.wechat_channels_order()
            order["order_id"] = f"37100000000{n:05d}"
        else:
            raise ValueError(channel)
        orders.append(copy.deepcopy(order))
    return orders


def md5_wrapped(params: dict[str, str], secret: str = APP_SECRET) -> str:
    """TOP's and JD's sign: MD5 of secret + the sorted key+value pairs (``sign`` left out) + secret, upper-case."""
    joined = "".join(k + params[k] for k in sorted(params) if k != "sign")
    return hashlib.md5((secret + joined + secret).encode()).hexdigest().upper()  # noqa: S324


def douyin_expected_sign(query: dict[str, str], secret: str = APP_SECRET) -> str:
    """抖店's hmac-sha256 sign over app_key, method, param_json, timestamp and v, wrapped in the secret."""
    plain = (
        f"{secret}app_key{query.get('app_key')}method{query.get('method')}"
        f"param_json{query.get('param_json')}timestamp{query.get('timestamp')}v{query.get('v')}{secret}"
    )
    return hmac.new(secret.encode(), plain.encode(), hashlib.sha256).hexdigest()


def kuaishou_signature(params: dict[str, str], secret: str = APP_SECRET) -> str:
    """快手's MD5 sign: the sorted ``k=v`` pairs (``sign`` left out) joined by ``&``, then ``&signSecret=<secret>``."""
    unsigned = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign")
    return hashlib.md5(f"{unsigned}&signSecret={secret}".encode()).hexdigest()  # noqa: S324


def top_fields(trade: dict[str, Any], fields: str) -> dict[str, Any]:
    """The trade as TOP returns it for ``fields``: only the fields asked for. ``orders`` brings the sub-orders
    whole, ``orders.oid`` only that field of each."""
    asked = {name.strip() for name in fields.split(",") if name.strip()}
    kept = {key: copy.deepcopy(value) for key, value in trade.items() if key in asked}
    sub = {name.split(".", 1)[1] for name in asked if name.startswith("orders.")}
    if "orders" not in asked and sub and "orders" in trade:
        orders = trade["orders"]
        items = orders.get("order", []) if isinstance(orders, dict) else orders
        only = [{key: value for key, value in item.items() if key in sub} for item in items]
        kept["orders"] = {"order": only} if isinstance(orders, dict) else only
    return kept


@dataclass
class FakePlatform:
    orders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    base_url: str = ""

    def page(self, channel: str, start: int, size: int) -> tuple[list[dict[str, Any]], int]:
        rows = self.orders.get(channel, [])
        return rows[start : start + size], len(rows)


class JsonHandler(BaseHTTPRequestHandler):
    """What every fake platform's request handler shares: quiet logs, JSON answers, the request's body."""

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
        pass

    def _send(self, body: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        """The request's body; a body cut off (its caller was killed mid-request) is no request at all: nothing is
        answered or recorded, as a platform would not act on half a request."""
        expected = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(expected)
        if len(body) < expected:
            raise ConnectionAbortedError("the request's body was cut off")
        return body


class _Handler(JsonHandler):
    platform: FakePlatform

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _refuse(self, who: str, body: dict[str, Any]) -> None:
        self.platform.refused.append(who)
        self._send(body)

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self._body() if method == "POST" else b""
        p = self.platform
        p.requests.append(url.path)
        if url.path == "/router/rest":  # Taobao TOP
            form = dict(parse_qsl(body.decode()))
            if form.get("sign") != md5_wrapped(form) or form.get("session") != TOKEN:
                return self._refuse("taobao", {"error_response": {"code": 25, "msg": "Invalid signature"}})
            if not form.get("fields"):
                return self._refuse(
                    "taobao", {"error_response": {"code": 40, "msg": "Missing required arguments:fields"}}
                )
            page, size = int(form["page_no"]), int(form["page_size"])
            rows, total = p.page("taobao", (page - 1) * size, size)
            return self._send(
                {
                    "trades_sold_increment_get_response": {
                        "trades": {"trade": [top_fields(row, form["fields"]) for row in rows]},
                        "has_next": page * size < total,
                        "total_results": total,
                    }
                }
            )
        if url.path == "/routerjson":  # JD
            form = dict(parse_qsl(body.decode()))
            if form.get("sign") != md5_wrapped(form) or form.get("access_token") != TOKEN:
                return self._refuse("jd", {"error_response": {"code": "19", "zh_desc": "签名无效"}})
            business = json.loads(form["360buy_param_json"])
            page, size = int(business["page"]), int(business["page_size"])
            rows, total = p.page("jd", (page - 1) * size, size)
            return self._send(
                {
                    "jingdong_pop_order_search_responce": {
                        "searchorderinfo_result": {"orderInfoList": rows, "orderTotal": total}
                    }
                }
            )
        if url.path == "/order/searchList":  # 抖店
            if query.get("sign") != douyin_expected_sign(query) or body.decode() != query.get("param_json"):
                return self._refuse("douyin", {"code": 30001, "msg": "sign 校验失败"})
            param = json.loads(query["param_json"])
            rows, total = p.page("douyin", param["page"] * param["size"], param["size"])
            return self._send({"code": 10000, "data": {"shop_order_list": rows, "total": total}})
        if url.path == "/open/order/cursor/list":  # 快手
            if query.get("sign") != kuaishou_signature(query) or query.get("access_token") != TOKEN:
                return self._refuse("kuaishou", {"result": 28, "error_msg": "签名错误"})
            param = json.loads(query["param"])
            start = int(param["pcursor"] or 0)
            rows, total = p.page("kuaishou", start, param["pageSize"])
            nxt = start + len(rows)
            return self._send(
                {"result": 1, "data": {"orderList": rows, "pcursor": str(nxt) if nxt < total else "nomore"}}
            )
        if url.path.startswith("/api/youzan.trades.sold.get/"):  # 有赞
            if query.get("access_token") != TOKEN:
                return self._refuse("youzan", {"success": False, "gw_err_resp": {"err_code": 4201, "err_msg": "token"}})
            request = json.loads(body)
            page, size = request["page_no"], request["page_size"]
            rows, total = p.page("youzan", (page - 1) * size, size)
            return self._send(
                {
                    "success": True,
                    "data": {
                        "full_order_info_list": [{"full_order_info": row} for row in rows],
                        "total_results": total,
                    },
                }
            )
        if url.path.startswith("/channels/ec/order/"):  # 视频号小店
            if query.get("access_token") != TOKEN:
                return self._refuse("wechat", {"errcode": 40001, "errmsg": "invalid credential"})
            request = json.loads(body)
            if url.path.endswith("/list/get"):
                start = int(request.get("next_key") or 0)
                rows, total = p.page("wechat", start, request["page_size"])
                nxt = start + len(rows)
                return self._send(
                    {
                        "errcode": 0,
                        "order_id_list": [r["order_id"] for r in rows],
                        "next_key": str(nxt),
                        "has_more": nxt < total,
                    }
                )
            found = [r for r in p.orders.get("wechat", []) if r["order_id"] == request["order_id"]]
            return self._send({"errcode": 0, "order": found[0]} if found else {"errcode": 100002, "errmsg": "no order"})
        self.send_response(404)
        self.end_headers()
        return None


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve a fake's handler on a free local port for the duration of the block; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def running(platform: FakePlatform) -> Iterator[FakePlatform]:
    """Serve the fake on a free local port for the duration of the block."""
    with serving(type("Handler", (_Handler,), {"platform": platform})) as base_url:
        platform.base_url = base_url
        yield platform
