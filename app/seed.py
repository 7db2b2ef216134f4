"""Demo data: one user per role, warehouses, SKUs, carriers and a few channel shops. Runs once."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts import services as accounts
from app.domain.accounts.models import Role, UserCreate
from app.domain.accounts.services import SYSTEM
from app.domain.flows import services as flows
from app.domain.fulfillment.models import Carrier, CarrierRate
from app.domain.inventory import catalogue
from app.domain.inventory import services as inventory
from app.domain.inventory.models import Sku, TemperatureZone, Warehouse, WarehouseKind
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel, Shop

#: username, display name, role, password. Demo passwords are printed by the run command.
DEMO_USERS = [
    ("admin", "系统管理员", Role.admin, "admin-demo-123"),
    ("designer", "规则设计 王芳", Role.designer, "designer-demo-123"),
    ("operator", "审单客服 李强", Role.operator, "operator-demo-123"),
    ("finance", "财务 陈静", Role.finance, "finance-demo-123"),
    ("viewer", "只读 赵敏", Role.viewer, "viewer-demo-123"),
]

WAREHOUSES = [
    ("SH01", "上海仓", WarehouseKind.regional, "上海", "上海", 10, ["华东"]),
    ("BJ01", "北京仓", WarehouseKind.regional, "北京", "北京", 20, ["华北", "东北"]),
    ("GZ01", "广州仓", WarehouseKind.regional, "广东", "广州", 20, ["华南"]),
    ("WH01", "武汉仓", WarehouseKind.regional, "湖北", "武汉", 30, ["华中", "西北"]),
    ("CD01", "成都仓", WarehouseKind.regional, "四川", "成都", 30, ["西南", "西北"]),
    ("SH-S01", "上海南京西路门店", WarehouseKind.store, "上海", "上海", 50, ["华东"]),
    ("SH-F01", "浦东前置仓", WarehouseKind.front, "上海", "上海", 40, ["华东"]),
]

SKUS = [
    ("PHONE-X1", "星河 X1 手机 8+256G", "3C", 420, 900, TemperatureZone.ambient, 399900),
    ("EARBUD-P2", "声悦 P2 无线耳机", "3C", 80, 300, TemperatureZone.ambient, 49900),
    ("CABLE-C1", "快充数据线 1m", "3C", 40, 100, TemperatureZone.ambient, 2900),
    ("SERUM-30", "玻尿酸精华 30ml", "美妆", 120, 200, TemperatureZone.ambient, 25900),
    ("MASK-10", "补水面膜 10 片装", "美妆", 300, 600, TemperatureZone.ambient, 9900),
    ("TEE-BLK-L", "纯棉T恤 黑色 L", "服饰", 200, 1500, TemperatureZone.ambient, 7900),
    ("YOGURT-6", "鲜酸奶 6 杯装", "食品", 900, 1200, TemperatureZone.chilled, 3990),
    ("DUMPLING-1K", "手工水饺 1kg", "食品", 1050, 2000, TemperatureZone.frozen, 4590),
    ("GIFT-TOTE-01", "品牌帆布袋（赠品）", "赠品", 150, 800, TemperatureZone.ambient, 0),
    ("SET-SKIN", "护肤套装（精华+面膜）", "美妆", 420, 800, TemperatureZone.ambient, 32900),
]

CARRIERS = [
    ("SF", "顺丰速运", True),
    ("JD", "京东物流", True),
    ("ZTO", "中通快递", False),
    ("YTO", "圆通速递", False),
    ("STO", "申通快递", False),
    ("YUNDA", "韵达快递", False),
    ("EMS", "中国邮政 EMS", False),
]

SHOPS = [
    (Channel.tmall, "tmall-flagship", "天猫旗舰店"),
    (Channel.jd, "jd-pop", "京东自营旗舰店"),
    (Channel.douyin, "douyin-live", "抖音直播小店"),
    (Channel.kuaishou, "kuaishou-shop", "快手小店"),
    (Channel.youzan, "youzan-shop", "有赞微商城"),
    (Channel.wechat_channels, "wechat-channels", "视频号小店"),
    (Channel.wechat_miniprogram, "wechat-mini", "微信小程序商城"),
    (Channel.pos, "pos-sh-nanjingxilu", "上海南京西路门店收银"),
    (Channel.webshop, "webshop", "品牌官网商城"),
]

#: The store warehouse each POS shop's till sells from.
STORE_TILLS = {"pos-sh-nanjingxilu": "SH-S01"}

#: The shops of the channels ``seed_demo`` has none for, added by the demo's history and traffic.
EXTRA_SHOPS = (
    (Channel.taobao, "taobao-outlet", "淘宝折扣店"),
    (Channel.community_group, "community-group", "社区团购"),
)
#: The demo's mix: each channel's shop and its share of the orders, for its history and its live traffic alike.
CHANNEL_SHARES: tuple[tuple[Channel, str, int], ...] = (
    (Channel.tmall, "tmall-flagship", 22),
    (Channel.jd, "jd-pop", 16),
    (Channel.douyin, "douyin-live", 17),
    (Channel.taobao, "taobao-outlet", 8),
    (Channel.kuaishou, "kuaishou-shop", 8),
    (Channel.youzan, "youzan-shop", 5),
    (Channel.wechat_channels, "wechat-channels", 6),
    (Channel.wechat_miniprogram, "wechat-mini", 5),
    (Channel.pos, "pos-sh-nanjingxilu", 5),
    (Channel.webshop, "webshop", 4),
    (Channel.community_group, "community-group", 4),
)


#: carrier, first kg (fen), each further kg (fen), promised days; remote provinces cost more and take longer.
CARRIER_RATES = [
    ("SF", 1200, 200, 1),
    ("JD", 1000, 200, 2),
    ("EMS", 900, 150, 4),
    ("ZTO", 500, 100, 3),
    ("YTO", 480, 100, 3),
    ("STO", 450, 110, 4),
    ("YUNDA", 460, 100, 3),
]
REMOTE_PROVINCES = ["新疆", "西藏", "青海", "内蒙古"]
#: Within one province (同城/省内件) the economy carriers charge ¥1.50 less and SF / JD ¥2 less; next-day.
LOCAL_PROVINCES = ["上海", "北京", "广东", "湖北", "四川"]
LOCAL_DISCOUNT_FEN = {"ZTO": 150, "YTO": 150, "STO": 150, "YUNDA": 150, "SF": 200, "JD": 200}


async def seed_carrier_rates(session: AsyncSession, only: tuple[str, ...] | None = None) -> None:
    """A national rate line per carrier, a remote-province surcharge line, in-province lines, and cold-chain
    lines for SF and JD."""
    for code, first, extra, days in CARRIER_RATES:
        if only is not None and code not in only:
            continue
        if code in LOCAL_DISCOUNT_FEN:
            for province in LOCAL_PROVINCES:
                session.add(
                    CarrierRate(
                        carrier_code=code,
                        origin_province=province,
                        dest_province=province,
                        first_fee_fen=first - LOCAL_DISCOUNT_FEN[code],
                        extra_fee_fen_per_kg=extra,
                        promised_days=1,
                    )
                )
        session.add(CarrierRate(carrier_code=code, first_fee_fen=first, extra_fee_fen_per_kg=extra, promised_days=days))
        for province in REMOTE_PROVINCES:
            session.add(
                CarrierRate(
                    carrier_code=code,
                    dest_province=province,
                    first_fee_fen=first * 2,
                    extra_fee_fen_per_kg=extra * 3,
                    promised_days=days + 3,
                )
            )
    for code, first in (("SF", 2200), ("JD", 2000)):
        if only is not None and code not in only:
            continue
        for zone in ("chilled", "frozen"):
            session.add(
                CarrierRate(
                    carrier_code=code,
                    temperature_zone=zone,
                    first_fee_fen=first,
                    extra_fee_fen_per_kg=500,
                    promised_days=2,
                )
            )


async def seed_demo_flows(session: AsyncSession) -> None:
    """The shipped four-stage flow as a draft to start from; publishing it is left to an admin."""
    await flows.create_flow(session, SYSTEM, "标准四段订单处理", template="standard_four_stage", priority=100)


#: Demo stock per SKU: (warehouse, on hand) received through the ledger; the store and front warehouse keep
#: a little of the fast movers. Cold goods sit only where there is a cold room.
DEMO_STOCK = {
    "PHONE-X1": [("SH01", 120), ("BJ01", 80), ("GZ01", 60), ("WH01", 30), ("CD01", 25), ("SH-S01", 6)],
    "EARBUD-P2": [("SH01", 400), ("BJ01", 260), ("GZ01", 240), ("WH01", 90), ("CD01", 80), ("SH-F01", 40)],
    "CABLE-C1": [("SH01", 1500), ("BJ01", 900), ("GZ01", 800), ("WH01", 500), ("CD01", 400)],
    "SERUM-30": [("SH01", 300), ("BJ01", 150), ("GZ01", 180), ("SH-S01", 20), ("SH-F01", 30)],
    "MASK-10": [("SH01", 800), ("BJ01", 400), ("GZ01", 500), ("SH-S01", 40), ("SH-F01", 60)],
    "TEE-BLK-L": [("SH01", 200), ("GZ01", 150), ("WH01", 60), ("SH-S01", 12)],
    "YOGURT-6": [("SH01", 90), ("SH-F01", 40), ("BJ01", 50)],
    "DUMPLING-1K": [("SH01", 70), ("BJ01", 45), ("SH-F01", 15)],
    "GIFT-TOTE-01": [("SH01", 500), ("BJ01", 200), ("GZ01", 200)],
}


async def seed_demo_stock(session: AsyncSession) -> None:
    """Demo stock received through the inventory ledger, the SET-SKIN bundle, safety stock, low-stock
    thresholds and channel sync rules (the live-stream shop sells half the pool, less a buffer)."""
    await catalogue.set_bundle(session, "SET-SKIN", {"SERUM-30": 1, "MASK-10": 1}, SYSTEM)
    for sku, rows in DEMO_STOCK.items():
        for warehouse, qty in rows:
            await inventory.receive(session, warehouse, sku, qty, SYSTEM, ref="demo-opening", note="期初库存")
    for warehouse, sku, qty in (("SH01", "PHONE-X1", 10), ("SH01", "SERUM-30", 20), ("SH-S01", "PHONE-X1", 2)):
        await inventory.set_safety_stock(session, warehouse, sku, qty, SYSTEM)
    for sku, threshold in (("PHONE-X1", 350), ("DUMPLING-1K", 150), ("TEE-BLK-L", 100)):
        await inventory.set_low_stock_threshold(session, sku, threshold, SYSTEM)
    shops = {shop.code: shop.id for shop in await shop_readers.list_shops(session, order="id")}
    rules: list[tuple[str, str | None, int, int]] = [
        ("douyin-live", None, 50, 5),
        ("kuaishou-shop", None, 30, 3),
        ("pos-sh-nanjingxilu", "DUMPLING-1K", 10, 20),  # the till shows dumplings sold out: a visible shortfall
    ]
    for code, rule_sku, ratio, buffer in rules:
        shop_id = shops.get(code)
        if shop_id is not None:
            await inventory.set_channel_rule(session, shop_id, rule_sku, ratio, buffer, SYSTEM)


def demo_warehouse(row: tuple[str, str, WarehouseKind, str, str, int, list[str]]) -> Warehouse:
    """A warehouse of ``WAREHOUSES``, with the demo handling costs."""
    code, name, kind, province, city, priority, regions = row
    return Warehouse(
        code=code,
        name=name,
        kind=kind,
        province=province,
        city=city,
        priority=priority,
        serves_regions=regions,
        cost_profile={"per_order_fen": 150, "per_item_fen": 30},
    )


def demo_sku(row: tuple[str, str, str, int, int, TemperatureZone, int]) -> Sku:
    """A SKU of ``SKUS`` (codes starting SET- are bundles)."""
    code, name, category, weight, volume, zone, price = row
    return Sku(
        code=code,
        name=name,
        category=category,
        weight_g=weight,
        volume_cm3=volume,
        temperature_zone=zone,
        price_fen=price,
        is_bundle=code.startswith("SET-"),
    )


async def seed_demo(session: AsyncSession) -> bool:
    """Add the demo data unless users already exist. Returns whether anything was added."""
    if await accounts.count_users(session) > 0:
        return False
    for username, name, role, password in DEMO_USERS:
        await accounts.create_user(
            session, UserCreate(username=username, display_name=name, role=role, password=password), SYSTEM
        )
    for place in WAREHOUSES:
        session.add(demo_warehouse(place))
    for item in SKUS:
        session.add(demo_sku(item))
    for code, name, cold in CARRIERS:
        session.add(Carrier(code=code, name=name, supports_cold_chain=cold))
    for channel, code, name in SHOPS:
        # No webhook secret: one nobody has seen is no use; an admin makes one (shown once) on 渠道与店铺.
        session.add(Shop(channel=channel, code=code, name=name, store_warehouse_code=STORE_TILLS.get(code, "")))
    await session.flush()
    await seed_carrier_rates(session)
    await session.flush()
    await seed_demo_flows(session)
    await seed_demo_stock(session)
    await accounts.audit(session, SYSTEM, "demo.seeded")
    return True


async def add_extra_shops(session: AsyncSession) -> None:
    """The shops of the channels the seed has none for (淘宝, 社区团购), so every channel of the mix has a shop."""
    have = {s.code for s in await shop_readers.list_shops(session)}
    for channel, code, name in EXTRA_SHOPS:
        if code not in have:
            session.add(Shop(channel=channel, code=code, name=name))
