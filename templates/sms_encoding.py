"""SMS encoding and segment counting (3GPP TS 23.038).

A message that fits the GSM 03.38 alphabet is sent as 7-bit septets: 160 in one segment,
153 per segment once split (the rest is the concatenation header). Characters from the
extension table take an escape plus the character, so they count double, and carriers do
not split such a pair across segments. Anything else forces UCS-2: 70 UTF-16 code units in
one segment, 67 per segment once split, and a surrogate pair (most emoji) is never split.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM_SINGLE, GSM_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

_NOT_GSM = re.compile("[^" + re.escape("".join(sorted(GSM7_BASIC | GSM7_EXTENSION))) + "]")
_EXTENSION = re.compile("[" + re.escape("".join(sorted(GSM7_EXTENSION))) + "]")


@dataclass(frozen=True)
class SmsEncoding:
    encoding: Encoding
    segments: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    per_segment: int  # capacity of one segment at this length


# Typographic characters that look the same as a GSM-7 one; left alone they would force the
# whole message into UCS-2 and more than double its segment count (Babel, for one, puts a
# no-break space between amount and currency).
LOOKALIKES = str.maketrans(
    {
        "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2009": " ", "\u200a": " ",
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u2026": "...", "\u200b": "", "\ufeff": "",
    }
)  # fmt: skip


def replace_lookalikes(text: str) -> str:
    return text.translate(LOOKALIKES)


def is_gsm7(text: str) -> bool:
    return _NOT_GSM.search(text) is None


def non_gsm_characters(text: str) -> list[str]:
    """The characters that force UCS-2, in order of first appearance."""
    return list(dict.fromkeys(_NOT_GSM.findall(text)))


def gsm7_septets(text: str) -> int:
    return len(text) + len(_EXTENSION.findall(text))


def utf16_units(text: str) -> int:
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def analyze_sms(text: str) -> SmsEncoding:
    """Encoding and segment count of ``text``; an empty text is zero segments."""
    if is_gsm7(text):
        units = gsm7_septets(text)
        if units <= GSM_SINGLE:
            return SmsEncoding("GSM-7", 1 if units else 0, units, GSM_SINGLE)
        if units == len(text):  # no escape pairs to keep together
            segments = math.ceil(units / GSM_MULTI)
        else:
            segments = _pack(text, GSM_MULTI, lambda char: 2 if char in GSM7_EXTENSION else 1)
        return SmsEncoding("GSM-7", segments, units, GSM_MULTI)
    units = utf16_units(text)
    if units <= UCS2_SINGLE:
        return SmsEncoding("UCS-2", 1, units, UCS2_SINGLE)
    if units == len(text):  # no surrogate pairs to keep together
        segments = math.ceil(units / UCS2_MULTI)
    else:
        segments = _pack(text, UCS2_MULTI, lambda char: 2 if ord(char) > 0xFFFF else 1)
    return SmsEncoding("UCS-2", segments, units, UCS2_MULTI)


def _pack(text: str, capacity: int, cost) -> int:
    """Segments needed when a character's units may not straddle two segments."""
    segments, used = 1, 0
    for char in text:
        size = cost(char)
        if used + size > capacity:
            segments += 1
            used = 0
        used += size
    return segments
