from hypothesis import given
from hypothesis import strategies as st

from templates import locale_chain, normalize_locale
from templates.locales import display_locale

SUBTAG = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8)
LANGUAGE = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=3)
TAG = st.builds(
    lambda lang, subs, seps: lang + "".join(sep + sub for sep, sub in zip(seps, subs)),
    LANGUAGE,
    st.lists(SUBTAG, max_size=3),
    st.lists(st.sampled_from("-_"), min_size=3, max_size=3),
)


def test_the_issue_example():
    assert locale_chain("pt-BR") == ("pt-br", "pt")
    assert locale_chain("pt_BR") == ("pt-br", "pt")
    assert locale_chain("PT-br") == ("pt-br", "pt")
    assert locale_chain("zh-Hant-TW") == ("zh-hant-tw", "zh-hant", "zh")
    assert locale_chain("pt_BR.UTF-8") == ("pt-br", "pt")


def test_empty_or_malformed_tags_fall_straight_to_the_default():
    assert locale_chain(None) == ()
    assert locale_chain("") == ()
    assert locale_chain("not a locale") == ()
    assert normalize_locale("1x") is None


def test_display_form():
    assert display_locale("pt-br") == "pt-BR"
    assert display_locale("zh-hant-tw") == "zh-Hant-TW"
    assert display_locale("es-419") == "es-419"


@given(TAG)
def test_chain_runs_from_specific_to_general(tag):
    chain = locale_chain(tag)
    assert len(chain) == tag.replace("_", "-").count("-") + 1
    assert chain[-1] == tag[:3].lower().split("-")[0].split("_")[0]
    for longer, shorter in zip(chain, chain[1:]):
        assert longer.startswith(shorter + "-")
    assert all(item == item.lower() and "_" not in item for item in chain)


@given(TAG)
def test_chain_ignores_case_and_separator(tag):
    assert locale_chain(tag) == locale_chain(tag.upper().replace("-", "_")) == locale_chain(tag.swapcase())
