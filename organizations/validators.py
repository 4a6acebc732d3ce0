"""China's unified social credit code (统一社会信用代码, GB 32100-2015)."""

from django.core.exceptions import ValidationError

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_character(first17: str) -> str:
    """The 18th character that makes ``first17`` a valid code."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(value: str) -> None:
    """Raise a ValidationError with a specific code for each way a code can be wrong."""
    if len(value) != 18:
        raise ValidationError(
            "A unified social credit code has 18 characters; this one has %(n)d.",
            code="credit_code_length",
            params={"n": len(value)},
        )
    bad = sorted({c for c in value if c not in USCC_ALPHABET})
    if bad:
        raise ValidationError(
            "A unified social credit code uses digits and capital letters except I, O, Z, S "
            "and V; found %(bad)s.",
            code="credit_code_characters",
            params={"bad": ", ".join(bad)},
        )
    if not value[2:8].isdigit():
        raise ValidationError(
            "Characters 3–8 of a unified social credit code are the region code (digits).",
            code="credit_code_region",
        )
    expected = uscc_check_character(value[:17])
    if value[17] != expected:
        raise ValidationError(
            "The check character of this unified social credit code is wrong "
            "(a character was probably mistyped).",
            code="credit_code_checksum",
        )
