"""The editor's side panels: turn a node and a submitted form into the node's new configuration.

The canvas sends the node it shows (as JSON) with the panel's form; the server answers with the panel again
and the updated node. Nothing here touches the database: the pickers' choices are passed in.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

import ruleflows
from app.db import utcnow
from app.domain.flows import action_forms, builder, lifting
from app.domain.flows.samples import SAMPLE_ORDERS, context_of
from app.domain.flows.services import SIMULATION_TIME_LIMIT, limit_error
from app.errors import DomainError
from app.forms import many, one
from app.i18n import N_, current_locale, gettext
from app.json_input import parse_json
from ruleflows import ACTION_CATALOGUE

NODE_TYPES: Final = ("start", "condition", "switch", "action", "end")
MAX_BRANCHES: Final = 12


class PanelError(DomainError, ValueError):
    """The panel was sent something that is not a node; the message is for the designer."""

    messages: ClassVar[Mapping[str, str]] = {"unreadable_node": N_("The node could not be read.")}


def localised(entry: dict[str, Any], key: str = "label") -> str:
    """``label_zh`` or ``label_en`` of a catalogue or schema entry, in the request's language."""
    return str(entry[f"{key}_en"] if current_locale.get() == "en" else entry[f"{key}_zh"])


def read_node(text: str) -> dict[str, Any]:
    """The node the canvas sent, checked for the shape the panel needs."""
    try:
        node = parse_json(text)
    except (ValueError, TypeError):
        raise PanelError("unreadable_node") from None
    if not isinstance(node, dict) or node.get("type") not in NODE_TYPES or not isinstance(node.get("id"), str):
        raise PanelError("unreadable_node")
    if not isinstance(node.get("config"), dict):
        node["config"] = {}
    if not isinstance(node.get("name"), str):
        node["name"] = ""
    return node


def prepared(node: dict[str, Any]) -> dict[str, Any]:
    """A node as the panel shows it: each condition or branch with the builder tree it opens with (an empty
    one starts with one blank rule, one written elsewhere is lifted into rows); nothing else changes."""
    node = copy.deepcopy(node)
    config = node["config"]
    holders = [config] if node["type"] == "condition" else []
    if node["type"] == "switch":
        holders = [branch for branch in config.get("branches") or [] if isinstance(branch, dict)]
    for holder in holders:
        tree = condition_tree(holder)
        if tree is not None:
            holder["builder"] = tree
    return node


def condition_tree(config: dict[str, Any], logic_key: str = "logic") -> dict[str, Any] | None:
    """The builder tree for a condition's (or a branch's) logic: the tree saved with it when that is what
    writes the logic (or the logic is not complete yet), else the logic lifted into rows; None when only
    JSON Logic can say it. The server never trusts a saved tree over the logic."""
    tree = config.get("builder")
    logic = config.get(logic_key)
    if isinstance(tree, dict) and builder.is_group(tree) and (logic is None or builder.to_logic(tree)[0] == logic):
        return tree
    if logic is None:
        return builder.empty_group()
    return lifting.lift(logic)


# --------------------------------------------------------------------------------------- applying forms


@dataclass
class Applied:
    """A node after its panel form was applied, with what the designer should be told."""

    node: dict[str, Any]
    rule_problems: dict[str, dict[str, str]] = field(default_factory=dict)  # builder root -> rule path -> message
    raw_error: str | None = None
    #: The JSON the designer typed when it could not be applied (shown again with the error, to be corrected).
    raw_refused: str = ""
    #: For actions taking a code or a strategy: which one the designer picked (before a value is chosen).
    action_mode: str | None = None
    #: An action's parameters as typed, and why some cannot be used: when any, the node's config is unchanged.
    param_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    param_problems: dict[str, str] = field(default_factory=dict)


def apply_form(node: dict[str, Any], form: dict[str, Any]) -> Applied:
    """Apply a submitted panel form (and its button, ``do``) to a node; returns the new node."""
    node = copy.deepcopy(node)
    command = one(form, "do")
    if "name" in form:
        node["name"] = ruleflows.without_bidi_controls(one(form, "name"))[:100]
    applied = Applied(node)
    if command == "apply_raw":
        _apply_raw(applied, one(form, "raw"))
        if applied.raw_error:
            applied.raw_refused = one(form, "raw")
    elif node["type"] == "condition":
        _apply_condition(applied, form, command)
    elif node["type"] == "switch":
        _apply_switch(applied, form, command)
    elif node["type"] == "action":
        _apply_action(applied, form)
    if node["type"] in ("condition", "switch"):
        applied.node = prepared(node)  # JSON applied by hand opens as rows too, when rows can say it
    return applied


