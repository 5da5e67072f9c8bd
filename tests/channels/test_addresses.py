import pytest

from channels import InvalidAddress, PermanentError, email_address, inbox_address, phone_number, push_token


def test_phone_numbers_normalise_to_e164():
    assert phone_number("+1 (415) 555-2671") == "+14155552671"
    assert phone_number("+33 6 12 34 56 78") == "+33612345678"


@pytest.mark.parametrize("bad", ["", "4155552671", "+1 415", "+999 1234", "call me"])
def test_bad_phone_numbers_are_invalid_addresses(bad):
    with pytest.raises(InvalidAddress) as raised:
        phone_number(bad)
    assert raised.value.address_invalid and raised.value.code == "invalid_address"
    assert isinstance(raised.value, (PermanentError, ValueError))


def test_email_addresses_normalise_the_domain_without_dns():
    assert email_address("Ada@Example.COM") == "Ada@example.com"
    for bad in ["ada", "ada@", "ada@localhost", "a b@example.com", "x@example.invalid"]:
        with pytest.raises(InvalidAddress):
            email_address(bad)


def test_push_tokens_and_inbox_addresses_must_be_present():
    assert push_token("  fcm-token:abc  ") == "fcm-token:abc"
    assert inbox_address(" 42 ") == "42"
    for bad in ["", "   ", "has space", "x" * 5000]:
        with pytest.raises(InvalidAddress):
            push_token(bad)
    with pytest.raises(InvalidAddress):
        inbox_address("")
