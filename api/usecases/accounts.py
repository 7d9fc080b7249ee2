"""Accounts of the back office: the super administrator creates administrators and cashiers, changes
their role, resets their password, deactivates and reactivates them and lifts login locks; everyone
changes their own password. Each function validates everything before writing and audits what it did.

Deactivating an account, resetting its password or changing its role ends its sessions at once (the
next request of that browser is sent to the login page).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from api import audit, passwords
from api.actors import Actor
from api.errors import Conflict, FieldErrors, InvalidInput, NotFound
from api.models import Administrator, AdminSession, LoginThrottle

ROLES = ("superadmin", "admin", "cashier")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class AccountInput:
    email: str
    name: str
    role: str
    password: str
    post_name: str = ""
    position: str = ""


def _check(data: AccountInput) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not _EMAIL.match(data.email.strip()) or len(data.email.strip()) > 254:
        errors["email"] = "invalid_email"
    if not data.name.strip():
        errors["name"] = "required"
    for field, value in (("name", data.name), ("post_name", data.post_name), ("position", data.position)):
        if len(value.strip()) > 80:
            errors[field] = "too_long"
    if data.role not in ROLES:
        errors["role"] = "invalid_choice"
    try:
        passwords.check_rules(data.password)
    except FieldErrors as exc:
        errors.update(exc.errors)
    return errors


def create(session: Session, actor: Actor, data: AccountInput) -> Administrator:
    """A new account; FieldErrors (nothing written) on any bad field or a taken email."""
    errors = _check(data)
    email = data.email.strip().lower()
    if (
        "email" not in errors
        and session.scalars(select(Administrator).where(col(Administrator.email) == email)).first()
    ):
        errors["email"] = "email_taken"
    if errors:
        raise FieldErrors(errors)
    row = Administrator(
        role=data.role,
        name=data.name.strip(),
        post_name=data.post_name.strip(),
        email=email,
        position=data.position.strip(),
        password_hash=passwords.hash_password(data.password),
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "account_created", f"administrator:{row.id}", after=row)
    return row


def _get(session: Session, admin_id: int) -> Administrator:
    row = session.get(Administrator, admin_id)
    if row is None:
        raise NotFound(f"no administrator {admin_id}")
    return row


def _end_sessions(session: Session, admin_id: int, keep: str | None = None) -> None:
    query = delete(AdminSession).where(col(AdminSession.administrator_id) == admin_id)
    if keep is not None:
        query = query.where(col(AdminSession.id_hash) != keep)
    session.execute(query)


def _guard_last_superadmin(session: Session, row: Administrator) -> None:
    # The service must keep one active super administrator, or nobody could manage accounts again.
    others = session.scalars(
        select(col(Administrator.id)).where(
            col(Administrator.role) == "superadmin",
            col(Administrator.active),
            col(Administrator.id) != row.id,
        )
    ).first()
    if row.role == "superadmin" and row.active and others is None:
        raise Conflict("the last active super administrator cannot be deactivated or demoted")


def set_role(session: Session, actor: Actor, admin_id: int, role: str) -> Administrator:
    if role not in ROLES:
        raise FieldErrors({"role": "invalid_choice"})
    row = _get(session, admin_id)
    if row.role == role:
        return row
    if role != "superadmin":
        _guard_last_superadmin(session, row)
    before = audit.snapshot(row)
    row.role = role
    _end_sessions(session, admin_id)  # the menu and rights of an open session follow the new role
    audit.record(session, actor, "account_role", f"administrator:{admin_id}", before=before, after=row)
    return row


def set_active(session: Session, actor: Actor, admin_id: int, active: bool) -> Administrator:
    row = _get(session, admin_id)
    if row.active == active:
        return row
    if not active:
        _guard_last_superadmin(session, row)
        _end_sessions(session, admin_id)
    before = audit.snapshot(row)
    row.active = active
    action = "account_reactivated" if active else "account_deactivated"
    audit.record(session, actor, action, f"administrator:{admin_id}", before=before, after=row)
    return row


def reset_password(session: Session, actor: Actor, admin_id: int, new: str) -> Administrator:
    """The super administrator sets a new password (to hand over in person); the account's sessions end."""
    passwords.check_rules(new)
    row = _get(session, admin_id)
    row.password_hash = passwords.hash_password(new)
    _end_sessions(session, admin_id)
    audit.record(session, actor, "account_password_reset", f"administrator:{admin_id}")
    return row


def change_password(
    session: Session,
    actor: Actor,
    admin_id: int,
    *,
    current: str,
    new: str,
    repeat: str,
    keep_session: str | None,
) -> None:
    """One's own password: the current one must match; other sessions of the account end."""
    row = _get(session, admin_id)
    errors: dict[str, str] = {}
    if not passwords.verify(row.password_hash, current):
        errors["current"] = "wrong_password"
    try:
        passwords.check_rules(new, "new")
    except FieldErrors as exc:
        errors.update(exc.errors)
    if new != repeat:
        errors["repeat"] = "password_mismatch"
    if errors:
        raise FieldErrors(errors)
    row.password_hash = passwords.hash_password(new)
    _end_sessions(session, admin_id, keep=keep_session)
    audit.record(session, actor, "password_changed", f"administrator:{admin_id}")


def unlock(session: Session, actor: Actor, key: str) -> None:
    """Lift a login lock (`account:<email>` or `address:<ip>`), audited."""
    if not key.startswith(("account:", "address:")):
        raise InvalidInput("not a login throttle key")
    removed = session.execute(delete(LoginThrottle).where(col(LoginThrottle.key) == key))
    if not getattr(removed, "rowcount", 0):
        raise NotFound("no such lock")
    audit.record(session, actor, "login_unlocked", key)
