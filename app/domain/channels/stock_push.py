"""库存推送: telling each shop's platform how many of a SKU it may sell (its channel stock).

The channel-stock job recomputes what each shop publishes; when a mapped SKU's figure changes it stages one push
per (shop, SKU) in the outbox (``inventory.services.apply_channel_stock``). The push job reads the figure as it is
when it runs, so ten changes in a second are one push of the last figure, and always sends the full quantity,
never a difference, so a repeated push is harmless. Each platform is called the way its pulls are (the shop's API
address, app key, secret and token; the adapters' signers), with the platform's own stock API:

- 淘宝 / 天猫 ``taobao.item.quantity.update``: ``num_iid`` (the item), ``sku_id`` (or ``outer_id``), ``quantity``,
  ``type=1`` (全量). developer.alibaba.com/docs/api.htm?apiId=38973 (the Tmall twin's page gives the same fields).
- 京东 ``jingdong.stock.write.updateSkuStock``: ``skuId``, ``stockNum`` in ``360buy_param_json`` (JD's
  StockWriteUpdateSkuStockRequest in its SDK).
- 抖店 ``sku.syncStock``: ``sku_id`` (or ``code``), ``product_id`` when known, ``stock_num``, ``incremental=false``
  (doudian SDK SkuSyncStockParam).
- 有赞 ``youzan.item.quantity.update`` 3.0.0: ``item_id``, ``sku_id``, ``quantity``, ``type=0`` (全量) with the shop's
  ``access_token``.
- 微信小店 / 小程序 ``/channels/ec/product/stock/update``: ``product_id``, ``sku_id``, ``diff_type=3`` (设置), ``num``
  with the ``access_token`` (developers.weixin.qq.com/doc/store/API/product/stock_update.html).

快手 is left out: its ``open.item.sku.stock.update`` only adds or takes away units (see ``STOCK_PUSH_CHANNELS``).
A refusal the platform means (a bad parameter, an unknown SKU, a bad signature) is recorded on the channel stock
and shown on the SKU's page; a platform that cannot be reached or is busy is recorded too and retried by the outbox.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from app.db import Database
from app.domain.channels.adapters import jd, taobao
from app.domain.channels.adapters.base import Credentials, PullError, response_json
from app.domain.channels.adapters.douyin import signed_params
from app.domain.channels.services import credentials_of
from app.domain.inventory import services as inventory
from app.domain.inventory import sku_mappings
from app.domain.inventory.models import SkuMapping
from app.domain.inventory.services import PushOutcome
from app.domain.shops import services as shop_readers
from app.domain.shops.models import STOCK_PUSH_CHANNELS, Channel, Shop
from app.settings import Settings

#: How long one platform call may take before it counts as unreachable (and is retried).
TIMEOUT_SECONDS = 15.0


class PushRetry(ConnectionError):
    """A platform could not be reached or was busy: the outbox runs the push again later, with back-off. A
    connection error, so a batch puts all its messages back (the figures that landed are sent again then, which
    the full quantity makes harmless) rather than running them one by one at once."""


@dataclass(frozen=True)
class Refused:
    """The platform (or the mapping) says no for good: ``code`` is one of ``inventory.PUSH_ERRORS``."""

    code: str
    detail: str = ""

    def stored(self) -> str:
        return f"{self.code}:{self.detail}"[:500]


class Busy(Exception):
    """Raised by a platform call for an answer that means "try again later"."""


#: What a platform said to one push: None when it took the figure.
Outcome = Refused | None
#: One platform SKU's push: the mapping that names it and the full quantity to send.
Push = Callable[[httpx.AsyncClient, Credentials, SkuMapping, int], Awaitable[Outcome]]


def _detail(*parts: Any) -> str:
    return " ".join(str(part) for part in parts if part not in (None, "")).strip()


async def _post(client: httpx.AsyncClient, url: str, **kwargs: Any) -> dict[str, Any]:
    """A platform's JSON answer; unreachable, a 5xx or a garbled body is :class:`Busy`."""
    try:
        response = await client.post(url, timeout=TIMEOUT_SECONDS, **kwargs)
    except httpx.HTTPError as exc:
        raise Busy(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise Busy(f"HTTP {response.status_code}")
    try:
        body = response_json(response)
    except PullError as exc:
        raise Busy(str(exc)) from exc
    if not isinstance(body, dict):
        raise Busy("the answer is not a JSON object")
    return body


async def push_taobao(client: httpx.AsyncClient, creds: Credentials, mapping: SkuMapping, quantity: int) -> Outcome:
    """淘宝 / 天猫: ``taobao.item.quantity.update``, type 1 (全量)."""
    if not mapping.platform_item_id:
        return Refused("no_item_id")
    business = {"num_iid": mapping.platform_item_id, "quantity": str(quantity), "type": "1"}
    if mapping.platform_sku_id:
        business["sku_id"] = mapping.platform_sku_id
    else:
        business["outer_id"] = mapping.outer_id  # TOP finds the SKU by its 商家编码
    params = taobao.signed_params(creds, "taobao.item.quantity.update", business)
    body = await _post(client, f"{creds.base_url.rstrip('/')}/router/rest", data=params)
    error = body.get("error_response")
    if isinstance(error, dict):
        # TOP's isp.* sub-codes and code 7 (calls limited) are its own trouble, worth another try.
        if str(error.get("sub_code") or "").startswith("isp.") or str(error.get("code")) in ("7", "520"):
            raise Busy(_detail(error.get("code"), error.get("sub_msg") or error.get("msg")))
        return Refused("refused", _detail(error.get("sub_msg") or error.get("msg"), f"({error.get('code')})"))
    return None


async def push_jd(client: httpx.AsyncClient, creds: Credentials, mapping: SkuMapping, quantity: int) -> Outcome:
    """京东: ``jingdong.stock.write.updateSkuStock``, the SKU's whole stock."""
    if not mapping.platform_sku_id:
        return Refused("no_sku_id")
    business = {"skuId": mapping.platform_sku_id, "stockNum": quantity}
    params = jd.signed_params(creds, "jingdong.stock.write.updateSkuStock", business)
    body = await _post(client, f"{creds.base_url.rstrip('/')}/routerjson", data=params)
    error = body.get("error_response")
    if isinstance(error, dict):
        return Refused("refused", _detail(error.get("zh_desc") or error.get("en_desc"), f"({error.get('code')})"))
    return None


async def push_douyin(client: httpx.AsyncClient, creds: Credentials, mapping: SkuMapping, quantity: int) -> Outcome:
    """抖店: ``sku.syncStock`` with ``incremental=false`` (全量)."""
    business: dict[str, Any] = {"incremental": False, "stock_num": quantity}
    if mapping.platform_sku_id:
        business["sku_id"] = mapping.platform_sku_id
    else:
        business["code"] = mapping.outer_id  # 抖店's SKU 编码 (商家编码)
    if mapping.platform_item_id:
        business["product_id"] = mapping.platform_item_id
    param_json = json.dumps(business, separators=(",", ":"), sort_keys=True)
    params = signed_params(creds, "sku.syncStock", param_json)
    body = await _post(client, f"{creds.base_url.rstrip('/')}/sku/syncStock", params=params, content=param_json)
    code = body.get("code")
    if code == 10000:
        return None
    if code in (50002, 60000):  # 抖店's system busy / service unavailable
        raise Busy(_detail(code, body.get("msg"), body.get("sub_msg")))
    return Refused("refused", _detail(body.get("sub_msg") or body.get("msg"), f"({code})"))


async def push_youzan(client: httpx.AsyncClient, creds: Credentials, mapping: SkuMapping, quantity: int) -> Outcome:
    """有赞: ``youzan.item.quantity.update`` 3.0.0, type 0 (全量)."""
    if not mapping.platform_item_id:
        return Refused("no_item_id")
    request: dict[str, Any] = {"item_id": mapping.platform_item_id, "quantity": quantity, "type": 0}
    if mapping.platform_sku_id:
        request["sku_id"] = mapping.platform_sku_id
    body = await _post(
        client,
        f"{creds.base_url.rstrip('/')}/api/youzan.item.quantity.update/3.0.0",
        params={"access_token": creds.access_token},
        json=request,
    )
    if body.get("success"):
        return None
    gateway = body.get("gw_err_resp")
    error: dict[str, Any] = gateway if isinstance(gateway, dict) else {}
    return Refused(
        "refused",
        _detail(error.get("err_msg") or body.get("message"), f"({error.get('err_code') or body.get('code')})"),
    )


async def push_wechat(client: httpx.AsyncClient, creds: Credentials, mapping: SkuMapping, quantity: int) -> Outcome:
    """微信小店: ``/channels/ec/product/stock/update`` with ``diff_type`` 3 (设置: the figure itself). WeChat advises
    adding or taking away under heavy concurrent sales, but only setting the figure keeps a repeated push harmless."""
    if not mapping.platform_item_id:
        return Refused("no_item_id")
    if not mapping.platform_sku_id:
        return Refused("no_sku_id")
    body = await _post(
        client,
        f"{creds.base_url.rstrip('/')}/channels/ec/product/stock/update",
        params={"access_token": creds.access_token},
        json={
            "product_id": mapping.platform_item_id,
            "sku_id": mapping.platform_sku_id,
            "diff_type": 3,
            "num": quantity,
        },
    )
    code = body.get("errcode")
    if code == 0:
        return None
    if code in (-1, 10020112):  # system busy; this SKU updated too often
        raise Busy(_detail(code, body.get("errmsg")))
    return Refused("refused", _detail(body.get("errmsg"), f"({code})"))


#: Each channel with a platform stock API, by how one of its SKUs is pushed.
PUSHES: Mapping[Channel, Push] = {
    Channel.taobao: push_taobao,
    Channel.tmall: push_taobao,
    Channel.jd: push_jd,
    Channel.douyin: push_douyin,
    Channel.youzan: push_youzan,
    Channel.wechat_channels: push_wechat,
    Channel.wechat_miniprogram: push_wechat,
}
assert set(PUSHES) == STOCK_PUSH_CHANNELS, "every channel the channel-stock job stages pushes for has a client"
#: The channels whose calls are signed with the app key and secret (the others authenticate by access token).
SIGNED = frozenset({Channel.taobao, Channel.tmall, Channel.jd, Channel.douyin})


def _targets(values: Iterable[Any]) -> list[tuple[int, str]]:
    """The (shop id, SKU code) pairs of the push messages' arguments."""
    pairs = []
    for value in values:
        shop_id, sku = value
        pairs.append((int(shop_id), str(sku)))
    return pairs


async def push_channel_stock(
    db: Database, settings: Settings, pairs: Iterable[Any], *, client: httpx.AsyncClient | None = None
) -> dict[str, int]:
    """Tell each (shop, SKU)'s platform the shop's current figure, grouped by shop, and record what landed. A
    disabled shop, a channel without a stock API and a SKU the shop no longer maps are skipped. Raises
    :class:`PushRetry` after recording when a platform could not be reached, so the outbox tries again."""
    wanted = _targets(pairs)
    async with db.transaction() as session:
        quantities = await inventory.take_channel_push(session, wanted)
        mappings = await sku_mappings.push_targets(session, quantities)
        shops = await shop_readers.shops_by_id(session, {shop_id for shop_id, _ in quantities})
    by_shop: dict[int, list[tuple[str, SkuMapping]]] = defaultdict(list)
    for (shop_id, sku), mapping in mappings.items():
        by_shop[shop_id].append((sku, mapping))
    outcomes: dict[tuple[int, str], PushOutcome] = {}
    busy: list[str] = []
    own = client is None
    http = client or httpx.AsyncClient()
    try:
        for shop_id, skus in sorted(by_shop.items()):
            shop = shops.get(shop_id)
            if shop is None or not shop.is_active or shop.channel not in PUSHES:
                continue
            await _push_shop(http, settings, shop, skus, quantities, outcomes, busy)
    finally:
        if own:
            await http.aclose()
    async with db.transaction() as session:
        await inventory.record_channel_push(session, outcomes)
    if busy:
        raise PushRetry("; ".join(busy)[:1000])
    landed = sum(1 for outcome in outcomes.values() if outcome.error is None)
    return {"pushed": landed, "refused": len(outcomes) - landed}


async def _push_shop(
    http: httpx.AsyncClient,
    settings: Settings,
    shop: Shop,
    skus: list[tuple[str, SkuMapping]],
    quantities: Mapping[tuple[int, str], int],
    outcomes: dict[tuple[int, str], PushOutcome],
    busy: list[str],
) -> None:
    """Push each of one shop's SKUs (one call each: the full-quantity APIs take one SKU at a time)."""
    assert shop.id is not None
    push = PUSHES[shop.channel]
    creds = credentials_of(shop, settings.secret_key)
    for sku, mapping in sorted(skus):
        quantity = quantities[(shop.id, sku)]
        if not creds.base_url or (shop.channel in SIGNED and not creds.app_key):
            outcomes[(shop.id, sku)] = PushOutcome(quantity, Refused("no_api").stored())
            continue
        try:
            refused = await push(http, creds, mapping, quantity)
        except Busy as exc:
            outcomes[(shop.id, sku)] = PushOutcome(quantity, Refused("unreachable", str(exc)[:300]).stored())
            busy.append(f"{shop.code}/{sku}: {exc}")
            continue
        outcomes[(shop.id, sku)] = PushOutcome(quantity, refused.stored() if refused else None)
