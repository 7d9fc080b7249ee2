"""Account passwords: argon2id (argon2-cffi's defaults, RFC 9106's second recommended profile), one
home for hashing, checking and the length rule, used by the CLI and the back office alike."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from api.errors import FieldErrors

MIN_LENGTH = 10
MAX_LENGTH = 200  # argon2 takes any length; a bound keeps a megabyte "password" from costing CPU
_hasher = PasswordHasher()  # type ID (argon2id), 64 MiB, 3 passes, 4 lanes
# Checked against when the email is unknown, so that an unknown account takes as long as a wrong password.
_DUMMY = _hasher.hash("nguvu: no such account")


def check_rules(password: str, field: str = "password") -> None:
    """Raise FieldErrors if the password is too short or too long."""
    if len(password) < MIN_LENGTH:
        raise FieldErrors({field: "password_too_short"})
    if len(password) > MAX_LENGTH:
        raise FieldErrors({field: "too_long"})


def hash_password(password: str) -> str:
    check_rules(password)
    return _hasher.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """True if `password` matches; always spends one argon2 verification (also for an unknown account)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY, password[:MAX_LENGTH]) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the stored hash used older parameters (rehashed at the next successful login)."""
    return _hasher.check_needs_rehash(stored_hash)
