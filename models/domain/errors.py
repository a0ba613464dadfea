"""An input a person can fix, naming the field and the reason (the edge shows it, exit 2)."""

from __future__ import annotations


class FieldError(ValueError):
    def __init__(self, *, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
