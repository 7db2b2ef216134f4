"""Ready-made flow templates shipped with the product (``ruleflows/library/*.json``): the complete four-stage
flow, each of 技巧二's rules as a small flow of its own (``tip2_*``), and the after-sales auto review
(``return_auto_review``, a ``return.requested`` flow)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final

from ruleflows.document import RETURN_TRIGGERS

#: The one template that is a whole order process; the others are single rules to combine.
COMPLETE_TEMPLATE: Final = "standard_four_stage"


def _files() -> dict[str, Any]:
    folder = resources.files(__name__)
    return {entry.name.removesuffix(".json"): entry for entry in folder.iterdir() if entry.name.endswith(".json")}


def list_templates() -> list[dict[str, Any]]:
    """Summaries of the shipped templates, the complete flow first, then the order flows' and then the after-sales
    flows' (``return.requested``), each by key: key, name, description, trigger, and whether it is the complete
    flow."""
    summaries = []
    documents = {key: json.loads(entry.read_text(encoding="utf-8")) for key, entry in _files().items()}
    for key, doc in sorted(
        documents.items(),
        key=lambda item: (item[0] != COMPLETE_TEMPLATE, item[1].get("trigger") in RETURN_TRIGGERS, item[0]),
    ):
        summaries.append(
            {
                "key": key,
                "name": doc.get("name", key),
                "description": doc.get("description", ""),
                "trigger": doc.get("trigger"),
                "complete": key == COMPLETE_TEMPLATE,
            }
        )
    return summaries


def load_template(name: str) -> dict[str, Any]:
    """A fresh copy of one template document, by key (file name without ``.json``); KeyError if unknown."""
    files = _files()
    if name not in files:
        raise KeyError(f"no flow template named {name!r}")
    document: dict[str, Any] = json.loads(files[name].read_text(encoding="utf-8"))
    return document
