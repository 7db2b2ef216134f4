"""财务 overview: this month's receivables and what waits for approval, from the vouchers booked."""

from __future__ import annotations

import re

from app.domain.accounts.models import Role
from app.domain.orders.models import OrderStatus
from tests.integration.aftersales.test_cases import routed_order
from tests.integration.finance.test_posting import book_staged, price_the_catalogue, set_status
from tests.integration.forms import login
from tests.integration.processing.test_actions import ROUTE, linear_flow, publish


def tile(html: str, key: str) -> int:
    match = re.search(rf'data-testid="finance-{key}" data-value="(-?\d+)"', html)
    assert match, key
    return int(match[1])


async def test_the_overview_counts_this_months_vouchers_and_links_to_those_waiting(
    client, db, settings, make_user, demo_data
):
    await make_user(Role.finance, "fin")
    await login(client, "fin")
    assert 'data-testid="finance-empty"' in (await client.get("/finance/")).text

    await price_the_catalogue(db)
    await publish(db, linear_flow(*ROUTE))
    for n, lines in enumerate(([("CABLE-C1", 2, 2900)], [("MASK-10", 1, 9900)])):
        order_id = await routed_order(db, settings, f"OV{n}", lines)
        await set_status(db, order_id, OrderStatus.delivered)
    await book_staged(db, settings)

    page = (await client.get("/finance/")).text
    assert tile(page, "drafts") == 2 and tile(page, "approved") == 0
    assert tile(page, "receivable") == 5800 + 9900
    assert page.count('data-testid="finance-recent-voucher"') == 2
    assert 'href="/finance/vouchers/?status=draft"' in page or 'href="/finance/vouchers?status=draft"' in page