def builder_mode(config: dict[str, Any], logic_key: str = "logic") -> str:
    """``builder`` when the no-code builder describes the logic, ``raw`` when only JSON Logic does."""
    return "raw" if condition_tree(config, logic_key) is None else "builder"


def _apply_condition(applied: Applied, form: dict[str, Any], command: str) -> None:
    config = applied.node["config"]
    if command == "use_builder":
        config["builder"] = builder.empty_group()
        config["logic"] = None
        return
    if one(form, "mode") == "raw":
        return  # JSON Logic written by hand is only changed through the JSON editor
    tree = builder.read_form(form, "c")
    if command:
        tree = builder.apply_command(tree, "c", command)
    logic, problems = builder.to_logic(tree)
    config["builder"] = tree
    config["logic"] = logic
    if problems:
        applied.rule_problems["c"] = problems


def _apply_switch(applied: Applied, form: dict[str, Any], command: str) -> None:
    config = applied.node["config"]
    old = {b.get("id"): b for b in config.get("branches") or [] if isinstance(b, dict)}
    branches: list[dict[str, Any]] = []
    for branch_id in many(form, "branch"):
        previous = old.get(branch_id, {})
        label = ruleflows.without_bidi_controls(one(form, f"label:{branch_id}"))[:60]
        branch: dict[str, Any] = {"id": branch_id, "label": label}
        if command == f"use_builder:{branch_id}":
            branch.update(builder=builder.empty_group(), logic=None)
        elif one(form, f"mode:{branch_id}") == "raw":
            branch.update(logic=previous.get("logic"), builder=previous.get("builder"))
        else:
            tree = builder.read_form(form, branch_id)
            if command.partition(":")[2].startswith(branch_id):
                tree = builder.apply_command(tree, branch_id, command)
            logic, problems = builder.to_logic(tree)
            branch.update(builder=tree, logic=logic)
            if problems:
                applied.rule_problems[branch_id] = problems
        if command == f"remove_branch:{branch_id}":
            continue
        branches.append(branch)
    if command == "add_branch" and len(branches) < MAX_BRANCHES:
        used = {b["id"] for b in branches} | set(old)
        number = 1
        while f"b{number}" in used:
            number += 1
        branches.append(
            {
                "id": f"b{number}",
                "label": gettext("Branch %(n)s") % {"n": number},
                "builder": builder.empty_group(),
                "logic": None,
            }
        )
    config["branches"] = branches


def _apply_action(applied: Applied, form: dict[str, Any]) -> None:
    config = applied.node["config"]
    action = one(form, "action")
    if action not in ACTION_CATALOGUE:
        config["action"] = action or None
        config["params"] = {}
        return
    changed_action = action != config.get("action")
    old_params = {} if changed_action else dict(config.get("params") or {})
    one_of = ACTION_CATALOGUE[action].get("one_of") or []
    mode = one(form, "mode") if not changed_action else ""
    applied.action_mode = mode if mode in one_of else None
    if changed_action:
        skip = frozenset(one_of)  # a new action starts with neither its code nor its strategy
    else:
        skip = frozenset(name for name in one_of if mode in one_of and name != mode)
    read = action_forms.read(action, old_params, form, skip=skip)
    if read.problems and not changed_action:
        applied.param_states, applied.param_problems = read.states, read.problems
        return  # nothing changes until what was typed can be used
    config["action"] = action
    config["params"] = read.params


def _apply_raw(applied: Applied, raw: str) -> None:
    node = applied.node
    try:
        value = parse_json(raw) if raw else None
    except ValueError as exc:
        applied.raw_error = gettext("Not valid JSON: %(detail)s") % {"detail": str(exc)}
        return
    config = node["config"]
    if node["type"] == "condition":
        config["logic"] = value
        config.pop("builder", None)
    elif node["type"] == "switch":
        if not isinstance(value, list):
            applied.raw_error = gettext("The branches must be a JSON list.")
            return
        config["branches"] = value
    elif node["type"] == "action":
        if not isinstance(value, dict):
            applied.raw_error = gettext("The parameters must be a JSON object.")
            return
        config["params"] = value


# ------------------------------------------------------------------------------------------- raw JSON


def raw_text(node: dict[str, Any]) -> str:
    """What the JSON editor shows for a node: a condition's logic, a switch's branches, an action's params."""
    config = node.get("config") or {}
    if node["type"] == "condition":
        value = config.get("logic")
    elif node["type"] == "switch":
        value = [
            {k: b.get(k) for k in ("id", "label", "logic")} for b in config.get("branches") or [] if isinstance(b, dict)
        ]
    elif node["type"] == "action":
        value = config.get("params") or {}
    else:
        return ""
    return pretty(value)


