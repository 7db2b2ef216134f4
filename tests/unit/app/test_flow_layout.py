"""整理布局: the canvas layout is a pure function of the document; it moves nodes and nothing else."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.flows import layout
from ruleflows import list_templates, load_template

KINDS = ("condition", "switch", "action", "end")
STAGES = ("【自动审单】", "【分仓与快递】", "【特殊订单】", "【单据与通知】")


def ports_of(node: dict[str, Any]) -> list[str]:
    if node["type"] in ("start", "action"):
        return ["next"]
    if node["type"] == "condition":
        return ["true", "false"]
    if node["type"] == "switch":
        return [b["id"] for b in node["config"]["branches"]] + ["default"]
    return []


@st.composite
def flows(draw: st.DrawFn, *, loops: bool = False) -> dict[str, Any]:
    """A flow of up to 25 nodes; edges only point forward unless ``loops``; names sometimes carry a stage."""
    count = draw(st.integers(1, 25))
    staged = draw(st.booleans())
    nodes: list[dict[str, Any]] = []
    for i in range(count):
        kind = "start" if i == 0 else draw(st.sampled_from(KINDS))
        stage = draw(st.sampled_from(("", *STAGES))) if staged else ""
        node: dict[str, Any] = {"id": f"n{i}", "type": kind, "name": stage + draw(st.text(max_size=30))}
        if draw(st.booleans()):
            node["position"] = {"x": draw(st.integers(-500, 500)), "y": draw(st.integers(-500, 500))}
        if kind == "switch":
            labels = draw(st.lists(st.text(max_size=20), min_size=1, max_size=4))
            node["config"] = {"branches": [{"id": f"b{k}", "label": label} for k, label in enumerate(labels)]}
        nodes.append(node)
    edges = []
    for i, node in enumerate(nodes):
        for port in ports_of(node):
            choices = range(count) if loops else range(i + 1, count)
            if choices and draw(st.booleans()):
                target = draw(st.sampled_from(list(choices)))
                edges.append({"id": f"e{len(edges)}", "source": node["id"], "target": f"n{target}", "port": port})
    return {"schema": 1, "name": "t", "trigger": "order.received", "nodes": nodes, "edges": edges}


measured = st.dictionaries(
    st.sampled_from([f"n{i}" for i in range(25)]),
    st.tuples(st.integers(100, 320), st.integers(40, 220)),
)


def boxes(doc: dict[str, Any], result: layout.Layout, sizes: dict[str, tuple[int, int]] | None = None):
    sizes = sizes or {}
    for node in doc["nodes"]:
        x, y = result.positions[node["id"]]
        width, height = sizes.get(node["id"]) or layout.estimated_size(node)
        yield node["id"], x, y, width, height


def overlapping(doc: dict[str, Any], result: layout.Layout, sizes: dict[str, tuple[int, int]] | None = None):
    placed = list(boxes(doc, result, sizes))
    return [
        (a, b)
        for i, (a, ax, ay, aw, ah) in enumerate(placed)
        for b, bx, by, bw, bh in placed[i + 1 :]
        if ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
    ]


def without_positions(doc: dict[str, Any]) -> dict[str, Any]:
    bare = copy.deepcopy(doc)
    for node in bare["nodes"]:
        node.pop("position", None)
    return bare


def test_arrange_keeps_every_edge_and_node_of_the_shipped_templates():
    for summary in list_templates():
        doc = load_template(summary["key"])
        arranged = layout.apply(doc, layout.arrange(doc))
        assert arranged["edges"] == doc["edges"]
        assert without_positions(arranged) == without_positions(doc)
        assert all(isinstance(node["position"]["x"], int) for node in arranged["nodes"])


@settings(max_examples=150, deadline=None)
@given(flows(loops=True), measured)
def test_arrange_keeps_every_edge_and_changes_only_positions(doc, sizes):
    before = copy.deepcopy(doc)
    result = layout.arrange(doc, sizes)
    arranged = layout.apply(doc, result)
    assert doc == before, "the document given is not changed"
    assert arranged["edges"] == doc["edges"]
    assert without_positions(arranged) == without_positions(doc)
    assert set(result.positions) == {node["id"] for node in doc["nodes"]}
    assert sorted(nid for lane in result.lanes for nid in lane.node_ids) == sorted(result.positions)


@settings(max_examples=150, deadline=None)
@given(flows(loops=True), measured)
def test_no_two_arranged_nodes_overlap(doc, sizes):
    assert overlapping(doc, layout.arrange(doc, sizes), sizes) == []


@settings(max_examples=100, deadline=None)
@given(flows(loops=True))
def test_an_arranged_flow_opens_as_it_was_arranged(doc):
    """The editor re-arranges only flows whose positions cannot be read; an arranged one is never among them."""
    arranged = layout.apply(doc, layout.arrange(doc))
    shown, _ = layout.opened(arranged)
    assert not layout.needs_arranging(arranged)
    assert shown == arranged


@settings(max_examples=150, deadline=None)
@given(flows())
def test_every_connection_points_right_within_a_stage(doc):
    result = layout.arrange(doc)
    lane_of = {nid: lane.name for lane in result.lanes for nid in lane.node_ids}
    for edge in doc["edges"]:
        if lane_of[edge["source"]] == lane_of[edge["target"]]:
            assert result.positions[edge["target"]][0] > result.positions[edge["source"]][0], edge


def test_the_four_stages_are_lanes_left_to_right_and_every_connection_points_right():
    doc = load_template("standard_four_stage")
    result = layout.arrange(doc)
    assert [lane.name for lane in result.lanes] == ["自动审单", "分仓与快递", "特殊订单", "单据与通知"]
    for lane, following in zip(result.lanes, result.lanes[1:], strict=False):
        assert lane.x + lane.width < following.x
    for lane in result.lanes:
        for nid in lane.node_ids:
            assert lane.x <= result.positions[nid][0] < lane.x + lane.width
    for node in doc["nodes"]:
        if (stage := layout.stage_of(node["name"])) is not None:
            assert node["id"] in next(lane.node_ids for lane in result.lanes if lane.name == stage)
    lane_of = {nid: lane.name for lane in result.lanes for nid in lane.node_ids}
    assert lane_of["start"] == lane_of["approve"] == lane_of["end_held"] == "自动审单"
    assert lane_of["wh_default"] == "分仓与快递" and lane_of["end"] == "单据与通知"
    for edge in doc["edges"]:
        assert result.positions[edge["target"]][0] > result.positions[edge["source"]][0], edge
    assert overlapping(doc, result) == []


def test_branches_are_stacked_first_exit_on_top():
    doc = load_template("standard_four_stage")
    at = layout.arrange(doc).positions
    assert at["wh_shanghai"][0] == at["wh_cheapest"][0] == at["wh_default"][0]
    assert at["wh_shanghai"][1] < at["wh_cheapest"][1] < at["wh_default"][1]
    assert at["route"][1] == at["wh_shanghai"][1], "the first branch carries on in the same row"


def test_a_connection_that_skips_a_column_is_not_drawn_through_a_node():
    """预售单且尾款未付？ no → 实付满 299 元？ skips the presale step: that step is moved out of its row."""
    doc = load_template("standard_four_stage")
    at = layout.arrange(doc).positions
    assert at["is_presale"][1] == at["gift_threshold"][1]
    assert at["mark_presale"][1] >= at["is_presale"][1] + layout.SKIP_HEIGHT + layout.ROW_GAP


def test_the_shipped_four_stage_template_is_stored_as_arranged():
    doc = load_template("standard_four_stage")
    assert layout.apply(doc, layout.arrange(doc)) == doc
    assert not layout.needs_arranging(doc)


def test_a_flow_without_stages_is_one_lane_by_depth():
    doc = {
        "nodes": [
            {"id": "start", "type": "start", "name": "开始"},
            {"id": "c", "type": "condition", "name": "金额大于 100？"},
            {"id": "a", "type": "action", "name": "加标签"},
            {"id": "end", "type": "end", "name": "结束"},
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "c", "port": "next"},
            {"id": "e2", "source": "c", "target": "a", "port": "true"},
            {"id": "e3", "source": "c", "target": "end", "port": "false"},
            {"id": "e4", "source": "a", "target": "end", "port": "next"},
        ],
    }
    result = layout.arrange(doc)
    assert [(lane.name, lane.node_ids) for lane in result.lanes] == [(None, ("start", "c", "a", "end"))]
    xs = [result.positions[nid][0] for nid in ("start", "c", "a", "end")]
    assert xs == sorted(set(xs))


def test_what_is_not_a_node_or_edge_is_ignored_and_loops_still_get_places():
    doc = {
        "nodes": [
            "junk",
            {"id": "start", "type": "start"},
            {"id": "x", "type": "action", "name": 5},
            {"id": "x", "type": "end", "name": "dup"},
            {"type": "end"},
        ],
        "edges": [
            {"source": "start", "target": "x", "port": "next"},
            {"source": "x", "target": "x", "port": "next"},
            {"source": "x", "target": "start", "port": "next"},
            {"source": "start", "target": "nowhere", "port": "next"},
            7,
        ],
    }
    result = layout.arrange(doc)
    assert set(result.positions) == {"start", "x"}
    assert result.positions["x"][0] > result.positions["start"][0]
    assert layout.arrange({"nodes": "no"}).positions == {}


def test_stages_are_read_from_the_start_of_a_name():
    assert layout.stage_of("【自动审单】地址完整？") == "自动审单"
    assert layout.stage_of("  【 单据与通知 】可以出库？") == "单据与通知"
    assert layout.stage_of("地址【不】完整") is None
    assert layout.stage_of(None) is None


def test_a_flow_needs_arranging_when_nodes_lack_positions_or_lie_on_top_of_each_other():
    doc = load_template("standard_four_stage")
    assert layout.needs_arranging(without_positions(doc))
    piled = copy.deepcopy(doc)
    for node in piled["nodes"]:
        node["position"] = {"x": 0, "y": 0}
    assert layout.needs_arranging(piled)
    assert not layout.needs_arranging(layout.apply(piled, layout.arrange(piled)))
