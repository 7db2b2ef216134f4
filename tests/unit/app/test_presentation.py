"""What people read: money in yuan, China time, role navigation, and a complete Chinese catalog."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import nodes
from markupsafe import Markup

from app.auth import PERMISSIONS
from app.domain.accounts.models import Role
from app.domain.accounts.services import Actor
from app.domain.orders.presentation import CHANNEL_LABELS, helpers
from app.i18n import LOCALE_DIR, current_locale, label_of
from app.settings import PROJECT_ROOT
from app.templating import build_environment, china_time, navigation_for, yuan


@pytest.mark.parametrize(
    ("fen", "shown"),
    [(0, "¥0.00"), (5, "¥0.05"), (123450, "¥1,234.50"), (-990, "-¥9.90"), (None, "—"), (100000000, "¥1,000,000.00")],
)
def test_money_is_shown_in_yuan(fen, shown):
    assert yuan(fen) == shown


def test_times_are_shown_in_china_time():
    assert china_time(datetime(2026, 11, 10, 16, 0, tzinfo=UTC)) == "2026-11-11 00:00"


def test_a_known_value_is_translated_and_an_unknown_one_comes_back_as_plain_text():
    token = current_locale.set("zh_Hans")
    try:
        assert label_of(CHANNEL_LABELS, "tmall") == "天猫"
        unknown = helpers()["tag_label"]("<b>50%off")
        assert unknown == "<b>50%off" and not isinstance(unknown, Markup)
        assert label_of(CHANNEL_LABELS, None) == ""
    finally:
        current_locale.reset(token)


def test_templates_translate_only_their_own_words_never_data():
    """Jinja's ``_()`` marks what it returns as safe and %-formats it, so its argument must be a literal."""
    env = build_environment()
    offenders = []
    for path in sorted((PROJECT_ROOT / "templates").rglob("*.html")):
        tree = env.parse(path.read_text(encoding="utf-8"))
        for call in tree.find_all(nodes.Call):
            if isinstance(call.node, nodes.Name) and call.node.name in {"_", "gettext", "ngettext"}:
                if not call.args or not all(isinstance(arg, nodes.Const) for arg in call.args[:1]):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{call.lineno}")
    assert offenders == []


def test_only_admins_see_settings_and_only_finance_and_admins_see_finance():
    for role in Role:
        keys = {item.key for item in navigation_for(Actor("user", 1, "x", role=role))}
        assert ("settings" in keys) is (role is Role.admin)
        assert ("finance" in keys) is (role in (Role.admin, Role.finance))


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
