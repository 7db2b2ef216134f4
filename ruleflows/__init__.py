"""Ruleflow OMS's rule-flow engine: a pure library with no web or database code.

Public API::

    validate(doc) -> list[Problem]                 every problem of a flow document, at once
    run(doc, context, now=...) -> RunResult        decided actions, path and per-node trace; never raises
    compile_flow(doc) -> CompiledFlow              validate once, run many times
    evaluate(logic, data, now=...)                 one JSON Logic expression through the safe wrapper
    ORDER_CONTEXT_SCHEMA / order_context_schema()  the fields a flow can read, for the field picker
    ACTION_CATALOGUE                               the actions a flow can decide, with parameter schemas
    list_templates() / load_template(name)         ready-made flows shipped in ruleflows/library
"""

from __future__ import annotations

from ruleflows.actions import ACTION_CATALOGUE
from ruleflows.errors import LimitExceededError, LogicError, RefusedOperatorError, RuleError
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
from ruleflows.logic import ALLOWED_OPERATORS, evaluate
from ruleflows.problems import Problem
from ruleflows.schema import ORDER_CONTEXT_SCHEMA, order_context_schema
from ruleflows.validation import validate

__all__ = [
    "ACTION_CATALOGUE",
    "ALLOWED_OPERATORS",
    "ORDER_CONTEXT_SCHEMA",
    "CompiledFlow",
    "DecidedAction",
    "InvalidFlowError",
    "LimitExceededError",
    "LogicError",
    "NodeTrace",
    "Problem",
    "RefusedOperatorError",
    "RuleError",
    "RunResult",
    "compile_flow",
    "evaluate",
    "list_templates",
    "load_template",
    "order_context_schema",
    "run",
    "validate",
]
