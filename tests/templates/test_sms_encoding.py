import math

from hypothesis import given, settings
from hypothesis import strategies as st

from templates import analyze_sms
from templates.sms_encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    is_gsm7,
    non_gsm_characters,
    replace_lookalikes,
)

GSM_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=1200)
ANY_TEXT = st.text(max_size=800)


def test_single_and_multipart_boundaries_for_gsm7():
    assert analyze_sms("a" * 160).segments == 1
    assert analyze_sms("a" * 161).segments == 2
    assert analyze_sms("a" * 306).segments == 2
    assert analyze_sms("a" * 307).segments == 3
    assert analyze_sms("").segments == 0


def test_extension_characters_count_double_and_are_not_split():
    assert analyze_sms("€" * 80).units == 160 and analyze_sms("€" * 80).segments == 1
    assert analyze_sms("€" * 81).segments == 2
    # 152 plain septets then an escape pair: the pair moves whole to the second segment
    text = "a" * 152 + "€" + "a" * 10
    assert analyze_sms(text).encoding == "GSM-7"
    assert analyze_sms(text).segments == 2


def test_ucs2_boundaries_and_emoji_count_two_units():
    assert analyze_sms("ж" * 70) == analyze_sms("ж" * 70).__class__("UCS-2", 1, 70, 70)
    assert analyze_sms("ж" * 71).segments == 2
    assert analyze_sms("😀" * 35).units == 70 and analyze_sms("😀" * 35).segments == 1
    assert analyze_sms("😀" * 36).segments == 2
    # 66 units then an emoji: the surrogate pair cannot straddle segments
    assert analyze_sms("ж" * 66 + "😀" + "ж" * 5).segments == 2


def test_accented_latin_in_the_gsm_table_stays_gsm():
    assert analyze_sms("Olá é à ñ ü Ç").encoding == "UCS-2"  # á is not in GSM 03.38
    assert analyze_sms("é à ñ ü Ç ß").encoding == "GSM-7"
    assert non_gsm_characters("Olá ção") == ["á", "ç", "ã"]


def test_typographic_lookalikes_become_gsm():
    assert replace_lookalikes("It’s “fine” – 10\u00a0€…") == 'It\'s "fine" - 10 €...'


@given(ANY_TEXT)
@settings(max_examples=150)
def test_segments_always_hold_the_text(text):
    result = analyze_sms(text)
    assert result.segments * result.per_segment >= result.units
    if text:
        assert result.segments >= 1
        single = 160 if result.encoding == "GSM-7" else 70
        if result.units > single:
            assert result.segments >= math.ceil(result.units / result.per_segment)
            # greedy packing wastes at most one unit per segment
            assert result.segments <= math.ceil(result.units / (result.per_segment - 1))


@given(ANY_TEXT)
def test_gsm_detection_matches_the_reference_tables(text):
    expected = all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)
    assert is_gsm7(text) is expected
    assert (analyze_sms(text).encoding == "GSM-7") is expected


@given(GSM_TEXT)
def test_gsm_units_are_septets(text):
    assert analyze_sms(text).units == len(text) + sum(char in GSM7_EXTENSION for char in text)


@given(ANY_TEXT)
def test_ucs2_units_are_utf16_code_units(text):
    result = analyze_sms(text)
    if result.encoding == "UCS-2":
        assert result.units == len(text.encode("utf-16-le")) // 2


@given(ANY_TEXT, ANY_TEXT)
def test_appending_never_reduces_segments(a, b):
    assert analyze_sms(a + b).segments >= analyze_sms(a).segments
