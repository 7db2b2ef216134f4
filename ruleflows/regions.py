"""China's 34 provincial-level divisions and the seven logistics regions retailers route by."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

REGIONS: Final = ("华东", "华北", "华南", "华中", "西南", "西北", "东北")

# Full official name -> (short name, region). Hong Kong, Macau and Taiwan are grouped with 华南 / 华东, as
# most Chinese carriers' zone tables do.
_PROVINCES: Final[dict[str, tuple[str, str]]] = {
    "北京市": ("北京", "华北"),
    "天津市": ("天津", "华北"),
    "河北省": ("河北", "华北"),
    "山西省": ("山西", "华北"),
    "内蒙古自治区": ("内蒙古", "华北"),
    "辽宁省": ("辽宁", "东北"),
    "吉林省": ("吉林", "东北"),
    "黑龙江省": ("黑龙江", "东北"),
    "上海市": ("上海", "华东"),
    "江苏省": ("江苏", "华东"),
    "浙江省": ("浙江", "华东"),
    "安徽省": ("安徽", "华东"),
    "福建省": ("福建", "华东"),
    "江西省": ("江西", "华东"),
    "山东省": ("山东", "华东"),
    "台湾省": ("台湾", "华东"),
    "河南省": ("河南", "华中"),
    "湖北省": ("湖北", "华中"),
    "湖南省": ("湖南", "华中"),
    "广东省": ("广东", "华南"),
    "广西壮族自治区": ("广西", "华南"),
    "海南省": ("海南", "华南"),
    "香港特别行政区": ("香港", "华南"),
    "澳门特别行政区": ("澳门", "华南"),
    "重庆市": ("重庆", "西南"),
    "四川省": ("四川", "西南"),
    "贵州省": ("贵州", "西南"),
    "云南省": ("云南", "西南"),
    "西藏自治区": ("西藏", "西南"),
    "陕西省": ("陕西", "西北"),
    "甘肃省": ("甘肃", "西北"),
    "青海省": ("青海", "西北"),
    "宁夏回族自治区": ("宁夏", "西北"),
    "新疆维吾尔自治区": ("新疆", "西北"),
}

#: Short names in the conventional order, for enum pickers.
PROVINCES: Final = tuple(short for short, _ in _PROVINCES.values())

#: Full official names in the same order.
PROVINCE_FULL_NAMES: Final = tuple(_PROVINCES)

_LOOKUP: Final = MappingProxyType(
    {
        **{full: region for full, (_, region) in _PROVINCES.items()},
        **{short: region for short, region in _PROVINCES.values()},
    }
)
# Suffixes channels append or drop inconsistently ("广西壮族自治区" vs "广西自治区" vs "广西").
_SUFFIXES: Final = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


def short_province(name: str) -> str | None:
    """Return the short name ("上海") for a short or full province name, or None if not a province."""
    cleaned = name.strip()
    if cleaned in _PROVINCES:
        return _PROVINCES[cleaned][0]
    if cleaned in PROVINCES:
        return cleaned
    for suffix in _SUFFIXES:
        if cleaned.endswith(suffix) and cleaned[: -len(suffix)] in PROVINCES:
            return cleaned[: -len(suffix)]
    return None


def region_of(province: str) -> str | None:
    """Return the region (e.g. "华东") of a province given by short or full name, or None if unknown."""
    region = _LOOKUP.get(province.strip())
    if region is not None:
        return region
    short = short_province(province)
    return _LOOKUP.get(short) if short else None
