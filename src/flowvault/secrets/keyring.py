"""Master keys: loaded from ``FLOWVAULT_MASTER_KEYS`` or a key file outside the database.

Format (env and file alike): entries ``key_id:base64url-32-bytes``, oldest first, one per line in
the file or comma-separated in the environment. The last entry is the primary: it wraps new and
rotated workspace keys; every entry can unwrap.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from flowvault.config import Settings
from flowvault.errors import KeyringError
from flowvault.secrets.crypto import KEY_BYTES

_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def new_master_key_entry(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    key_id = f"mk-{stamp}-{secrets.token_hex(3)}"
    key = base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()
    return f"{key_id}:{key}"


def parse_entries(entries: list[str], source: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for number, raw in enumerate(entries, start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise KeyringError(
                f"{source}, entry {number}: expected 'key_id:base64key' with a key id of letters, digits, "
                "'-', '_' or '.'"
            )
        try:
            padded = encoded.strip() + "=" * (-len(encoded.strip()) % 4)
            key = base64.b64decode(padded, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise KeyringError(f"{source}, key '{key_id}': the key must be 32 bytes, base64url-encoded")
        if key_id in keys:
            raise KeyringError(f"{source}: key id '{key_id}' appears twice")
        keys[key_id] = key
    if not keys:
        raise KeyringError(f"{source} holds no master key")
    return keys


@dataclass
class KeyRing:
    keys: dict[str, bytes]
    source: str
    path: Path | None = None
    _stamp: tuple[int, int] | None = field(default=None, repr=False)

    @property
    def primary_id(self) -> str:
        return next(reversed(self.keys))

    @property
    def primary(self) -> bytes:
        return self.keys[self.primary_id]

    def get(self, key_id: str) -> bytes | None:
        """The master key ``key_id``; re-reads the key file once if it changed (a key added for a
        rotation while this process runs)."""
        if key_id not in self.keys:
            self.reload()
        return self.keys.get(key_id)

    def reload(self) -> None:
        if self.path is None or not self.path.exists():
            return
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        self.keys = parse_entries(self.path.read_text().splitlines(), str(self.path))
        self._stamp = stamp

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        ring = cls(keys={}, source=str(path), path=path)
        ring.reload()
        if not ring.keys:
            raise KeyringError(f"{path} holds no master key")
        return ring


def load_keyring(settings: Settings, *, create: bool = False) -> KeyRing:
    """The configured master keys. With ``create``, a missing key file is created (0600) with one
    new key and a warning to back it up is printed."""
    if settings.master_keys is not None:
        entries = settings.master_keys.get_secret_value().split(",")
        return KeyRing(keys=parse_entries(entries, "FLOWVAULT_MASTER_KEYS"), source="FLOWVAULT_MASTER_KEYS")
    path = settings.resolved_master_key_file
    if not path.exists():
        if not create:
            raise KeyringError(
                f"No master key: {path} does not exist and FLOWVAULT_MASTER_KEYS is not set. Restore your "
                "key file, set FLOWVAULT_MASTER_KEYS, or run `flowvault serve` once to create one."
            )
        create_key_file(path)
        print(
            f"WARNING: created a new master key file at {path}. Back it up now and keep it apart from the "
            "database: without it the stored secrets cannot be decrypted.",
            file=sys.stderr,
        )
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyringError(f"{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}` and start again")
    return KeyRing.from_file(path)


def create_key_file(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# flowvault master keys, oldest first; the last one encrypts. Keep a backup.\n")
        handle.write(new_master_key_entry() + "\n")


def append_key(path: Path) -> str:
    """Adds a new primary key to the key file; returns its id."""
    entry = new_master_key_entry()
    existing = path.read_bytes()
    # A hand-written file may lack a final newline; without one the entry would be glued to the last line.
    prefix = "\n" if existing and not existing.endswith(b"\n") else ""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(fd, "a") as handle:
        handle.write(prefix + entry + "\n")
    return entry.partition(":")[0]
