"""A local fake of the platforms' delivery (发货) APIs, for the write-back tests.

Each endpoint checks what the platform documents for its delivery call: the method name, the required fields and
the signature or access token, with the signature checkers of the order-list fake (written independently of the
app's signers, so a signing bug fails the test). It records each delivery it accepts and can be told to fail a
platform's calls transiently a number of times, to refuse them for good with a message, or to answer that the
order is already shipped. Like the real platforms, it answers a delivery it already accepted (the same order and
waybill, sent again by a caller that never saw the first answer) with "already shipped", and accepts nothing new.
It can also hold its answers to accepted deliveries until told, so that a caller is surely waiting on one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlparse

from tests.integration.orders.fake_platform import (
    APP_KEY,
    TOKEN,
    JsonHandler,
    douyin_expected_sign,
    kuaishou_signature,
    md5_wrapped,
    serving,
)


@dataclass(frozen=True)
class Delivery:
    """One delivery a platform accepted: its order, waybill, company code and the lines it named (TOP's sub_tid,
    有赞's oids, 微信小店's products as ``sku_id×count``), with the request's business fields as sent."""

    platform: str
    order_id: str
    waybill: str
    company: str
    lines: tuple[str, ...]
    fields: dict[str, Any]


@dataclass
class FakeDelivery:
    accepted: list[Delivery] = field(default_factory=list)
    #: (platform, why) for every request the fake refused: a bad signature or token, a missing field.
    refused: list[tuple[str, str]] = field(default_factory=list)
    #: Every call by platform, whatever its answer.
    calls: list[str] = field(default_factory=list)
    #: platform -> how many more calls to fail transiently (busy, rate limit, 5xx).
    fail_transiently: dict[str, int] = field(default_factory=dict)
    #: platform -> the message to refuse every call with (a permanent refusal), until removed.
    refuse_with: dict[str, str] = field(default_factory=dict)
    #: Platforms that answer "already shipped" (and accept nothing new).
    already_shipped: set[str] = field(default_factory=set)
    #: (platform, order id) of each "already shipped" answer given.
    answered_already: list[tuple[str, str]] = field(default_factory=list)
    #: Once this many deliveries were accepted, the answer to each further one is held until ``release`` is set
    #: (the delivery is accepted all the same: the caller just never hears so while it is held).
    hold_after: int | None = None
    release: threading.Event = field(default_factory=threading.Event)
    #: Deliveries accepted whose answer is (or was) held.
    held: list[Delivery] = field(default_factory=list)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, platform: str) -> int:
        return sum(1 for name in self.calls if name == platform)


class Refused(Exception):
    """The fake refuses the request: the platform's answer to send back."""

    def __init__(self, answer: dict[str, Any], status: int = 200, *, counted: bool = True) -> None:
        super().__init__(json.dumps(answer, ensure_ascii=False))
        self.answer = answer
        self.status = status
        #: Whether it goes into ``refused`` (a transient failure or an "already shipped" the test asked for does not).
        self.counted = counted


def require(fields: dict[str, Any], names: tuple[str, ...], answer: Any) -> None:
    missing = [name for name in names if fields.get(name) in (None, "", [])]
    if missing:
        raise Refused(answer(f"缺少必填参数 {','.join(missing)}"))


