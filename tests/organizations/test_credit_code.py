import pytest
from django.core.exceptions import ValidationError

from organizations.models import Organization
from organizations.validators import uscc_check_character, validate_credit_code
from tests.factories import credit_code

GOOD = "91350100M000100Y43"  # a published example code


def error_code(value: str) -> str:
    with pytest.raises(ValidationError) as excinfo:
        validate_credit_code(value)
    return excinfo.value.code


@pytest.mark.parametrize("value", [GOOD, credit_code(0), credit_code(1), credit_code(31**5 + 7),
                                   credit_code(123456, prefix="12110108")])
def test_valid_codes_pass(value):
    validate_credit_code(value)


def test_check_character_completes_any_first17():
    first17 = "91110302MA01AW7K3"
    validate_credit_code(first17 + uscc_check_character(first17))


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (GOOD[:17], "credit_code_length"),
        (GOOD + "0", "credit_code_length"),
        ("", "credit_code_length"),
        (GOOD[:8] + "I" + GOOD[9:], "credit_code_characters"),  # I, O, Z, S, V are not used
        (GOOD[:8] + "O" + GOOD[9:], "credit_code_characters"),
        (GOOD.lower(), "credit_code_characters"),
        (GOOD[:2] + "A" + GOOD[3:], "credit_code_region"),  # region code must be digits
        (GOOD[:7] + "X" + GOOD[8:], "credit_code_region"),
        (GOOD[:17] + "4", "credit_code_checksum"),
        (GOOD[:9] + "1" + GOOD[10:], "credit_code_checksum"),  # one mistyped character
        (GOOD[:11] + GOOD[12] + GOOD[11] + GOOD[13:], "credit_code_checksum"),  # swap
    ],
)
def test_each_kind_of_bad_code_has_its_own_error_code(value, code):
    assert error_code(value) == code


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "code"),
    [(GOOD[:17], "credit_code_length"), (GOOD[:17] + "4", "credit_code_checksum")],
)
def test_model_full_clean_reports_the_code_on_the_field(value, code):
    org = Organization(kind=Organization.Kind.SME, name="Bad Code Ltd", slug="bad-code",
                       credit_code=value)
    with pytest.raises(ValidationError) as excinfo:
        org.full_clean()
    assert [e.code for e in excinfo.value.error_dict["credit_code"]] == [code]


@pytest.mark.django_db
def test_model_full_clean_accepts_a_good_code_and_no_code():
    Organization(kind="sme", name="Good Ltd", slug="good", credit_code=GOOD).full_clean()
    Organization(kind="sme", name="No Code Ltd", slug="no-code", credit_code=None).full_clean()


@pytest.mark.django_db
def test_lowercase_and_spaced_codes_are_normalised():
    org = Organization(kind="sme", name="Lower", slug="lower",
                       credit_code="91350100m000 100y43")
    org.full_clean()
    assert org.credit_code == "91350100M000100Y43"
