"""What people read: money in yuan, China time, role navigation, and a complete Chinese catalog."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app.auth import PERMISSIONS
from app.domain.accounts.models import Role
from app.domain.accounts.services import Actor
from app.i18n import LOCALE_DIR
from app.settings import PROJECT_ROOT
from app.templating import china_time, navigation_for, yuan


@pytest.mark.parametrize(
    ("fen", "shown"),
    [(0, "¥0.00"), (5, "¥0.05"), (123450, "¥1,234.50"), (-990, "-¥9.90"), (None, "—"), (100000000, "¥1,000,000.00")],
)
def test_money_is_shown_in_yuan(fen, shown):
    assert yuan(fen) == shown


def test_times_are_shown_in_china_time():
    assert china_time(datetime(2026, 11, 10, 16, 0, tzinfo=UTC)) == "2026-11-11 00:00"


def test_only_admins_see_settings_and_finance():
    for role in Role:
        keys = {item.key for item in navigation_for(Actor("user", 1, "x", role=role))}
        assert ("settings" in keys) is (role is Role.admin)
        assert ("finance" in keys) is (role is Role.admin)


def test_designers_cannot_publish_and_operators_cannot_edit_flows():
    assert "flows.publish" not in PERMISSIONS[Role.designer]
    assert "flows.edit" not in PERMISSIONS[Role.operator]
    assert not any(p.startswith(("settings", "flows", "review")) for p in PERMISSIONS[Role.viewer])


def test_every_message_in_code_and_templates_has_a_chinese_translation():
    method_map = [("app/**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(
            str(PROJECT_ROOT), method_map, options, keywords={"_": None, "gettext": None, "N_": None}
        )
        if message[0].startswith(("app", "templates"))
    }
    assert len(found) > 80, "extraction found too few messages to be checking anything"
    with (LOCALE_DIR / "zh_Hans" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    untranslated = sorted(m for m in found if not (catalog.get(m) and catalog.get(m).string))
    assert untranslated == []
