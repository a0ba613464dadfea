"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import DateTime, Enum
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC; returns aware UTC.

    SQLite keeps no offset, so every instant is normalised to UTC on the way in and marked
    UTC on the way out. A naive datetime is refused: it would silently mean "some zone".
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; attach an offset")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def enum_of(enum: type[StrEnum], *, column: str, length: int = 16) -> Enum:
    """A column holding one of a domain enum's values: stored as its string (VARCHAR, not a
    native PostgreSQL type, so adding a value needs no type migration), read back as the enum
    member, a bad string refused before it reaches the database, and a CHECK constraint
    named `ck_<table>_<column>` (migration 0004) refusing it in the database too."""
    return Enum(enum, name=column, native_enum=False, create_constraint=True,
                validate_strings=True, length=length, values_callable=lambda members: [m.value for m in members])
