"""Receivers as the audit reads them: which phones can be called, which addresses reach a door, and when two
addresses are one door."""

from __future__ import annotations

import pytest

from app.domain.orders import pii
from app.domain.orders.features import address_complete, phone_valid
from app.domain.orders.receivers import has_street_detail, normalized_address, phone_kind

SHANGHAI = ("上海", "上海市", "浦东新区", "张江镇")


@pytest.mark.parametrize(
    ("phone", "kind"),
    [
        ("13812345678", "mobile"),
        ("138-1234-5678", "mobile"),
        ("+86 138 1234 5678", "mobile"),
        ("１３８１２３４５６７８", "mobile"),
        ("18400913965-7576", "virtual"),  # 抖店 phone_no_a-phone_no_b
        ("18877771111-123", "virtual"),  # Taobao oaid decrypted with privacy_protection=true
        ("13244445555转3021", "virtual"),
        ("700507877719557", "virtual"),  # the 700 range that replaces 11 + 4
        ("1381234567", ""),  # 10 digits
        ("138123456789", ""),  # 12 digits
        ("12345678901", ""),  # no mobile starts with 12
        ("138****5678", ""),
        ("$158$1$c2VjcmV0$1$", ""),
        ("021-12345678", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_a_phone_is_a_mobile_a_virtual_number_or_neither(phone: str | None, kind: str) -> None:
    assert phone_kind(phone) == kind


def test_a_phone_is_valid_when_it_can_be_called_or_the_platform_keeps_it() -> None:
    assert phone_valid("13812345678", protected=False)
    assert phone_valid("18400913965-7576", protected=True)
    assert not phone_valid("1381234567", protected=False)
    assert not phone_valid("1381234567", protected=True), "a number given in clear is checked even then"
    assert phone_valid(None, protected=True), "the platform hands the courier a virtual number"
    assert not phone_valid(None, protected=False)


@pytest.mark.parametrize(
    ("street", "complete"),
    [
        ("张江路 88 弄 6 号 1202 室", True),
        ("上海市浦东新区张江路88弄6号", True),
        ("张家村", True),
        ("恒隆广场", True),
        ("上海", False),
        ("上海市", False),
        ("浦东新区", False),
        ("上海市浦东新区张江镇", False),
        ("门店自提", False),
        ("", False),
    ],
)
def test_a_street_in_clear_must_name_more_than_its_area(street: str, complete: bool) -> None:
    assert has_street_detail(street, SHANGHAI) is complete


def test_a_protected_address_is_complete_with_the_platforms_district_and_detail() -> None:
    receiver = {"name": "王**", "province": "上海", "city": "上海市", "district": "浦东新区", "address": "张江路****"}
    assert address_complete(receiver, None, protected=True)
    assert address_complete({**receiver, "name": ""}, None, protected=True), "有赞 may hide the name too"
    assert not address_complete({**receiver, "district": ""}, None, protected=True)
    assert not address_complete(receiver, None, protected=False), "a mask alone is not an address"
    assert not address_complete(receiver, "上海", protected=True), "a clear street is checked even then"


def test_one_door_written_many_ways_is_one_address() -> None:
    written = [
        ("上海", "上海市", "浦东新区", "张江镇", "张江路 88 弄 6 号 1202 室"),
        ("上海市", "上海", "浦东新区", "", "张江路８８弄６號１２０２室"),
        ("上海", "上海市", "浦东新区", "", "上海市浦东新区张江路88弄6号，1202室"),
        ("上海", "上海市", "浦东新区", "张江镇", "张江镇张江路 88弄 6号 1202室"),
    ]
    assert len({normalized_address(*address) for address in written}) == 1
    other_room = normalized_address("上海", "上海市", "浦东新区", "", "张江路 88 弄 6 号 1203 室")
    other_district = normalized_address("上海", "上海市", "闵行区", "", "张江路 88 弄 6 号 1202 室")
    assert other_room != normalized_address(*written[0]) != other_district


def test_the_same_address_key_ignores_who_receives_it_and_needs_a_street() -> None:
    key = pii.address_key("k" * 40, SHANGHAI, "张江路 88 弄 6 号")
    assert key == pii.address_key("k" * 40, ("上海", "上海市", "浦东新区", ""), "张江路88弄6号")
    assert pii.address_key("k" * 40, SHANGHAI, "上海市浦东新区") == ""
    assert pii.address_token_key("k" * 40, "oaid-1") == pii.address_token_key("k" * 40, "oaid-1") != key
    assert pii.address_token_key("k" * 40, "") == ""


def test_a_virtual_number_is_masked_with_its_extension() -> None:
    assert pii.mask_phone("18400913965-7576") == "184****3965-7576"
    assert pii.mask_phone("13812345678") == "138****5678"
