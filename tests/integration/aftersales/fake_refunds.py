"""A local fake of the platforms' agree-refund (同意退款) APIs, for the refund write-back tests.

Built like the delivery fake: each endpoint checks what the platform documents for its call (the method name, the
required fields, the signature or access token, with the order-list fake's checkers, written independently of the
app's signers). It records each agreement it accepts, answers one it accepted before (the same refund agreed again
by a caller that never saw the first answer) with "already agreed" and accepts nothing new, and can be told to
refuse a platform's calls for good with a message.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlparse

from tests.integration.fulfillment.fake_delivery import Refused, require
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
class Agreement:
    """One refund a platform accepted: its refund id and the request's business fields as sent."""

    platform: str
    refund_id: str
    fields: dict[str, Any]


@dataclass
class FakeRefunds:
    accepted: list[Agreement] = field(default_factory=list)
    #: (platform, answer) for every request refused: a bad signature or token, a missing field, a refusal asked for.
    refused: list[tuple[str, str]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    #: platform -> the message to refuse every call with (a permanent refusal), until removed.
    refuse_with: dict[str, str] = field(default_factory=dict)
    #: (platform, refund id) of each "already agreed" answer given.
    answered_already: list[tuple[str, str]] = field(default_factory=list)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, platform: str) -> int:
        return sum(1 for name in self.calls if name == platform)


