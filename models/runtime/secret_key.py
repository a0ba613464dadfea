"""The secret that signs session cookies and acknowledgement links.

WEIQUAN_SECRET_KEY when set; otherwise a random key generated on first use and kept in
`<data_dir>/secret_key` (mode 0600), so a fresh clone needs nothing configured and links in
mails already sent stay valid across restarts. Every process sharing the data directory (the
main job, `weiquan run-due`) reads the same file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from models.runtime.settings import Settings

SECRET_FILE = "secret_key"


class SecretKeyError(RuntimeError):
    pass


def secret_key_path(settings: Settings) -> Path:
    return settings.data_dir / SECRET_FILE


def load_secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    path = secret_key_path(settings)
    if not path.exists():
        _create(path)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise SecretKeyError(f"{path} holds no usable key (under 32 characters): delete it to "
                             "generate a new one (links in mails already sent stop working)")
    return key


def _create(path: Path) -> None:
    """Write to a private temporary file, then link it into place: the key appears whole or
    not at all, and when two processes race the first link wins and both read that one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)
