"""Demo data: one user per role, warehouses, SKUs, carriers and a few channel shops. Runs once."""

from __future__ import annotations

import secrets

from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts import services as accounts
from app.domain.accounts.models import Role, UserCreate
from app.domain.accounts.services import SYSTEM
from app.domain.channels.models import Channel, Shop
from app.domain.fulfillment.models import Carrier
from app.domain.inventory.models import Sku, TemperatureZone, Warehouse, WarehouseKind

#: username, display name, role, password. Demo passwords are printed by the run command.
DEMO_USERS = [
    ("admin", "系统管理员", Role.admin, "admin-demo-123"),
    ("designer", "规则设计 王芳", Role.designer, "designer-demo-123"),
    ("operator", "审单客服 李强", Role.operator, "operator-demo-123"),
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
    ("GIFT-TOTE", "品牌帆布袋（赠品）", "赠品", 150, 800, TemperatureZone.ambient, 0),
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
    (Channel.taobao, "tmall-flagship", "天猫旗舰店"),
    (Channel.jd, "jd-pop", "京东自营旗舰店"),
    (Channel.douyin, "douyin-live", "抖音直播小店"),
    (Channel.wechat, "wechat-mini", "微信小程序商城"),
    (Channel.pos, "pos-sh-nanjingxilu", "上海南京西路门店收银"),
]


async def seed_demo(session: AsyncSession) -> bool:
    """Add the demo data unless users already exist. Returns whether anything was added."""
    if await accounts.count_users(session) > 0:
        return False
    for username, name, role, password in DEMO_USERS:
        await accounts.create_user(
            session, UserCreate(username=username, display_name=name, role=role, password=password), SYSTEM
        )
    for code, name, kind, province, city, priority, regions in WAREHOUSES:
        session.add(
            Warehouse(
                code=code,
                name=name,
                kind=kind,
                province=province,
                city=city,
                priority=priority,
                serves_regions=regions,
                cost_profile={"per_order_fen": 150, "per_item_fen": 30},
            )
        )
    for code, name, category, weight, volume, zone, price in SKUS:
        session.add(
            Sku(
                code=code,
                name=name,
                category=category,
                weight_g=weight,
                volume_cm3=volume,
                temperature_zone=zone,
                price_fen=price,
                is_bundle=code.startswith("SET-"),
            )
        )
    for code, name, cold in CARRIERS:
        session.add(Carrier(code=code, name=name, supports_cold_chain=cold))
    for channel, code, name in SHOPS:
        session.add(Shop(channel=channel, code=code, name=name, webhook_secret=secrets.token_hex(24)))
    await session.flush()
    await accounts.audit(session, SYSTEM, "demo.seeded")
    return True