class _Handler(JsonHandler):
    fake: FakeRefunds

    def do_POST(self) -> None:
        url = urlparse(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self._body()
        routes = {
            "/router/rest": ("taobao", self._taobao),
            "/routerjson": ("jd", self._jd),
            "/afterSale/operate": ("douyin", self._douyin),
            "/open/seller/order/refund/approve": ("kuaishou", self._kuaishou),
            "/api/youzan.trade.refund.agree/3.0.0": ("youzan", self._youzan),
            "/channels/ec/aftersale/acceptapply": ("wechat", self._wechat),
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
                self._send(refused.answer)
                return
        self._send(answer)

    def _fault(self, platform: str, refund_id: str, permanent: Any, already: dict[str, Any]) -> None:
        fake = self.fake
        if platform in fake.refuse_with:
            raise Refused(permanent(fake.refuse_with[platform]))
        if any((a.platform, a.refund_id) == (platform, refund_id) for a in fake.accepted):
            fake.answered_already.append((platform, refund_id))
            raise Refused(already, counted=False)

    def _accept(self, platform: str, refund_id: str, fields: dict[str, Any]) -> None:
        self.fake.accepted.append(Agreement(platform, refund_id, dict(fields)))

    def _taobao(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        form = dict(parse_qsl(body.decode()))

        def error(message: str) -> dict[str, Any]:
            return {"error_response": {"code": 15, "msg": "Remote service error", "sub_msg": message}}

        if form.get("method") != "taobao.rp.refunds.agree":
            raise Refused({"error_response": {"code": 22, "msg": "Invalid method"}})
        if form.get("sign") != md5_wrapped(form) or form.get("session") != TOKEN or form.get("app_key") != APP_KEY:
            raise Refused({"error_response": {"code": 25, "msg": "Invalid signature"}})
        require(form, ("refund_infos",), error)
        parts = form["refund_infos"].split("|")
        if len(parts) != 4 or not parts[1].isdigit():
            raise Refused(error("refund_infos 格式错误：refund_id|amount|version|phase"))
        self._fault("taobao", parts[0], error, error("退款已同意，请勿重复操作"))
        self._accept("taobao", parts[0], {"refund_infos": form["refund_infos"]})
        return {"rp_refunds_agree_response": {"succ": True, "msg_code": "OP_SUCC", "message": "操作成功"}}

    def _jd(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        form = dict(parse_qsl(body.decode()))

        def result(success: bool, message: str) -> dict[str, Any]:
            return {
                "jingdong_pop_afs_soa_refundapply_replyRefund_responce": {
                    "code": "0",
                    "replyResult": {"success": success, "errorMessage": message, "errorCode": "" if success else "1"},
                }
            }

        if form.get("method") != "jingdong.pop.afs.soa.refundapply.replyRefund":
            raise Refused({"error_response": {"code": "21", "zh_desc": "无效的方法名"}})
        if form.get("sign") != md5_wrapped(form) or form.get("access_token") != TOKEN or form.get("app_key") != APP_KEY:
            raise Refused({"error_response": {"code": "19", "zh_desc": "签名无效"}})
        business = json.loads(form.get("360buy_param_json") or "{}")
        require(business, ("status", "id", "checkUserName", "outWareStatus"), lambda m: result(False, m))
        self._fault("jd", str(business["id"]), lambda m: result(False, m), result(False, "退款单已审核，重复操作"))
        self._accept("jd", str(business["id"]), business)
        return result(True, "")

    def _douyin(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        if query.get("method") != "afterSale.operate":
            raise Refused({"code": 30002, "msg": "method 不存在"})
        if query.get("sign") != douyin_expected_sign(query) or query.get("access_token") != TOKEN:
            raise Refused({"code": 30001, "msg": "sign 校验失败"})
        if body.decode() != query.get("param_json"):
            raise Refused({"code": 40004, "msg": "非法的参数", "sub_msg": "param_json 与请求体不一致"})
        business = json.loads(body)

        def error(message: str) -> dict[str, Any]:
            return {"code": 40004, "msg": "非法的参数", "sub_code": "isv.parameter-invalid:10002", "sub_msg": message}

        require(business, ("type", "items"), error)
        (item,) = business["items"]
        require(item, ("aftersale_id",), error)
        self._fault(
            "douyin",
            str(item["aftersale_id"]),
            lambda m: {"code": 50002, "msg": "业务处理失败", "sub_code": "isv.business-failed:10007", "sub_msg": m},
            {"code": 50002, "msg": "业务处理失败", "sub_msg": "售后单已同意，重复操作"},
        )
        self._accept("douyin", str(item["aftersale_id"]), business)
        return {"code": 10000, "msg": "success", "log_id": f"dd-{len(self.fake.accepted)}", "data": {}}

    def _kuaishou(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        form = dict(parse_qsl(body.decode()))
        if form.get("method") != "open.seller.order.refund.approve":
            raise Refused({"result": 22, "error_msg": "方法不存在"})
        if form.get("sign") != kuaishou_signature(form) or form.get("access_token") != TOKEN:
            raise Refused({"result": 28, "error_msg": "签名错误"})
        business = json.loads(form.get("param") or "{}")
        require(business, ("refundId", "refundAmount", "status"), lambda m: {"result": 100, "error_msg": m})
        if not isinstance(business["refundId"], int) or not isinstance(business["refundAmount"], int):
            raise Refused({"result": 100, "error_msg": "refundId 与 refundAmount 须为数字"})
        self._fault(
            "kuaishou",
            str(business["refundId"]),
            lambda m: {"result": 100, "error_msg": m},
            {"result": 803, "error_msg": "售后单已退款"},
        )
        self._accept("kuaishou", str(business["refundId"]), business)
        return {"result": 1, "requestId": f"ks-{len(self.fake.accepted)}"}

    def _youzan(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        if query.get("access_token") != TOKEN:
            raise Refused({"gw_err_resp": {"err_code": 4201, "err_msg": "非法的请求凭证"}})
        business = json.loads(body)
        require(business, ("refund_id", "version"), lambda m: {"success": False, "code": 100, "message": m})
        self._fault(
            "youzan",
            str(business["refund_id"]),
            lambda m: {"success": False, "code": 103010054, "message": m},
            {"success": False, "code": 103011030, "message": "退款已同意，请勿重复操作"},
        )
        self._accept("youzan", str(business["refund_id"]), business)
        return {"success": True, "code": 200, "data": {"is_success": True}, "trace_id": f"yz-{len(self.fake.accepted)}"}

    def _wechat(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        if query.get("access_token") != TOKEN:
            raise Refused({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
        business = json.loads(body)
        require(business, ("after_sale_order_id",), lambda m: {"errcode": 47001, "errmsg": m})
        self._fault(
            "wechat",
            str(business["after_sale_order_id"]),
            lambda m: {"errcode": 10030020, "errmsg": m},
            {"errcode": 10030021, "errmsg": "售后单已同意，重复操作"},
        )
        self._accept("wechat", str(business["after_sale_order_id"]), business)
        return {"errcode": 0, "errmsg": "ok"}


@contextmanager
def running(fake: FakeRefunds) -> Iterator[FakeRefunds]:
    """Serve the fake on a free local port for the duration of the block."""
    with serving(type("Handler", (_Handler,), {"fake": fake})) as base_url:
        fake.base_url = base_url
        yield fake
