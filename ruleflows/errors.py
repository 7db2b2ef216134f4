"""Exceptions raised while evaluating rules.

Only :class:`LogicError` is a JSON Logic *error value*: the ``try`` operator may catch it. Refused operators
and exhausted limits are deliberately not catchable from inside a rule, so a stored document can neither
probe for forbidden operators nor swallow the guard that stops it.
"""

from __future__ import annotations

from typing import Any

NAN = "NaN"
INVALID_ARGUMENTS = "Invalid Arguments"
UNKNOWN_OPERATOR = "Unknown Operator"


class RuleError(Exception):
    """Base class of everything the rule engine raises while evaluating an expression."""


class LogicError(RuleError):
    """A JSON Logic error value, e.g. ``{"type": "NaN"}``; catchable by the ``try`` operator."""

    def __init__(self, error: Any, detail: str | None = None) -> None:
        self.payload: Any = error if isinstance(error, dict) else {"type": error}
        kind = self.payload.get("type") if isinstance(self.payload, dict) else self.payload
        self.type: Any = kind
        super().__init__(detail or str(kind))


class RefusedOperatorError(RuleError):
    """The expression uses an operator outside the allow-list (``method`` is always refused)."""

    def __init__(self, operator: str) -> None:
        self.operator = operator
        super().__init__(f"operator not allowed: {operator!r}")


#: What a :class:`LimitExceededError` ran into (its ``limit``), so callers can explain it.
LIMIT_STEPS = "steps"
LIMIT_TIME = "time"
LIMIT_DEPTH = "depth"
LIMIT_SIZE = "size"


class LimitExceededError(RuleError):
    """The expression went past a safety limit: evaluation steps, time, nesting depth or the size of a value.

    ``limit`` says which (one of the ``LIMIT_*`` codes), for messages that tell the user what to change.
    """

    def __init__(self, message: str, *, limit: str = LIMIT_STEPS) -> None:
        self.limit = limit
        super().__init__(message)
