"""What the audit reads of a receiver: whether a phone can be called, whether an address reaches a door, and
the normalised address that finds orders sent to the same door.

Pure functions of clear values (the features builder decrypts them, and nothing here keeps them). Platforms
that protect the receiver hand out virtual numbers instead of the buyer's own:

- the "11 + 4" form, an 11-digit number and an extension (Taobao/Tmall ``top.oaid.decrypt`` with
  ``privacy_protection=true`` gives ``18877771111-123``; 抖店 ``order.batchDecrypt`` with
  ``is_virtual_tel=true`` gives ``phone_no_a-phone_no_b`` such as ``18400913965-7576``; JD 隐私号 and WeChat
  ``virtual_tel_number`` are written the same way);
- the 700 number range (15 digits, no extension) that replaces it from December 2025 (Taobao's "虚拟号升级
  700号段方案指引": ``700507877719557``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final

from ruleflows import short_province

#: A platform's virtual number: 11 digits and an extension of 1 to 6 (written with "-", "_", "," or 转), or
#: a 700-range number of 15 digits.
VIRTUAL: Final = re.compile(r"1[3-9]\d{9}(?:-|_|,|，|转)\d{1,6}|700\d{12}")
#: A mainland mobile number (11 digits from 13x to 19x) as written: 13812345678, 138-1234-5678 (spaces gone).
_MOBILE_WRITTEN: Final = re.compile(r"(1[3-9]\d)-?(\d{4})-?(\d{4})")
#: What a street-level address has after its province, city, district and town: a number, or a word that names
#: a road, lane, village, building or room (幸福路, 张家村, 恒隆广场, 3 栋). "上海" or "浦东新区" alone has neither.
_STREET_WORDS: Final = re.compile(
    r"[0-9路街道巷弄里坊村组屯庄号栋幢楼座室层单元苑园院府邸墅舍寓厦场城湾岛厂校站口桥]|胡同|小区|大厦|广场|公寓|花园|中心"
)
#: Punctuation and spaces that do not change where a parcel goes.
_NOISE: Final = re.compile(r"[\s,，、。.·•#＃\-—–_/\\|()（）\[\]【】:：;；\"'“”‘’]+")
#: Old and variant spellings of the words that end a house or lane number.
_VARIANTS: Final = str.maketrans({"號": "号", "衖": "弄", "衕": "同", "樓": "楼", "棟": "栋", "單": "单"})
_CITY_SUFFIX: Final = re.compile(r"(市|地区|盟|自治州)$")


def phone_kind(phone: str | None) -> str:
    """``mobile`` for a mainland mobile number, ``virtual`` for a platform's virtual number, ``""`` for
    anything else (a number of 10 or 12 digits, a landline alone, a mask, a platform's ciphertext)."""
    if not phone:
        return ""
    text = unicodedata.normalize("NFKC", phone).strip()
    text = re.sub(r"[\s()（）]+", "", text)
    text = re.sub(r"^\+?86-?(?=1)", "", text)
    if VIRTUAL.fullmatch(text):
        return "virtual"
    if _MOBILE_WRITTEN.fullmatch(text):
        return "mobile"
    return ""


def is_virtual_number(phone: str | None) -> bool:
    """A platform's virtual number (11 + extension, or the 700 range): the platform protects this receiver."""
    return phone_kind(phone) == "virtual"


def _area_names(area: Iterable[str]) -> list[str]:
    """Each area name as written and in its short forms (上海市 / 上海, 浦东新区, 杭州市 / 杭州), longest first."""
    names: set[str] = set()
    for name in area:
        name = unicodedata.normalize("NFKC", name or "").strip()
        if not name:
            continue
        names.add(name)
        short = short_province(name)
        if short:
            names.add(short)
        trimmed = _CITY_SUFFIX.sub("", name)
        if len(trimmed) >= 2:
            names.add(trimmed)
    return sorted(names, key=len, reverse=True)


def street_part(street: str, area: Iterable[str]) -> str:
    """The street with the area names it starts with taken off (a JD ``fullAddress`` repeats them), spaces and
    punctuation dropped, full-width characters and variant spellings made plain."""
    text = unicodedata.normalize("NFKC", street or "").translate(_VARIANTS)
    text = _NOISE.sub("", text)
    names = _area_names(area)
    stripped = True
    while stripped and text:
        stripped = False
        for name in names:
            plain = _NOISE.sub("", name)
            if plain and text.startswith(plain):
                text = text[len(plain) :]
                stripped = True
                break
    return text.lower()


def has_street_detail(street: str | None, area: Iterable[str]) -> bool:
    """Whether a clear street address names more than its area: at least two characters of its own, with a
    number or a street-level word in them."""
    rest = street_part(street or "", area)
    return len(rest) >= 2 and _STREET_WORDS.search(rest) is not None


def normalized_address(province: str, city: str, district: str, town: str, street: str) -> str:
    """The address as one comparable text: province (short name), city, district and the street with its number,
    so that "上海市浦东新区张江路 88 弄 6 号", "张江路88弄6號" and "张江路８８弄６号" under 上海 / 浦东新区 are one.
    The town is taken off the street when the street repeats it, and is not part of the text itself: one
    platform gives it and another does not for the same door."""
    area = (province, city, district, town)
    parts = [
        short_province(province) or _NOISE.sub("", unicodedata.normalize("NFKC", province)),
        _CITY_SUFFIX.sub("", _NOISE.sub("", unicodedata.normalize("NFKC", city))),
        _NOISE.sub("", unicodedata.normalize("NFKC", district)),
        street_part(street, area),
    ]
    return "|".join(parts)
