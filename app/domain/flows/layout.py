"""整理布局: where each node of a flow document goes on the canvas, so a person can read the flow.

A pure function of the document (and, when the editor measured them, the nodes' sizes): nodes go left to
right by their depth from the start (the longest path to them, so every connection points right), the
exits of a condition or switch stacked below one another, and a connection that skips columns keeps its
row free so it is not drawn through other nodes. Nodes whose names begin with a stage in 【】 (the
templates' 【自动审单】, 【分仓与快递】, …) are grouped in lanes, one band of columns per stage, in the
order the flow reaches them; a node without a stage joins the stage it follows. Arranging changes only
``position``: every node, edge and setting stays as it was.
"""

from __future__ import annotations

import copy
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

#: A node's width on the canvas (``.drawflow-node.fn`` in app.css).
NODE_WIDTH: Final = 170
#: Space between two stacked nodes, and what a connection that skips a column keeps free.
ROW_GAP: Final = 40
SKIP_HEIGHT: Final = 24
#: Space between columns, before the exits' labels (drawn to the right of a node) are added.
COLUMN_GAP: Final = 70
#: Further space between two lanes, for their bands.
LANE_GAP: Final = 60
#: Exit labels that are not branch labels (是 / 否 / 否则 and their English) are at most this wide.
PORT_LABEL_WIDTH: Final = 56
#: What follows an exit's label in its row when the canvas shows hit counts: the gap and a share up to "100%".
SHARE_WIDTH: Final = 36

_STAGE: Final = re.compile(r"^\s*【([^】]{1,40})】")


@dataclass(frozen=True, slots=True)
class Lane:
    """One stage of the flow: its name (None when the flow has no stages) and its nodes, left to right."""

    name: str | None
    node_ids: tuple[str, ...]
    x: int
    width: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the editor reads."""
        return {"name": self.name, "nodes": list(self.node_ids), "x": self.x, "width": self.width}


@dataclass(frozen=True, slots=True)
class Layout:
    """Positions by node id (the top-left corner, as the document stores it) and the lanes."""

    positions: Mapping[str, tuple[int, int]]
    lanes: tuple[Lane, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the editor reads."""
        return {
            "positions": {nid: {"x": x, "y": y} for nid, (x, y) in self.positions.items()},
            "lanes": [lane.to_dict() for lane in self.lanes],
        }


def stage_of(name: Any) -> str | None:
    """The stage a node's name starts with (``【自动审单】地址完整？`` → ``自动审单``), or None."""
    if not isinstance(name, str):
        return None
    match = _STAGE.match(name)
    return (match.group(1).strip() or None) if match else None


def text_width(text: str, font_px: float) -> float:
    """Roughly how wide a text is drawn: Chinese and other wide characters a full em, the rest 0.6 em."""
    return sum(font_px if unicodedata.east_asian_width(char) in "WF" else font_px * 0.6 for char in text)


def estimated_size(node: Mapping[str, Any]) -> tuple[int, int]:
    """A generous guess at a node's drawn size (the editor sends the real ones when it can).

    The head line, the name in 14 px over 148 px lines, room for two lines of summary, and at least one
    21 px dot per exit.
    """
    name = node["name"] if isinstance(node.get("name"), str) else str(node.get("id", ""))
    lines = max(1, math.ceil(text_width(name, 14) / 148))
    height = 13 + 16 + 20 * lines + 32
    return NODE_WIDTH, max(height, 12 + 21 * len(_ports(node)))


def _ports(node: Mapping[str, Any]) -> list[str]:
    kind = node.get("type")
    if kind in ("start", "action"):
        return ["next"]
    if kind == "condition":
        return ["true", "false"]
    if kind == "switch":
        ids = [b["id"] for b in _branches(node) if isinstance(b.get("id"), str)]
        return [*ids, "default"]
    return []


