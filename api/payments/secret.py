"""A wrapper that keeps credentials out of reprs, logs, tracebacks and f-strings."""

from __future__ import annotations

from typing import Final

__all__ = ["Secret"]

_MASK: Final = "Secret('**********')"


class Secret:
    """Holds a credential (API key, client secret, PIN, passkey). Only :meth:`reveal` shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return _MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str:
        # Refuse pickling: a pickled secret would end up in caches or task queues in clear.
        raise TypeError("Secret cannot be pickled")
