"""Reading submitted forms: the body types controllers take, and the two ways of reading a field.

A urlencoded body may repeat any field (``next=/a&next=/b``); Litestar then hands a list where a single value
was expected. Every single-valued field is read with :func:`one` (the first value wins, as in most web
frameworks), every multi-valued one (checkboxes, builder rows) with :func:`many`.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar.enums import RequestEncodingType
from litestar.params import Body

#: A urlencoded form body, field name to a value or (for a repeated field) a list of values.
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
#: A multipart body (file uploads).
Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


def one(data: dict[str, Any], name: str, default: str = "", *, strip: bool = True) -> str:
    """The field's value as text (the first one when it was sent more than once), stripped unless asked not to."""
    value = data.get(name, default)
    if isinstance(value, list):
        value = value[0] if value else default
    text = str(value)
    return text.strip() if strip else text


def many(data: dict[str, Any], name: str) -> list[str]:
    """Every value sent for the field, stripped, blanks left out."""
    value = data.get(name, [])
    values = value if isinstance(value, list) else [value]
    return [text for text in (str(v).strip() for v in values) if text]