def _branches(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    config = node.get("config")
    branches = config.get("branches") if isinstance(config, dict) else None
    return [b for b in branches if isinstance(b, dict)] if isinstance(branches, list) else []


def _label_reach(node: Mapping[str, Any]) -> float:
    """How far right of the node its exits' rows reach: label and share (a single exit has neither)."""
    if node.get("type") not in ("condition", "switch"):
        return 10.0
    widest = float(PORT_LABEL_WIDTH)
    for branch in _branches(node) if node.get("type") == "switch" else []:
        label = branch["label"] if isinstance(branch.get("label"), str) else str(branch.get("id") or "")
        widest = max(widest, text_width(label, 11))
    return 16 + widest + SHARE_WIDTH


def _nodes_by_id(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The document's nodes by id, in document order (a repeated id: the first one)."""
    raw = document.get("nodes")
    nodes: dict[str, Mapping[str, Any]] = {}
    for node in raw if isinstance(raw, list) else []:
        if isinstance(node, dict) and isinstance(node.get("id"), str) and node["id"] not in nodes:
            nodes[node["id"]] = node
    return nodes


def _edges(document: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, int]]:
    """(source, target, exit index) of every edge between two known nodes, in document order."""
    raw = document.get("edges")
    edges = []
    for edge in raw if isinstance(raw, list) else []:
        if not isinstance(edge, dict):
            continue
        source, target = edge.get("source"), edge.get("target")
        if isinstance(source, str) and isinstance(target, str) and source in nodes and target in nodes:
            ports = _ports(nodes[source])
            port = ports.index(edge["port"]) if edge.get("port") in ports else len(ports)
            edges.append((source, target, port))
    return edges


def _topological(nodes: Mapping[str, Mapping[str, Any]], edges: list[tuple[str, str, int]]) -> list[str]:
    """Nodes in an order where each comes after what leads to it; a loop is entered at its first node."""
    incoming = {nid: 0 for nid in nodes}
    outgoing: dict[str, list[str]] = {nid: [] for nid in nodes}
    for source, target, _ in edges:
        incoming[target] += 1
        outgoing[source].append(target)
    index = {nid: i for i, nid in enumerate(nodes)}
    done: set[str] = set()
    order: list[str] = []
    ready = sorted((nid for nid, count in incoming.items() if count == 0), key=lambda n: _source_rank(nodes, index, n))
    while len(order) < len(nodes):
        if not ready:  # only loops are left: enter the first of them
            ready = [next(nid for nid in nodes if nid not in done)]
        nid = ready.pop(0)
        if nid in done:
            continue
        done.add(nid)
        order.append(nid)
        for target in outgoing[nid]:
            incoming[target] -= 1
            if incoming[target] == 0 and target not in done:
                ready.append(target)
    return order


def _source_rank(nodes: Mapping[str, Mapping[str, Any]], index: Mapping[str, int], nid: str) -> tuple[int, int]:
    return (0 if nodes[nid].get("type") == "start" else 1, index[nid])


def _lanes_of(
    nodes: Mapping[str, Mapping[str, Any]],
    order: list[str],
    depth: Mapping[str, int],
    edges: list[tuple[str, str, int]],
) -> dict[str, str | None]:
    """Each node's stage: its own, else that of the deepest node before it, else of the nearest after it."""
    lane: dict[str, str | None] = {nid: stage_of(nodes[nid].get("name")) for nid in nodes}
    if not any(lane.values()):
        return lane
    before: dict[str, list[str]] = {nid: [] for nid in nodes}
    after: dict[str, list[str]] = {nid: [] for nid in nodes}
    for source, target, _ in edges:
        before[target].append(source)
        after[source].append(target)
    for nid in order:
        if lane[nid] is None:
            known = [p for p in before[nid] if lane[p] is not None and depth[p] < depth[nid]]
            if known:
                lane[nid] = lane[max(known, key=lambda p: depth[p])]
    for nid in reversed(order):
        if lane[nid] is None:
            known = [s for s in after[nid] if lane[s] is not None]
            if known:
                lane[nid] = lane[min(known, key=lambda s: depth[s])]
    first = next(lane[nid] for nid in order if lane[nid] is not None)
    return {nid: name if name is not None else first for nid, name in lane.items()}


def arrange(document: Mapping[str, Any], sizes: Mapping[str, tuple[float, float]] | None = None) -> Layout:
    """Where every node of ``document`` goes, in lanes, left to right, with no two nodes overlapping.

    ``sizes`` are the nodes' drawn sizes by id (width, height), as the editor measured them; a node without
    one gets :func:`estimated_size`. Anything that is not a node with an id is left out; edges to nodes
    that do not exist are ignored.
    """
    nodes = _nodes_by_id(document)
    if not nodes:
        return Layout({}, ())
    edges = _edges(document, nodes)
    size = {nid: _size_of(nodes[nid], (sizes or {}).get(nid)) for nid in nodes}
    order = _topological(nodes, edges)
    rank = {nid: i for i, nid in enumerate(order)}
    targets: dict[str, list[str]] = {nid: [] for nid in nodes}
    for source, target, _ in edges:
        if rank[target] > rank[source]:  # an edge closing a loop does not count
            targets[source].append(target)
    depth = {nid: 0 for nid in nodes}
    for nid in order:  # the longest path from a node nothing leads to
        for target in targets[nid]:
            depth[target] = max(depth[target], depth[nid] + 1)

    # Lanes in the order the flow reaches them; inside a lane one column per depth that occurs in it.
    lane_of = _lanes_of(nodes, order, depth, edges)
    names = sorted(set(lane_of.values()), key=lambda n: min((depth[i], rank[i]) for i in nodes if lane_of[i] == n))
    column: dict[str, int] = {}
    lane_columns: list[tuple[str | None, int, int]] = []
    first_column = 0
    for name in names:
        depths = sorted({depth[nid] for nid in nodes if lane_of[nid] == name})
        local = {d: i for i, d in enumerate(depths)}
        for nid in nodes:
            if lane_of[nid] == name:
                column[nid] = first_column + local[depth[nid]]
        lane_columns.append((name, first_column, len(depths)))
        first_column += len(depths)
    columns = first_column

    # Rows: each column top to bottom, every item as high as the highest thing leading to it allows.
    # A connection that skips columns leaves a placeholder in each column it crosses.
    cells: list[list[_Cell]] = [[] for _ in range(columns)]
    for i, nid in enumerate(order):
        cells[column[nid]].append(_Cell(nid, size[nid][1], i))
    feeds: dict[int, list[tuple[_Cell, int]]] = {}
    by_node = {cell.node: cell for cells_of in cells for cell in cells_of}
    for source, target, port in edges:
        if column[target] <= column[source]:
            continue
        previous = by_node[source]
        for between in range(column[source] + 1, column[target]):
            skip = _Cell(None, SKIP_HEIGHT, len(order) + len(feeds))
            cells[between].append(skip)
            feeds[id(skip)] = [(previous, port)]
            previous, port = skip, 0
        feeds.setdefault(id(by_node[target]), []).append((previous, port))
    for cells_of in cells:
        for cell in cells_of:
            cell.want, cell.port = min(((p.y, port) for p, port in feeds.get(id(cell), [])), default=(0.0, 0))
        cells_of.sort(key=lambda c: (c.want, c.node is not None, c.port, c.order))
        bottom: float | None = None
        for cell in cells_of:
            cell.y = cell.want if bottom is None else max(cell.want, bottom + ROW_GAP)
            bottom = cell.y + cell.height

    # Columns left to right: as wide as their widest node and its exits' labels, lanes a gap apart.
    x_of: list[float] = []
    x = 0.0
    lane_starts = {start for _, start, _ in lane_columns}
    for c in range(columns):
        if c in lane_starts and c > 0:
            x += LANE_GAP
        x_of.append(x)
        members = [by_node[cell.node] for cell in cells[c] if cell.node is not None]
        width = max((size[cell.node][0] for cell in members if cell.node), default=NODE_WIDTH)
        reach = max((_label_reach(nodes[cell.node]) for cell in members if cell.node), default=0.0)
        x += width + max(COLUMN_GAP, reach + 24)
    positions = {nid: (round(x_of[column[nid]]), round(by_node[nid].y)) for nid in nodes}
    lanes = []
    for name, start, _ in lane_columns:
        ids = tuple(sorted((nid for nid in nodes if lane_of[nid] == name), key=lambda n: (column[n], rank[n])))
        right = max(positions[nid][0] + size[nid][0] for nid in ids)
        lanes.append(Lane(name, ids, round(x_of[start]), round(right - x_of[start])))
    return Layout(positions, tuple(lanes))


class _Cell:
    """A node, or a placeholder for a connection passing through a column, while rows are worked out."""

    __slots__ = ("height", "node", "order", "port", "want", "y")

    def __init__(self, node: str | None, height: float, order: int) -> None:
        self.node = node
        self.height = height
        self.order = order
        self.want = 0.0
        self.port = 0
        self.y = 0.0


def _size_of(node: Mapping[str, Any], measured: Any) -> tuple[float, float]:
    """The measured size when it is two sensible numbers, else the estimate."""
    if isinstance(measured, list | tuple) and len(measured) == 2:
        width, height = measured
        if all(isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 2000 for v in (width, height)):
            return float(width), float(height)
    width, height = estimated_size(node)
    return float(width), float(height)


def apply(document: Mapping[str, Any], layout: Layout) -> dict[str, Any]:
    """A copy of ``document`` with the layout's positions; nothing else changes."""
    arranged = copy.deepcopy(dict(document))
    nodes = arranged.get("nodes")
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and node.get("id") in layout.positions:
            x, y = layout.positions[node["id"]]
            node["position"] = {"x": x, "y": y}
    return arranged


def needs_arranging(document: Mapping[str, Any]) -> bool:
    """Whether the stored positions cannot be read as they are: a node without one, or nodes on top of others."""
    boxes: list[tuple[float, float, int, int]] = []
    for node in _nodes_by_id(document).values():
        position = node.get("position")
        corner = [position.get(axis) for axis in ("x", "y")] if isinstance(position, dict) else []
        numbers = [float(v) for v in corner if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) != 2:
            return True
        boxes.append((numbers[0], numbers[1], *estimated_size(node)))
    boxes.sort()
    for i, (left, top, width, height) in enumerate(boxes):
        for left2, top2, _, height2 in boxes[i + 1 :]:
            if left2 >= left + width:
                break
            if top2 < top + height and top < top2 + height2:
                return True
    return False


def opened(document: Mapping[str, Any]) -> tuple[dict[str, Any], Layout]:
    """The document as the editor first shows it, and its lanes.

    Arranged when its stored positions cannot be read (:func:`needs_arranging`); the draft itself changes
    only when the designer next saves.
    """
    arrangement = arrange(document)
    if needs_arranging(document):
        return apply(document, arrangement), arrangement
    return copy.deepcopy(dict(document)), arrangement
