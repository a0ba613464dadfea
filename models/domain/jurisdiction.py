"""China's 12-digit statistical division codes (统计用区划代码) and the level tree they encode.

A code may be written in full (12 digits, zero-padded) or by its significant prefix:
`33` province, `3303` city, `330302` county, `330302001` township, `330302001001` village.
"""

from __future__ import annotations

from enum import StrEnum

from models.domain.errors import InputError

PREFIX_LENGTHS = (2, 4, 6, 9, 12)


class Level(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"


LEVEL_BY_LENGTH = dict(zip(PREFIX_LENGTHS, Level, strict=True))


def normalize_code(code: str, *, field: str = "division code") -> str:
    """The significant prefix: '990102000000' → '990102'. `field` names where the code was
    given, for the error."""
    code = code.strip()
    if not (code.isascii() and code.isdigit()):
        raise InputError(field=field, reason=f"{code!r} must be digits only")
    if len(code) == 12:
        code = _strip_zero_groups(code)
    if len(code) not in PREFIX_LENGTHS:
        raise InputError(field=field, reason=f"{code!r} must have 2, 4, 6, 9 or 12 digits")
    return code


def _strip_zero_groups(code: str) -> str:
    for length in reversed(PREFIX_LENGTHS[:-1]):
        if code[length:].strip("0") == "":
            continue
        return code[: PREFIX_LENGTHS[PREFIX_LENGTHS.index(length) + 1]]
    return code[:2]


def level_of(code: str) -> Level:
    return LEVEL_BY_LENGTH[len(normalize_code(code))]


def parent_of(code: str) -> str | None:
    """The upper level (上级): a village's township, a township's county… None for a province."""
    code = normalize_code(code)
    index = PREFIX_LENGTHS.index(len(code))
    return None if index == 0 else code[: PREFIX_LENGTHS[index - 1]]


def ancestry(code: str) -> list[str]:
    """The code and every level above it, nearest first."""
    chain = [normalize_code(code)]
    while (parent := parent_of(chain[-1])) is not None:
        chain.append(parent)
    return chain


def is_within(code: str, *, under: str) -> bool:
    return normalize_code(code).startswith(normalize_code(under))
