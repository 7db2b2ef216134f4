"""A local fake of the platforms' stock update APIs, for the stock push tests.

Each endpoint checks the method, the fields and the signature (or access token) as the platform documents them,
with the order-list fake's checkers (written independently of the push client, so a signing or field bug in the
client fails the test), and keeps the figure it was told per platform SKU, as the platform's stock would be.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlparse

from tests.integration.orders.fake_platform import TOKEN, JsonHandler, douyin_expected_sign, md5_wrapped, serving

#: A platform SKU id the fake's platforms do not know: its update is refused as a platform would.
UNKNOWN_SKU = "999000999"


@dataclass
class FakeStockApi:
    #: The platform's figure per (platform, item id, SKU key), as the pushes left it.
    stock: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: Every update the fake took: (platform, item id, SKU key, quantity).
    updates: list[tuple[str, str, str, int]] = field(default_factory=list)
    #: Requests refused, by platform, with why.
    refused: list[tuple[str, str]] = field(default_factory=list)
    #: How many of the next requests to each platform get a 503 (the platform is down).
    down_for: dict[str, int] = field(default_factory=dict)
    base_url: str = ""

    def told(self, platform: str) -> list[int]:
        """The quantities one platform was told, in order."""
        return [qty for name, _, _, qty in self.updates if name == platform]


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class _Handler(JsonHandler):
    api: FakeStockApi

    def do_POST(self) -> None:
        url = urlparse(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self._body()
        platform = {
            "/router/rest": "taobao",
            "/routerjson": "jd",
            "/sku/syncStock": "douyin",
            "/api/youzan.item.quantity.update/3.0.0": "youzan",
            "/channels/ec/product/stock/update": "wechat",
        }.get(url.path)
        if platform is None:
            self._send({"error": "no such API"}, 404)
            return
        if self.api.down_for.get(platform, 0) > 0:
            self.api.down_for[platform] -= 1
            self._send({"error": "service unavailable"}, 503)
            return
        getattr(self, f"_{platform}")(query, body)

    def _refuse(self, platform: str, why: str, answer: dict[str, Any]) -> None:
        self.api.refused.append((platform, why))
        self._send(answer)

    def _take(self, platform: str, item: str, sku: str, quantity: int) -> None:
        self.api.stock[(platform, item, sku)] = quantity
        self.api.updates.append((platform, item, sku, quantity))

    def _taobao(self, query: dict[str, str], body: bytes) -> None:
        form = dict(parse_qsl(body.decode()))
        if form.get("sign") != md5_wrapped(form) or form.get("session") != TOKEN:
            return self._refuse("taobao", "sign", {"error_response": {"code": 25, "msg": "Invalid signature"}})
        quantity = _whole(form.get("quantity"))
        sku = form.get("sku_id") or form.get("outer_id") or ""
        if form.get("method") != "taobao.item.quantity.update" or not form.get("num_iid") or quantity is None:
            return self._refuse(
                "taobao", "fields", {"error_response": {"code": 40, "msg": "Missing required arguments"}}
            )
        if form.get("type") != "1":  # only a full update keeps a repeated push harmless
            return self._refuse("taobao", "type", {"error_response": {"code": 41, "msg": "Invalid arguments:type"}})
        if sku == UNKNOWN_SKU:
            error = {"code": 15, "msg": "Remote service error", "sub_code": "isv.sku-not-exist", "sub_msg": "SKU不存在"}
            return self._refuse("taobao", "unknown sku", {"error_response": error})
        self._take("taobao", form["num_iid"], sku, quantity)
        item = {"num_iid": int(form["num_iid"]), "num": quantity, "modified": "2026-12-02 10:00:00"}
        return self._send({"item_quantity_update_response": {"item": item}})

    def _jd(self, query: dict[str, str], body: bytes) -> None:
        form = dict(parse_qsl(body.decode()))
        if form.get("sign") != md5_wrapped(form) or form.get("access_token") != TOKEN:
            return self._refuse("jd", "sign", {"error_response": {"code": "19", "zh_desc": "签名无效"}})
        business = json.loads(form.get("360buy_param_json") or "{}")
        quantity = _whole(business.get("stockNum"))
        if form.get("method") != "jingdong.stock.write.updateSkuStock" or not business.get("skuId") or quantity is None:
            return self._refuse("jd", "fields", {"error_response": {"code": "61", "zh_desc": "参数错误"}})
        self._take("jd", "", str(business["skuId"]), quantity)
        return self._send({"jingdong_stock_write_updateSkuStock_responce": {"code": "0", "success": True}})

    def _douyin(self, query: dict[str, str], body: bytes) -> None:
        if query.get("sign") != douyin_expected_sign(query) or body.decode() != query.get("param_json"):
            return self._refuse("douyin", "sign", {"code": 30001, "msg": "sign 校验失败"})
        param = json.loads(query["param_json"])
        quantity = _whole(param.get("stock_num"))
        sku = str(param.get("sku_id") or param.get("code") or "")
        if query.get("method") != "sku.syncStock" or not sku or quantity is None:
            return self._refuse("douyin", "fields", {"code": 40004, "msg": "参数错误"})
        if param.get("incremental") is not False:
            return self._refuse("douyin", "incremental", {"code": 40004, "msg": "incremental 必须为 false"})
        self._take("douyin", str(param.get("product_id") or ""), sku, quantity)
        return self._send({"code": 10000, "msg": "success", "data": {}})

    def _youzan(self, query: dict[str, str], body: bytes) -> None:
        if query.get("access_token") != TOKEN:
            return self._refuse(
                "youzan", "token", {"success": False, "gw_err_resp": {"err_code": 4201, "err_msg": "token"}}
            )
        request = json.loads(body)
        quantity = _whole(request.get("quantity"))
        if not request.get("item_id") or quantity is None or request.get("type") != 0:
            return self._refuse("youzan", "fields", {"success": False, "code": 141500101, "message": "参数错误"})
        self._take("youzan", str(request["item_id"]), str(request.get("sku_id") or ""), quantity)
        return self._send({"success": True, "code": 200, "data": {"is_success": True}})

    def _wechat(self, query: dict[str, str], body: bytes) -> None:
        if query.get("access_token") != TOKEN:
            return self._refuse("wechat", "token", {"errcode": 40001, "errmsg": "invalid credential"})
        request = json.loads(body)
        quantity = _whole(request.get("num"))
        if not request.get("product_id") or not request.get("sku_id") or quantity is None:
            return self._refuse("wechat", "fields", {"errcode": 10020051, "errmsg": "参数错误"})
        if request.get("diff_type") != 3:
            return self._refuse("wechat", "diff_type", {"errcode": 10020055, "errmsg": "参数有误"})
        self._take("wechat", str(request["product_id"]), str(request["sku_id"]), quantity)
        return self._send({"errcode": 0, "errmsg": "ok"})


@contextmanager
def running(api: FakeStockApi) -> Iterator[FakeStockApi]:
    """Serve the fake on a free local port for the duration of the block."""
    with serving(type("Handler", (_Handler,), {"api": api})) as base_url:
        api.base_url = base_url
        yield api
