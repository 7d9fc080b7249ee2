"""Who acts: every use-case takes an `Actor`, and its `label` is what the audit log and tokens record.

An actor is an administrator (the back office), a vendor API key, the command line, a payment provider,
a USSD caller or the service itself. The label names the person or key, never a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

LABEL_MAX = 80  # AuditLog.actor


class ActorKind(StrEnum):
    ADMIN = "admin"
    APIKEY = "apikey"
    CLI = "cli"
    PROVIDER = "provider"
    USSD = "ussd"
    SYSTEM = "system"


class AdminRow(Protocol):
    """An Administrator row (only what an actor needs)."""

    id: int | None
    name: str
    post_name: str


class ApiKeyRow(Protocol):
    """An ApiKey row (its public id and name; never its hash)."""

    key_id: str
    name: str


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    ident: str = ""
    name: str = ""

    @property
    def label(self) -> str:
        """`admin:3 Jeanne Kahindo`, `apikey:0a1b2c3d4e5f vendor`, `cli`: at most 80 characters."""
        text = f"{self.kind}:{self.ident}" if self.ident else str(self.kind)
        if self.name:
            text = f"{text} {self.name}"
        return text[:LABEL_MAX]

    @classmethod
    def admin(cls, row: AdminRow) -> Actor:
        if row.id is None:
            raise ValueError("an administrator actor needs a stored administrator")
        return cls(ActorKind.ADMIN, str(row.id), f"{row.name} {row.post_name}".strip())

    @classmethod
    def apikey(cls, row: ApiKeyRow) -> Actor:
        return cls(ActorKind.APIKEY, row.key_id, row.name)

    @classmethod
    def cli(cls) -> Actor:
        return cls(ActorKind.CLI)

    @classmethod
    def provider(cls, name: str) -> Actor:
        return cls(ActorKind.PROVIDER, name)

    @classmethod
    def ussd(cls) -> Actor:
        return cls(ActorKind.USSD)

    @classmethod
    def system(cls) -> Actor:
        return cls(ActorKind.SYSTEM)