class _Handler(JsonHandler):
    fake: FakeDelivery

    def do_POST(self) -> None:
        url = urlparse(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self._body()
        routes = {
            "/router/rest": ("taobao", self._taobao),
            "/routerjson": ("jd", self._jd),
            "/order/logisticsAdd": ("douyin", self._douyin),
            "/open/seller/order/goods/deliver": ("kuaishou", self._kuaishou),
            "/api/youzan.logistics.online.confirm/3.0.0": ("youzan", self._youzan),
            "/channels/ec/order/delivery/send": ("wechat", self._wechat),
        }
        if url.path not in routes:
            self._send({"error": "no such API"}, 404)
            return
        platform, handler = routes[url.path]
        fake = self.fake
        with fake.lock:
            fake.calls.append(platform)
            try:
                answer = handler(query, body)
            except Refused as refused:
                if refused.counted:
                    fake.refused.append((platform, json.dumps(refused.answer, ensure_ascii=False)))
                self._send(refused.answer, refused.status)
                return
            hold = fake.hold_after is not None and len(fake.accepted) > fake.hold_after
            if hold:
                fake.held.append(fake.accepted[-1])
        if hold:
            fake.release.wait(timeout=60)
        try:
            self._send(answer)
        except OSError:  # the caller is gone (killed while it waited): the platform has the delivery anyway
            pass

    # --- each platform: check, then the fault the test asked for, then accept -------------------------------

    def _fault(
        self,
        platform: str,
        order_id: str,
        waybill: str,
        transient: dict[str, Any],
        permanent: Any,
        already: dict[str, Any],
    ) -> None:
        """Answer as the test told the fake to, or "already shipped" to a delivery accepted before (by raising
        :class:`Refused`); nothing when it should accept."""
        fake = self.fake
        left = fake.fail_transiently.get(platform, 0)
        if left:
            fake.fail_transiently[platform] = left - 1
            status = int(transient.pop("status", 200))
            raise Refused(transient, status, counted=False)
        if platform in fake.refuse_with:
            raise Refused(permanent(fake.refuse_with[platform]))
        repeat = any((d.platform, d.order_id, d.waybill) == (platform, order_id, waybill) for d in fake.accepted)
        if platform in fake.already_shipped or repeat:
            fake.answered_already.append((platform, order_id))
            raise Refused(already, counted=False)

    def _accept(
        self, platform: str, order_id: str, waybill: str, company: str, lines: tuple[str, ...], fields: Any
    ) -> None:
        self.fake.accepted.append(Delivery(platform, order_id, waybill, company, lines, dict(fields)))

    def _taobao(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        form = dict(parse_qsl(body.decode()))

        def error(message: str) -> dict[str, Any]:
            return {"error_response": {"code": 15, "msg": "Remote service error", "sub_msg": message}}

        if form.get("method") != "taobao.logistics.offline.send":
            raise Refused({"error_response": {"code": 22, "msg": "Invalid method"}})
        if form.get("sign") != md5_wrapped(form) or form.get("session") != TOKEN or form.get("app_key") != APP_KEY:
            raise Refused({"error_response": {"code": 25, "msg": "Invalid signature"}})
        require(form, ("tid", "out_sid", "company_code"), error)
        if form.get("is_split") == "1":
            require(form, ("sub_tid",), error)
        self._fault(
            "taobao",
            form["tid"],
            form["out_sid"],
            {
                "error_response": {
                    "code": 7,
                    "msg": "App Call Limited",
                    "sub_msg": "This ban will last for 1 more seconds",
                }
            },
            lambda message: {
                "error_response": {
                    "code": 15,
                    "sub_code": "isv.logistics-offline-service-error:P38",
                    "sub_msg": message,
                }
            },
            error("该订单已发货，不能重复发货"),
        )
        lines = tuple(form["sub_tid"].split(",")) if form.get("is_split") == "1" else ()
        business = {k: v for k, v in form.items() if k in ("tid", "out_sid", "company_code", "is_split", "sub_tid")}
        self._accept("taobao", form["tid"], form["out_sid"], form["company_code"], lines, business)
        return {
            "logistics_offline_send_response": {
                "shipping": {"is_success": True},
                "request_id": f"top-{len(self.fake.accepted)}",
            }
        }

    def _jd(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        form = dict(parse_qsl(body.decode()))

        def result(success: bool, message: str) -> dict[str, Any]:
            return {
                "jingdong_pop_order_shipment_responce": {
                    "code": "0",
                    "sopjosshipment_result": {"success": success, "chineseErrCode": message, "errorCode": ""},
                }
            }

        if form.get("method") != "jingdong.pop.order.shipment":
            raise Refused({"error_response": {"code": "21", "zh_desc": "无效的方法名"}})
        if form.get("sign") != md5_wrapped(form) or form.get("access_token") != TOKEN or form.get("app_key") != APP_KEY:
            raise Refused({"error_response": {"code": "19", "zh_desc": "签名无效"}})
        business = json.loads(form.get("360buy_param_json") or "{}")
        require(business, ("order_id", "logistics_id", "waybill"), lambda message: result(False, message))
        self._fault(
            "jd",
            business["order_id"],
            business["waybill"],
            {"status": 503, "error": "Service Unavailable"},
            lambda message: result(False, message),
            result(False, "订单已出库"),
        )
        self._accept("jd", business["order_id"], business["waybill"], business["logistics_id"], (), business)
        return result(True, "成功")

    def _douyin(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        if query.get("method") != "order.logisticsAdd":
            raise Refused({"code": 30002, "msg": "method 不存在"})
        if query.get("sign") != douyin_expected_sign(query) or query.get("access_token") != TOKEN:
            raise Refused({"code": 30001, "msg": "sign 校验失败"})
        if body.decode() != query.get("param_json"):
            raise Refused({"code": 40004, "msg": "非法的参数", "sub_msg": "param_json 与请求体不一致"})
        business = json.loads(body)
        require(
            business,
            ("order_id", "company_code", "logistics_code"),
            lambda message: {"code": 40004, "msg": "非法的参数", "sub_msg": message},
        )
        self._fault(
            "douyin",
            business["order_id"],
            business["logistics_code"],
            {"code": 20000, "msg": "系统错误", "sub_code": "isp.service-error:10001", "sub_msg": "请稍后重试"},
            lambda message: {
                "code": 40004,
                "msg": "非法的参数",
                "sub_code": "isv.parameter-invalid:10002",
                "sub_msg": message,
            },
            {"code": 50002, "msg": "业务处理失败", "sub_code": "isv.business-failed:10007", "sub_msg": "订单已发货"},
        )
        self._accept("douyin", business["order_id"], business["logistics_code"], business["company_code"], (), business)
        return {"code": 10000, "msg": "success", "log_id": f"dd-{len(self.fake.accepted)}", "data": {}}

    def _kuaishou(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        form = dict(parse_qsl(body.decode()))
        if form.get("method") != "open.seller.order.goods.deliver":
            raise Refused({"result": 22, "error_msg": "方法不存在"})
        if form.get("sign") != kuaishou_signature(form) or form.get("access_token") != TOKEN:
            raise Refused({"result": 28, "error_msg": "签名错误"})
        business = json.loads(form.get("param") or "{}")
        require(
            business, ("orderId", "expressNo", "expressCode"), lambda message: {"result": 100, "error_msg": message}
        )
        if not isinstance(business["orderId"], int) or not isinstance(business["expressCode"], int):
            raise Refused({"result": 100, "error_msg": "orderId 与 expressCode 须为数字"})
        self._fault(
            "kuaishou",
            str(business["orderId"]),
            business["expressNo"],
            {"status": 502, "error": "Bad Gateway"},
            lambda message: {"result": 100, "error_msg": message},
            {"result": 803, "error_msg": "订单已发货"},
        )
        company = str(business["expressCode"])
        self._accept("kuaishou", str(business["orderId"]), business["expressNo"], company, (), business)
        return {"result": 1, "requestId": f"ks-{len(self.fake.accepted)}"}

    def _youzan(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        if query.get("access_token") != TOKEN:
            raise Refused({"gw_err_resp": {"err_code": 4201, "err_msg": "非法的请求凭证"}})
        business = json.loads(body)
        require(
            business,
            ("tid", "out_stype", "out_sid"),
            lambda message: {"success": False, "code": 100, "message": message},
        )
        self._fault(
            "youzan",
            business["tid"],
            business["out_sid"],
            {"status": 503, "error": "Service Unavailable"},
            lambda message: {"success": False, "code": 101300001, "message": message},
            {"success": False, "code": 101300036, "message": "订单已发货"},
        )
        lines = tuple(str(business["oids"]).split(",")) if business.get("oids") else ()
        self._accept("youzan", business["tid"], business["out_sid"], str(business["out_stype"]), lines, business)
        return {"success": True, "code": 200, "data": {"is_success": True}, "trace_id": f"yz-{len(self.fake.accepted)}"}

    def _wechat(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        if query.get("access_token") != TOKEN:
            raise Refused({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
        business = json.loads(body)

        def error(message: str) -> dict[str, Any]:
            return {"errcode": 47001, "errmsg": message}

        require(business, ("order_id", "delivery_list"), error)
        for delivery in business["delivery_list"]:
            require(delivery, ("delivery_id", "waybill_id", "deliver_type", "product_infos"), error)
            for product in delivery["product_infos"]:
                require(product, ("product_id", "sku_id", "product_cnt"), error)
        (delivery,) = business["delivery_list"]
        self._fault(
            "wechat",
            business["order_id"],
            delivery["waybill_id"],
            {"errcode": -1, "errmsg": "system error"},
            error,
            {"errcode": 10020061, "errmsg": "订单已发货"},
        )
        lines = tuple(f"{p['sku_id']}×{p['product_cnt']}" for p in delivery["product_infos"])
        self._accept("wechat", business["order_id"], delivery["waybill_id"], delivery["delivery_id"], lines, business)
        return {"errcode": 0, "errmsg": "ok"}


@contextmanager
def running(fake: FakeDelivery) -> Iterator[FakeDelivery]:
    """Serve the fake on a free local port for the duration of the block."""
    with serving(type("Handler", (_Handler,), {"fake": fake})) as base_url:
        fake.base_url = base_url
        yield fake