def pretty(value: Any) -> str:
    """JSON as a panel shows it: indented, with Chinese as written."""
    return json.dumps(value, ensure_ascii=False, indent=2)


@dataclass
class RawCheck:
    """The verdict on JSON typed into the editor: problems, or the value on a sample order."""

    ok: bool
    messages: list[str]
    sample_result: str | None = None
    sample_label: str | None = None


def check_raw(node: dict[str, Any], raw: str, trigger: str | None = None) -> RawCheck:
    """Validate JSON typed into a node's JSON editor, as the engine would for a flow with this trigger, and try
    a condition of an order flow on a sample order (there are no sample cases).

    The trial has the simulation's time limit; callers run this in a worker thread.
    """
    trial = Applied(copy.deepcopy(node))
    _apply_raw(trial, raw)
    if trial.raw_error:
        return RawCheck(False, [trial.raw_error])
    problems = node_problems(trial.node, trigger)
    if problems:
        return RawCheck(False, problems)
    if node["type"] != "condition" or ruleflows.context_of_trigger(trigger) != "order":
        return RawCheck(True, [])
    sample = SAMPLE_ORDERS[0]
    label = sample.label_en if current_locale.get() == "en" else sample.label_zh
    try:
        value = ruleflows.evaluate(
            trial.node["config"]["logic"], context_of(sample), now=utcnow(), time_limit=SIMULATION_TIME_LIMIT
        )
    except ruleflows.LimitExceededError as exc:
        return RawCheck(False, [limit_error(exc.limit, str(node.get("name") or node["id"])).message], None, label)
    except ruleflows.RuleError as exc:
        return RawCheck(False, [gettext("It fails on a sample order: %(detail)s") % {"detail": str(exc)}], None, label)
    return RawCheck(True, [], json.dumps(value, ensure_ascii=False), label)


def node_problems(node: dict[str, Any], trigger: str | None = None) -> list[str]:
    """The engine's problems with one node's configuration (connections aside) in a flow with this trigger (an
    order flow by default), in the request's language."""
    doc = {"schema": 1, "name": "check", "trigger": trigger or "order.received", "nodes": [node], "edges": []}
    language_en = current_locale.get() == "en"
    return [
        problem.message_en if language_en else problem.message_zh
        for problem in ruleflows.validate(doc)
        if problem.path is not None and problem.path.startswith("nodes[0].config")
    ]


# ------------------------------------------------------------------------------------------ rendering


def summary(node: dict[str, Any]) -> str:
    """One line the canvas shows under a node's name: what it checks or does."""
    config = node.get("config") or {}
    if node.get("type") == "condition":
        tree = condition_tree(config)
        if tree is not None:
            return builder.describe(tree)
        return gettext("JSON Logic") if config.get("logic") is not None else ""
    if node.get("type") == "switch":
        return " / ".join(
            str(b.get("label") or builder.describe(condition_tree(b)) or b.get("id"))
            for b in config.get("branches") or []
            if isinstance(b, dict)
        )
    if node.get("type") == "action":
        action = config.get("action")
        if action not in ACTION_CATALOGUE:
            return ""
        params = config.get("params") or {}
        shown = [action_forms.describe(action, name, value) for name, value in params.items()]
        return " · ".join(text for text in shown if text)
    return ""


def shown(value: Any, limit: int = 160, indent: int | None = None) -> str:
    """A value as readable JSON (Chinese kept as is), cut short for the trace table."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def action_label(action: str) -> str:
    """An action's label in the request's language, or its name if it is not in the catalogue."""
    return localised(ACTION_CATALOGUE[action]) if action in ACTION_CATALOGUE else action


def action_choices(trigger: str | None = None) -> list[tuple[str, str]]:
    """(action name, label) for the action picker of a flow with this trigger: only the after-sales actions in
    an after-sales flow, only the order actions in an order flow."""
    return [(name, localised(ACTION_CATALOGUE[name])) for name in ruleflows.actions_for(trigger)]


def param_rows(applied: Applied) -> list[action_forms.ParamRow]:
    """How to render each parameter of an action node's chosen action: as typed when the form was refused."""
    config = applied.node.get("config") or {}
    action = config.get("action")
    if action not in ACTION_CATALOGUE:
        return []
    return action_forms.rows(action, config.get("params") or {}, applied.param_states, applied.param_problems)


def one_of_mode(node: dict[str, Any]) -> str | None:
    """For actions that take one of several parameters (a code or a strategy), which one is in use."""
    config = node.get("config") or {}
    action = config.get("action")
    if action not in ACTION_CATALOGUE:
        return None
    one_of = ACTION_CATALOGUE[action].get("one_of")
    if not one_of:
        return None
    params = config.get("params") or {}
    return next((name for name in one_of if params.get(name) is not None), one_of[0])
