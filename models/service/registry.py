"""Loading the jurisdiction tree and the contact registry: all-or-nothing, re-load = upsert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.domain.registry import RegistryFileError, RowProblem, parse_contacts, parse_jurisdictions


@dataclass(frozen=True)
class RegistryLoadResult:
    jurisdictions_added: int
    jurisdictions_updated: int
    contacts_added: int
    contacts_updated: int


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RegistryFileError([RowProblem(str(path), 0, "file not found")]) from None
    except OSError as exc:  # a directory, no permission…
        raise RegistryFileError([RowProblem(str(path), 0, f"cannot read the file ({exc.strerror})")]) from None
    except UnicodeDecodeError as exc:
        raise RegistryFileError([RowProblem(str(path), 0, f"not UTF-8 text ({exc.reason})")]) from None


def load_registry(
    session: Session,
    *,
    jurisdictions: Path | None,
    contacts: Path | None,
    now: datetime,
    actor: str,
) -> RegistryLoadResult:
    """Parse both files completely before writing anything; the caller's transaction makes
    the load all-or-nothing."""
    known = repo.jurisdiction_codes(session)
    jurisdiction_rows = []
    if jurisdictions is not None:
        jurisdiction_rows = parse_jurisdictions(
            read_text(jurisdictions), file=str(jurisdictions), known_codes=known)
        known |= {row.code for row in jurisdiction_rows}
    contact_rows = []
    if contacts is not None:
        contact_rows = parse_contacts(read_text(contacts), file=str(contacts), known_codes=known)
    j_added, j_updated = repo.upsert_jurisdictions(session, jurisdiction_rows)
    c_added, c_updated = repo.upsert_contacts(session, contact_rows)
    result = RegistryLoadResult(j_added, j_updated, c_added, c_updated)
    repo.add_audit(session, case_id=None, at=now, actor=actor, kind="registry_loaded",
                   detail={"jurisdictions": str(jurisdictions or ""), "contacts": str(contacts or ""),
                           **result.__dict__})
    session.flush()
    return result
