"""China's unified social credit code (统一社会信用代码, GB 32100-2015)."""

from .errors import (
    CREDIT_CODE_CHARACTERS,
    CREDIT_CODE_CHECKSUM,
    CREDIT_CODE_LENGTH,
    CREDIT_CODE_REGION,
)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_character(first17: str) -> str:
    """The 18th character that makes ``first17`` a valid code."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(value: str) -> None:
    """Raise a ValidationError with a specific code (and the catalogue's message) for each
    way a code can be wrong."""
    if len(value) != 18:
        raise CREDIT_CODE_LENGTH.django()
    if any(c not in USCC_ALPHABET for c in value):
        raise CREDIT_CODE_CHARACTERS.django()
    if not value[2:8].isdigit():
        raise CREDIT_CODE_REGION.django()
    if value[17] != uscc_check_character(value[:17]):
        raise CREDIT_CODE_CHECKSUM.django()
