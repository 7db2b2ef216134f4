"""Each adapter turns its platform's real payload into our terms: fen, UTC, internal status, lines and markers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain.channels.adapters import ADAPTERS, adapter_for
from app.domain.channels.adapters.base import NormalizeError, china_time, yuan_to_fen
from app.domain.shops.models import Channel
from ruleflows import CHANNELS
from tests.samples import channels as samples


def normalize(channel: str, payload: dict) -> object:
    adapter = adapter_for(channel)
    return adapter.normalize(adapter.unwrap(payload))


def test_every_channel_the_rule_flows_know_has_an_adapter():
    assert {c.value for c in Channel} == set(CHANNELS)
    assert set(ADAPTERS) == set(Channel)


def test_yuan_strings_become_exact_fen_and_bad_amounts_name_the_field():
    assert yuan_to_fen("3999.00", "payment") == 399900
    assert yuan_to_fen("0.1", "payment") == 10
    with pytest.raises(NormalizeError) as caught:
        yuan_to_fen("12.345", "payment")
    assert caught.value.field == "payment"


def test_zone_less_chinese_times_are_read_as_china_time():
    assert china_time("2026-11-11 00:03:12", "created") == datetime(2026, 11, 10, 16, 3, 12, tzinfo=UTC)
    assert china_time("0001-01-01 00:00:00", "orderEndTime") is None


def test_taobao_multi_line_trade_with_a_gift():
    order = normalize("tmall", samples.taobao_multi_line_with_gift())
    assert order.external_id == "3958201746251038211"
    assert (order.raw_status, order.status) == ("WAIT_SELLER_SEND_GOODS", "received")
    assert order.created_at == datetime(2026, 11, 10, 16, 3, 12, tzinfo=UTC)
    assert (order.items_fen, order.shipping_fen, order.discount_fen, order.paid_fen) == (405700, 0, 20000, 385700)
    assert [(line.seller_sku, line.qty, line.unit_price_fen, line.paid_fen, line.is_gift) for line in order.lines] == [
        ("PHONE-X1", 1, 399900, 380900, False),
        ("CABLE-C1", 2, 2900, 4800, False),
        ("GIFT-TOTE-01", 1, 0, 0, True),
    ]
    assert sum(line.paid_fen for line in order.lines) == order.paid_fen
    assert order.phone == "13812345678"
    assert order.province == "上海"


def test_taobao_presale_with_deposit_paid_and_an_oaid_is_not_a_customer_key():
    order = normalize("taobao", samples.taobao_presale_deposit_paid())
    assert order.is_presale and order.deposit_paid
    assert "unpaid" in order.tags  # the balance is still due
    assert order.phone is None
    assert order.unionid == ""
    assert "oaid" in order.raw  # kept in the raw payload, used for nothing else


def test_taobao_bundle_and_partial_refund_are_marked():
    order = normalize("taobao", samples.taobao_bundle_partially_refunded())
    assert order.status == "shipped"
    assert order.lines[0].bundle_of == "护肤套装（精华+面膜）"
    assert order.lines[1].refund_status == "SUCCESS"
    assert order.tags == ["partially_refunded"]
    assert order.shipping_fen == 1000


def test_a_closed_taobao_trade_is_cancelled():
    payload = samples.taobao_multi_line_with_gift() | {"status": "TRADE_CLOSED_BY_TAOBAO"}
    assert normalize("taobao", payload).status == "cancelled"


def test_jd_order_spreads_the_coupon_onto_its_sku_and_keeps_the_masked_mobile():
    order = normalize("jd", samples.jd_order_with_coupon_and_gift())
    assert order.external_id == "285019374621"
    assert order.status == "received"
    assert (order.items_fen, order.discount_fen, order.paid_fen) == (52800, 2000, 50800)
    assert [(line.line_id, line.paid_fen, line.is_gift) for line in order.lines] == [
        ("100012", 47900, False),
        ("100013", 2900, False),
        ("100099", 0, True),
    ]
    assert order.paid_at == datetime(2026, 11, 11, 1, 15, 30, tzinfo=UTC)
    # Masked by JD: no phone in clear, the masked copy kept to show, and the receiver protected by the platform.
    assert (order.phone, order.phone_masked, order.receiver_protected) == (None, "139****1024", True)
    assert order.seller_memo == "老客户"


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("TRADE_CANCELED", "cancelled"),
        ("FINISHED_L", "completed"),
        ("LOCKED", "on_hold"),
        ("WAIT_GOODS_RECEIVE_CONFIRM", "shipped"),
    ],
)
def test_jd_order_states_map_to_internal_statuses(state, status):
    assert normalize("jd", samples.jd_order_with_coupon_and_gift() | {"orderState": state}).status == status


def test_douyin_presale_with_bundle_gift_and_refunded_line():
    order = normalize("douyin", {"data": {"shop_order_detail": samples.douyin_presale_bundle_gift_refund()}})
    assert order.external_id == "6921234567890123456"
    assert order.created_at == datetime(2026, 11, 10, 16, 0, tzinfo=UTC)
    assert (order.items_fen, order.discount_fen, order.paid_fen) == (42800, 1000, 41800)
    assert order.is_presale and order.deposit_paid
    assert order.lines[0].bundle_of == "SET-SKIN"
    assert order.lines[2].is_gift
    assert order.tags == ["partially_refunded"]
    assert order.phone is None and order.phone_masked == "1********35"
    assert order.address is None and order.address_masked == "玉林北路**号***"
    assert (order.province, order.city, order.district, order.town) == ("四川省", "成都市", "武侯区", "玉林街道")


def test_a_cancelled_douyin_order_is_cancelled_and_not_presale():
    order = normalize("douyin", samples.douyin_cancelled())
    assert order.status == "cancelled" and order.raw_status == "4"
    assert not order.is_presale


def test_kuaishou_millisecond_times_and_desensitised_receiver():
    order = normalize("kuaishou", samples.kuaishou_paid())
    assert order.external_id == "2411110012345678"
    assert order.paid_at == datetime(2026, 11, 10, 16, 0, 10, tzinfo=UTC)
    assert (order.items_fen, order.discount_fen, order.paid_fen) == (9900, 1000, 8900)
    assert order.lines[0].seller_sku == "MASK-10"
    assert order.phone is None and order.phone_masked == "158****6621"


def test_a_kuaishou_line_priced_0_is_a_gift_and_a_paid_line_is_not():
    payload = samples.kuaishou_paid()
    item = payload["orderItemInfo"]
    gift = {**item, "orderItemId": 2411110012345680, "relSkuId": "GIFT-TOTE-01", "originalPrice": 0, "price": 0}
    payload["orderItemInfo"] = [item, gift]
    order = normalize("kuaishou", payload)
    assert [(line.seller_sku, line.is_gift, line.paid_fen) for line in order.lines] == [
        ("MASK-10", False, 8900),
        ("GIFT-TOTE-01", True, 0),
    ]


def test_youzan_presale_phases_present_and_encrypted_phone():
    order = normalize("youzan", samples.youzan_presale_with_present())
    assert order.external_id == "E20261111083000012345"
    assert (order.items_fen, order.shipping_fen, order.discount_fen, order.paid_fen) == (7900, 800, 1000, 7700)
    assert order.is_presale and order.balance_due_at == datetime(2026, 11, 13, 15, 59, 59, tzinfo=UTC)
    assert [line.is_gift for line in order.lines] == [False, True]
    assert order.phone is None and order.address is None  # "$…$1$" is ciphertext, never clear text


def test_wechat_channels_order_with_unionid_and_free_gift():
    order = normalize("wechat_channels", {"errcode": 0, "order": samples.wechat_channels_order()})
    assert order.unionid == "oUnion_9Xk2Lm"
    assert order.phone == "13911112222"
    assert (order.items_fen, order.discount_fen, order.paid_fen) == (7980, 500, 7480)
    assert [(line.line_id, line.qty, line.is_gift) for line in order.lines] == [
        ("20000031-0", 2, False),
        ("20000099-1", 1, True),
    ]
    assert order.buyer_message == "冷藏发货"


def test_generic_pos_order():
    order = normalize("pos", samples.pos_order())
    assert order.status == "completed"
    assert order.paid_fen == 7900
    assert order.created_at == datetime(2026, 11, 12, 7, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("channel", "payload", "field"),
    [
        ("taobao", samples.taobao_multi_line_with_gift() | {"payment": "abc"}, "payment"),
        ("taobao", {**samples.taobao_multi_line_with_gift(), "status": "SOMETHING"}, "status"),
        ("jd", {k: v for k, v in samples.jd_order_with_coupon_and_gift().items() if k != "orderId"}, "orderId"),
        (
            "douyin",
            samples.douyin_presale_bundle_gift_refund() | {"sku_order_list": [{"order_id": "1"}]},
            "sku_order_list[0].item_num",
        ),
        ("pos", samples.pos_order() | {"created_at": "yesterday"}, "created_at"),
    ],
)
def test_a_payload_that_cannot_be_read_names_the_field(channel, payload, field):
    with pytest.raises(NormalizeError) as caught:
        normalize(channel, payload)
    assert caught.value.field == field


def test_a_body_that_is_not_json_is_a_normalize_error():
    with pytest.raises(NormalizeError) as caught:
        adapter_for("jd").unwrap(b"{not json")
    assert caught.value.field == "body"


def test_a_tmall_trade_with_an_oaid_is_a_protected_receiver_named_by_its_oaid():
    order = normalize("tmall", samples.tmall_privacy_oaid())
    oaid = samples.tmall_privacy_oaid()["oaid"]
    assert order.receiver_protected and order.receiver_tokens == {"oaid": oaid} and order.address_token == oaid
    assert (order.receiver_name, order.phone, order.phone_masked) == ("王**", None, "*******5678")
    assert (order.address, order.address_masked) == (None, "张江路**号***")
    assert (order.province, order.city, order.district, order.town) == ("上海", "上海市", "浦东新区", "张江镇")
    plain = normalize("tmall", samples.taobao_multi_line_with_gift())
    assert not plain.receiver_protected and plain.phone == "13812345678" and plain.receiver_tokens == {}


def test_douyin_ciphertext_is_kept_as_tokens_and_a_decrypted_virtual_number_as_the_phone():
    order = normalize("douyin", samples.douyin_encrypted())
    assert order.receiver_protected and order.phone is None and order.address is None
    assert set(order.receiver_tokens) == {"name", "phone", "address", "address_id"}
    assert order.receiver_tokens["phone"].startswith("$$") and order.address_token.startswith("#GKTB")
    assert (order.receiver_name, order.phone_masked, order.address_masked) == ("陈*", "1********35", "玉林北路**号***")
    decrypted = normalize("douyin", samples.douyin_virtual_number())
    assert decrypted.receiver_protected and decrypted.phone == "18400913965-7576"
    assert decrypted.address == "玉林北路 22 号 3 栋 1 单元 502"


def test_youzan_encrypted_values_are_tokens_never_clear_text():
    order = normalize("youzan", samples.youzan_encrypted())
    assert order.receiver_protected and set(order.receiver_tokens) == {"name", "phone", "address"}
    assert (order.receiver_name, order.phone, order.address, order.address_masked) == ("", None, None, "****")
    assert (order.province, order.city, order.district) == ("江苏省", "南京市", "鼓楼区")


def test_a_jd_privacy_number_is_the_phone_and_marks_the_receiver_protected():
    order = normalize("jd", samples.jd_virtual_number())
    assert order.receiver_protected and order.phone == "13244445555-3021"
    assert order.receiver_name == "刘*" and order.address.startswith("北京朝阳区建外街道建国路 88 号")
