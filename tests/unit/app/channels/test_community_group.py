"""社区团购 through the generic format: the group leader, the pickup point and the delivery route are read onto the
order; a community order without its leader or pickup point, or with a field too long, is refused naming it."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.channels.adapters import PULLABLE, adapter_for
from app.domain.channels.adapters.base import NormalizeError
from app.domain.orders.schemas import CommunityGroup
from app.domain.shops.models import Channel
from tests.samples import channels as samples


def normalize(payload: dict[str, Any]):
    adapter = adapter_for(Channel.community_group)
    return adapter.normalize(adapter.unwrap(payload))


def test_a_community_group_order_carries_its_leader_pickup_point_and_route():
    order = normalize(samples.community_group_order())
    assert order.community == CommunityGroup(
        leader_id="L-0012",
        leader_name="王姐",
        pickup_point_id="PK-031",
        pickup_point_name="幸福里东门自提点",
        pickup_point_address="浦东新区幸福路 100 弄东门",
        route_code="R3",
        route_name="浦东 3 号线",
    )
    assert (order.items_fen, order.paid_fen) == (3990 * 2 + 4590, 3990 * 2 + 4590)


def test_a_community_group_shop_delivers_by_webhook_or_import_and_is_not_pulled():
    assert Channel.community_group not in PULLABLE


def test_an_order_without_community_fields_has_none():
    assert normalize(samples.pos_order()).community is None


@pytest.mark.parametrize(
    ("community", "field"),
    [
        ({"pickup_point": {"name": "幸福里东门自提点"}}, "community.leader"),
        ({"leader": {"name": "王姐"}, "pickup_point": {"id": "PK-031"}}, "community.pickup_point.name"),
        ({"leader": {"name": "王姐"}, "pickup_point": {"name": "点" * 101}}, "community.pickup_point.name"),
        ({"leader": "王姐", "pickup_point": {"name": "幸福里东门自提点"}}, "community.leader"),
        ("王姐", "community"),
    ],
    ids=["no-leader", "no-pickup-name", "long-pickup-name", "leader-not-an-object", "not-an-object"],
)
def test_a_bad_community_is_refused_naming_the_field(community: Any, field: str):
    with pytest.raises(NormalizeError) as caught:
        normalize(samples.community_group_order() | {"community": community})
    assert caught.value.field == field
