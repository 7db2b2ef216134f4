"""Live traffic for the demo behind ``ruleflow demo-traffic``: new orders of every channel, placed now, streamed
into the running demo server through its real webhook so that the home dashboard moves.

The orders go to the demo's own shops (the seed's, and the two its history adds) in the demo's mix of channels
(``seed.CHANNEL_SHARES``), each signed with its shop's webhook secret; ``loadtest.send`` posts them at the rate.
Before the first order the demo is made ready for the traffic, changing only what is missing: a webhook secret
for a shop that has none, stock received where the traffic would run the pool dry, and the four-stage flow
published when no flow is live. Refused in production.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

import httpx

from app.db import Database, utcnow
from app.domain.channels import services as channels
from app.domain.shops import services as shop_readers
from app.loadtest import Sent, Target, Watch, publish_standard_flow, send, top_up_stock
from app.seed import CHANNEL_SHARES, add_extra_shops
from app.settings import Settings

DEFAULT_MINUTES = 10.0
#: Connections at once: enough for a few hundred orders a second on the embedded server.
CONCURRENCY = 8
#: Free units kept per SKU in each warehouse that stocks it, at least; more when the traffic asks for more.
MIN_STOCK = 200


class TrafficRefused(Exception):
    """The traffic would go where it must not (a production database) or cannot go (no server, no demo shops)."""


@dataclass
class Readiness:
    """What making the demo ready for the traffic changed (nothing, the second time)."""

    secrets_set: int = 0
    stock_rows_topped_up: int = 0
    published_flow: str | None = None

    def text(self) -> str:
        parts = [f"webhook secrets set {self.secrets_set}", f"stock rows topped up {self.stock_rows_topped_up}"]
        parts.append(f"flow published: {self.published_flow}" if self.published_flow else "a flow was already live")
        return "ready: " + ", ".join(parts)


def refuse_in_production(settings: Settings) -> None:
    if not settings.is_development:
        raise TrafficRefused(
            "demo-traffic refuses to run in production (RULEFLOW_ENV=production): it fills the shops with made-up "
            "orders, sets webhook secrets and tops up stock. Nothing was changed."
        )


async def check_reachable(base_url: str) -> None:
    """Refuse, saying how to start it, when no server answers at ``base_url``."""
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
            await client.get("/healthz")
    except httpx.HTTPError as exc:
        raise TrafficRefused(
            f"the demo server at {base_url} is not reachable ({type(exc).__name__}): start it with "
            "`python3 dev.py run` (or `ruleflow serve`), or give its address with --url. Nothing was changed."
        ) from exc


async def make_ready(db: Database, settings: Settings, *, orders: int) -> Readiness:
    """Give the demo's shops what the traffic needs (see the module); changes only what is missing."""
    refuse_in_production(settings)
    done = Readiness()
    async with db.transaction() as session:
        await add_extra_shops(session)
        await session.flush()
        shops = {s.code: s for s in await shop_readers.list_shops(session)}
        missing = [code for _, code, _ in CHANNEL_SHARES if code not in shops]
        if missing:
            raise TrafficRefused(
                f"the demo's shops {', '.join(missing)} are missing: run `ruleflow seed-demo` first. Nothing was "
                "changed."
            )
        for _, code, _ in CHANNEL_SHARES:
            shop = shops[code]
            if not channels.webhook_secret_of(shop, settings.secret_key):
                channels.set_webhook_secret(shop, settings.secret_key, secrets.token_hex(24))
                session.add(shop)
                done.secrets_set += 1
    # As the history does: enough stock for the traffic, so that it is routed rather than held 缺货.
    done.stock_rows_topped_up = await top_up_stock(
        db, max(MIN_STOCK, orders // 6), ref=f"demo-traffic-{utcnow():%Y%m%d%H%M%S}", note="演示补货"
    )
    done.published_flow = await publish_standard_flow(db, "演示：发布标准四段流程")
    return done


async def targets(db: Database, settings: Settings) -> list[Target]:
    """The demo's shops in the demo's mix: each shop as many times as its share, in a fixed shuffled order, so that
    any hundred orders in a row are the mix exactly and the channels take turns."""
    async with db.reading() as session:
        shops = {s.code: s for s in await shop_readers.list_shops(session)}
    mix: list[Target] = []
    for channel, code, share in CHANNEL_SHARES:
        secret = channels.webhook_secret_of(shops[code], settings.secret_key)
        mix.extend(Target(channel, code, secret) for _ in range(share))
    random.Random("demo-traffic").shuffle(mix)
    return mix


async def stream(
    db: Database, settings: Settings, base_url: str, *, rate: float, minutes: float, tick: Watch | None = None
) -> Sent:
    """Post ``planned(rate, minutes)`` of the demo's orders at ``rate`` a second (all of them, later than planned
    when the server takes them slower); what the server said."""
    return await send(
        base_url,
        await targets(db, settings),
        count=planned(rate, minutes),
        rate=rate,
        duration=None,
        concurrency=CONCURRENCY,
        token=None,
        tick=tick,
    )


def planned(rate: float, minutes: float) -> int:
    """The orders of a run: ``rate`` a second for ``minutes``."""
    return max(1, round(rate * minutes * 60))


def progress_text(sent: Sent, elapsed: float) -> str:
    """One line of progress: sent, accepted and the rate accepted so far."""
    per_second = sent.accepted / elapsed if elapsed > 0 else 0.0
    return f"sent {sent.attempted:,} · accepted {sent.accepted:,} · {per_second:,.1f}/s"


def summary(sent: Sent) -> list[str]:
    """What the run did, for the terminal: the totals, each channel's orders, and why any were refused."""
    lines = [f"{progress_text(sent, sent.seconds)} over {sent.seconds:.1f} s (run {sent.run})"]
    lines.append("by channel: " + ", ".join(f"{k} {v:,}" for k, v in sorted(sent.by_channel.items())))
    for status, n in sorted(sent.by_status.items()):
        if status != "200":
            lines.append(f"refused {status}: {n:,}, e.g. {sent.reasons.get(status, '')[:160]}")
    return lines
