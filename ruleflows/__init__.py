"""Ruleflow OMS's rule-flow engine: a pure library with no web or database code.

Public API::

    validate(doc) -> list[Problem]                 every problem of a flow document, at once
    run(doc, context, now=...) -> RunResult        decided actions, typed decisions, path and per-node trace;
                                                   never raises
    compile_flow(doc) -> CompiledFlow              validate once, run many times
    evaluate(logic, data, now=...)                 one JSON Logic expression through the safe wrapper
    compile_logic(logic) -> CompiledLogic          one expression compiled once; .evaluate(data, now=...)
                                                   gives evaluate's result or error (flows compile theirs)
    is_expression(value)                           whether a value has the shape of a JSON Logic operation
    ORDER_CONTEXT_SCHEMA / order_context_schema()  the fields an order flow can read, for the field picker
    RETURN_CONTEXT_SCHEMA                          the fields an after-sales flow (return.requested) can read
    context_schema(trigger)                        a copy of the schema of the flow context for this trigger
    TRIGGERS, ORDER_TRIGGERS, RETURN_TRIGGERS      the triggers; context_of_trigger(t) -> "order" | "return"
    is_known_path(path, trigger=None)              whether a dotted path names a field of the flow context
    ACTION_CATALOGUE                               the actions a flow can decide, with parameter schemas
    CASE_ACTIONS, actions_for(trigger)             the after-sales actions; the actions a trigger's flows may use
    MAX_TEXT_PARAM_LENGTH                          the longest text an action parameter may hold
    Decisions, Gift, Notification                  what a run decided (RunResult.decisions), frozen; its
                                                   to_dict() / Decisions.from_dict() JSON form is what
                                                   flows read as ``decisions`` and what the app stores
    list_templates() / load_template(name)         ready-made flows shipped in ruleflows/library

Vocabularies the schema and the catalogue use::

    CHANNELS, WAREHOUSE_STRATEGIES, CARRIER_STRATEGIES, PRIORITY_LEVELS, DOCUMENT_KINDS, NOTIFY_CHANNELS,
    CASE_KINDS, CASE_SOURCES

Regions of China, as flows see them (``features.region``)::

    REGIONS, PROVINCES                             the seven regions; the provinces' short names
    region_of(province) / short_province(name)     "上海市" -> "华东" / "上海"; None if not a province

Document limits and errors::

    MAX_DOCUMENT_BYTES, document_size(doc)         the largest document accepted; a document's JSON size
    nesting_depth(value, limit)                    how deeply JSON nests, safe past the recursion limit
    LIMIT_STEPS, LIMIT_TIME, LIMIT_SIZE, LIMIT_DEPTH  RunResult.limit of a run stopped at a safety limit
    RuleError, LogicError, RefusedOperatorError, LimitExceededError, InvalidFlowError, Problem
"""

from __future__ import annotations

from ruleflows.actions import (
    ACTION_CATALOGUE,
    CASE_ACTIONS,
    MAX_TEXT_PARAM_LENGTH,
    Decisions,
    Gift,
    Notification,
    actions_for,
)
from ruleflows.compiler import CompiledLogic, compile_logic
from ruleflows.document import (
    MAX_DOCUMENT_BYTES,
    ORDER_TRIGGERS,
    RETURN_TRIGGERS,
    TRIGGERS,
    document_size,
    nesting_depth,
)
from ruleflows.errors import (
    LIMIT_DEPTH,
    LIMIT_SIZE,
    LIMIT_STEPS,
    LIMIT_TIME,
    LimitExceededError,
    LogicError,
    RefusedOperatorError,
    RuleError,
)
from ruleflows.interpreter import (
    CompiledFlow,
    DecidedAction,
    InvalidFlowError,
    NodeTrace,
    RunResult,
    compile_flow,
    run,
)
from ruleflows.library import list_templates, load_template
from ruleflows.logic import ALLOWED_OPERATORS, evaluate, is_expression
from ruleflows.problems import BIDI_CONTROLS, Problem, isolated, without_bidi_controls
from ruleflows.regions import PROVINCES, REGIONS, region_of, short_province
from ruleflows.schema import (
    CARRIER_STRATEGIES,
    CASE_KINDS,
    CASE_SOURCES,
    CHANNELS,
    DOCUMENT_KINDS,
    NOTIFY_CHANNELS,
    ORDER_CONTEXT_SCHEMA,
    PRIORITY_LEVELS,
    RETURN_CONTEXT_SCHEMA,
    WAREHOUSE_STRATEGIES,
    context_of_trigger,
    context_schema,
    is_known_path,
    order_context_schema,
)
from ruleflows.validation import validate

__all__ = [
    "ACTION_CATALOGUE",
    "ALLOWED_OPERATORS",
    "BIDI_CONTROLS",
    "CARRIER_STRATEGIES",
    "CASE_ACTIONS",
    "CASE_KINDS",
    "CASE_SOURCES",
    "CHANNELS",
    "DOCUMENT_KINDS",
    "LIMIT_DEPTH",
    "LIMIT_SIZE",
    "LIMIT_STEPS",
    "LIMIT_TIME",
    "MAX_DOCUMENT_BYTES",
    "MAX_TEXT_PARAM_LENGTH",
    "NOTIFY_CHANNELS",
    "ORDER_CONTEXT_SCHEMA",
    "ORDER_TRIGGERS",
    "PRIORITY_LEVELS",
    "PROVINCES",
    "REGIONS",
    "RETURN_CONTEXT_SCHEMA",
    "RETURN_TRIGGERS",
    "TRIGGERS",
    "WAREHOUSE_STRATEGIES",
    "CompiledFlow",
    "CompiledLogic",
    "DecidedAction",
    "Decisions",
    "Gift",
    "InvalidFlowError",
    "LimitExceededError",
    "LogicError",
    "NodeTrace",
    "Notification",
    "Problem",
    "RefusedOperatorError",
    "RuleError",
    "RunResult",
    "actions_for",
    "compile_flow",
    "compile_logic",
    "context_of_trigger",
    "context_schema",
    "document_size",
    "evaluate",
    "is_expression",
    "is_known_path",
    "isolated",
    "list_templates",
    "load_template",
    "nesting_depth",
    "order_context_schema",
    "region_of",
    "run",
    "short_province",
    "validate",
    "without_bidi_controls",
]
