"""The codes that cross the boundary (a copy of shared/contract/vocabulary.yaml, extended only)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

VOCABULARY_FILE = Path(__file__).with_name("vocabulary.yaml")


@dataclass(frozen=True)
class Vocabulary:
    groups: dict[str, dict[str, str]]

    def codes(self, group: str) -> frozenset[str]:
        return frozenset(self.groups[group])

    def label(self, group: str, code: str) -> str:
        return self.groups[group].get(code, code)


@cache
def vocabulary() -> Vocabulary:
    raw = yaml.safe_load(VOCABULARY_FILE.read_text(encoding="utf-8"))
    return Vocabulary(groups={group: dict(codes) for group, codes in raw.items()})
