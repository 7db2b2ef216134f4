"""Problems found in a flow document: a machine code plus a message in Chinese and English.

Messages are written for the business user who drew the flow, not for a developer: they name the node by
the name the user gave it and say what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a flow document."""

    code: str
    message_zh: str
    message_en: str
    node_id: str | None = None
    edge_id: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form, for the editor and the API."""
        return {
            "code": self.code,
            "node_id": self.node_id,
            "edge_id": self.edge_id,
            "path": self.path,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }


#: Characters that reorder the text around them: the embeddings and overrides U+202A-U+202E, the isolates
#: U+2066-U+2069 and the marks U+200E, U+200F, U+061C. A name with U+202E shows reversed and reverses what follows.
BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_NO_BIDI: Final = {ord(char): None for char in BIDI_CONTROLS}
#: First-strong isolate ... pop directional isolate: what is between them cannot reorder the text outside.
_ISOLATE, _POP_ISOLATE = "\u2068", "\u2069"


def without_bidi_controls(text: str) -> str:
    """``text`` with every character of BIDI_CONTROLS removed, for names and labels a designer gives."""
    return text.translate(_NO_BIDI)


def isolated(text: str) -> str:
    """``text`` as a message names it: wrapped in an isolate when it holds bidi controls (a document saved
    before they were removed on input), so that they reorder nothing of the message around it."""
    return f"{_ISOLATE}{text}{_POP_ISOLATE}" if BIDI_CONTROLS.intersection(text) else text


# code -> (Chinese template, English template); fields are filled with str.format.
MESSAGES: Final = MappingProxyType(
    {
        "document_not_object": ("流程文档必须是一个 JSON 对象。", "The flow document must be a JSON object."),
        "document_too_large": (
            "流程文档过大（{size} 字节），上限为 {limit} 字节。",
            "The flow document is too large ({size} bytes); the limit is {limit} bytes.",
        ),
        "document_too_deep": (
            "流程文档嵌套过深（超过 {limit} 层），无法检查。",
            "The flow document is nested too deeply (more than {limit} levels) to be checked.",
        ),
        "not_json": (
            "流程文档包含无法保存为 JSON 的内容：{detail}。",
            "The flow document contains something that is not JSON: {detail}.",
        ),
        "missing_field": ("缺少必填项「{field}」。", 'The required field "{field}" is missing.'),
        "wrong_type": (
            "「{field}」的类型不对，应为{expected_zh}。",
            '"{field}" has the wrong type; expected {expected_en}.',
        ),
        "unsupported_schema": (
            "不支持的流程格式版本 {value}（支持的版本：1）。",
            "Unsupported flow schema version {value} (supported: 1).",
        ),
        "unknown_trigger": ("未知的触发事件「{value}」。", 'Unknown trigger "{value}".'),
        "too_many_nodes": (
            "节点过多（{count} 个），上限为 {limit} 个。",
            "Too many nodes ({count}); the limit is {limit}.",
        ),
        "too_many_edges": (
            "连线过多（{count} 条），上限为 {limit} 条。",
            "Too many connections ({count}); the limit is {limit}.",
        ),
        "duplicate_node_id": ("节点编号「{id}」重复。", 'Node id "{id}" is used more than once.'),
        "duplicate_edge_id": ("连线编号「{id}」重复。", 'Connection id "{id}" is used more than once.'),
        "unknown_node_type": (
            "节点「{node}」的类型「{value}」无法识别。",
            'Node "{node}" has an unknown type "{value}".',
        ),
        "no_start": ("流程没有开始节点，请添加一个。", "The flow has no start node; add one."),
        "multiple_starts": (
            "流程只能有一个开始节点，「{node}」是多余的。",
            'A flow has exactly one start node; "{node}" is an extra one.',
        ),
        "start_not_connected": (
            "开始节点「{node}」没有连到下一步。",
            'The start node "{node}" does not lead anywhere.',
        ),
        "dangling_edge": (
            "连线「{id}」的{end_zh}「{target}」不存在。",
            'Connection "{id}" has a {end_en} "{target}" that does not exist.',
        ),
        "duplicate_port": (
            "节点「{node}」的「{port}」出口连了不止一条线。",
            'Node "{node}" has more than one connection from its "{port}" exit.',
        ),
        "invalid_port": ("节点「{node}」没有「{port}」这个出口。", 'Node "{node}" has no "{port}" exit.'),
        "edge_into_start": ("连线「{id}」不能连回开始节点。", 'Connection "{id}" may not lead into the start node.'),
        "edge_from_end": ("结束节点「{node}」后面不能再连线。", 'The end node "{node}" may not lead anywhere.'),
        "cycle": (
            "流程中存在循环：{cycle}。流程必须从开始一路走到结束。",
            "The flow loops back on itself: {cycle}. A flow must run from start to end without loops.",
        ),
        "missing_true_edge": ("条件「{node}」缺少“是”分支的连线。", 'Condition "{node}" has no connection for "true".'),
        "missing_false_edge": (
            "条件「{node}」缺少“否”分支的连线。",
            'Condition "{node}" has no connection for "false".',
        ),
        "branch_not_connected": (
            "分支节点「{node}」的分支「{branch}」没有连线。",
            'Switch "{node}": branch "{branch}" does not lead anywhere.',
        ),
        "default_not_connected": (
            "分支节点「{node}」的“其他情况”没有连线。",
            'Switch "{node}": the default branch does not lead anywhere.',
        ),
        "no_branches": ("分支节点「{node}」至少需要一个分支。", 'Switch "{node}" needs at least one branch.'),
        "duplicate_branch_id": (
            "分支节点「{node}」的分支编号「{branch}」重复。",
            'Switch "{node}" uses branch id "{branch}" more than once.',
        ),
        "unreachable_node": ("节点「{node}」从开始节点无法到达。", 'Node "{node}" cannot be reached from the start.'),
        "missing_logic": ("「{node}」还没有设置条件。", '"{node}" has no condition set.'),
        "operator_not_allowed": (
            "「{node}」使用了不允许的运算「{operator}」。",
            '"{node}" uses the operation "{operator}", which is not allowed.',
        ),
        "bad_operator_args": (
            "「{node}」中运算「{operator}」的参数不对：{detail_zh}。",
            '"{node}": the operation "{operator}" has wrong arguments: {detail_en}.',
        ),
        "unknown_var": (
            "「{node}」引用的字段「{var}」不存在于{data_zh}数据中。",
            '"{node}" refers to the field "{var}", which is not in the {data_en} data.',
        ),
        "bad_regex": (
            "「{node}」中的正则表达式不可用：{detail_zh}。",
            '"{node}" has a regular expression that cannot be used: {detail_en}.',
        ),
        "expression_too_deep": (
            "「{node}」的表达式嵌套过深（上限 {limit} 层）。",
            '"{node}" has an expression nested too deeply (limit {limit} levels).',
        ),
        "unknown_action": ("「{node}」的动作「{value}」不存在。", '"{node}" uses an unknown action "{value}".'),
        "action_not_for_trigger": (
            "「{node}」的动作「{value}」不能用在这种流程里：售后流程只能同意、拒绝或转主管审核，订单流程不能处理售后单。",
            '"{node}" uses the action "{value}", which this kind of flow cannot decide: an after-sales flow only '
            "approves, refuses or sends to a supervisor, and an order flow cannot decide a case.",
        ),
        "missing_action": ("动作节点「{node}」还没有选择动作。", 'Action node "{node}" has no action chosen.'),
        "missing_param": (
            "动作「{action}」缺少参数「{param}」。",
            'The action "{action}" needs the parameter "{param}".',
        ),
        "unknown_param": ("动作「{action}」没有参数「{param}」。", 'The action "{action}" has no parameter "{param}".'),
        "bad_param": (
            "动作「{action}」的参数「{param}」不对：{detail_zh}。",
            'The action "{action}" has a wrong parameter "{param}": {detail_en}.',
        ),
        "conflicting_params": (
            "动作「{action}」的参数「{params}」只能填一个。",
            'The action "{action}" takes exactly one of "{params}".',
        ),
    }
)


def make_problem(
    code: str, *, node_id: str | None = None, edge_id: str | None = None, path: str | None = None, **fields: Any
) -> Problem:
    """Build a Problem from its code and the fields its message templates name."""
    zh, en = MESSAGES[code]
    values = {key: isolated(value if isinstance(value, str) else str(value)) for key, value in fields.items()}
    return Problem(
        code=code,
        message_zh=zh.format(**values),
        message_en=en.format(**values),
        node_id=node_id,
        edge_id=edge_id,
        path=path,
    )
