"""The demo history's plan: its 双十一-style spike falls on 11-11 when the month holds it, a week old or more."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import pytest

from app import demo_history
from app.db import CHINA


def busiest_day(now: datetime) -> date:
    placed = Counter(order.placed_at.astimezone(CHINA).date() for order in demo_history.plan(3000, now))
    return max(placed, key=lambda day: placed[day])


@pytest.mark.parametrize(
    ("now", "spike"),
    [
        (datetime(2026, 12, 3, 15, 0, tzinfo=CHINA), date(2026, 11, 11)),  # 22 days on: the sale itself
        (datetime(2026, 11, 18, 9, 0, tzinfo=CHINA), date(2026, 11, 11)),  # a week on
        (datetime(2026, 11, 15, 9, 0, tzinfo=CHINA), date(2026, 10, 27)),  # too fresh: 19 days back instead
        (datetime(2026, 12, 10, 9, 0, tzinfo=CHINA), date(2026, 11, 21)),  # its eve would fall out of the month
        (datetime(2026, 6, 1, 9, 0, tzinfo=CHINA), date(2026, 5, 13)),
        (datetime(2027, 1, 2, 9, 0, tzinfo=CHINA), date(2026, 12, 14)),  # last year's 11-11 is long gone
    ],
)
def test_the_busiest_day_of_the_history_is_its_spike(now: datetime, spike: date) -> None:
    assert busiest_day(now) == spike
