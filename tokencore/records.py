"""Fast construction of the engine's frozen result records (issued tokens, decoded fields, meter states).

The records are frozen, slotted dataclasses, and stay so: typed, immutable, with their `__eq__`, `__repr__`
and `dataclasses.replace`. But a frozen dataclass's generated `__init__` sets each field through
`object.__setattr__` (a Python-level call per field) and runs `__post_init__`: for the ten fields of an
issued token that is 0.8 us, a tenth of the whole token. `builder(cls)` returns a function with the same
parameters and defaults as `cls(...)` that fills the slots directly through their descriptors (0.35 us),
and `evolver(cls)` the equivalent of `dataclasses.replace` (which goes through `__init__` again).

Both skip `__post_init__`: they are for the engine's own hot paths, whose values are already checked.
Public constructors are unchanged and still validate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any, TypeVar

__all__ = ["builder", "evolver"]

T = TypeVar("T")


class _Keep:
    """The default of `evolver` parameters: keep the field's current value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<keep>"


_KEEP = _Keep()


def _names_and_defaults(cls: type[Any]) -> list[tuple[str, Any]]:
    if "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} must be a slotted dataclass")
    out = []
    for f in fields(cls):
        if f.default_factory is not MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: default factories are not supported")
        out.append((f.name, f.default))
    return out


def _compile(source: str, namespace: dict[str, Any], name: str) -> Callable[..., Any]:
    # The same technique as dataclasses' own generated __init__: straight-line code, no loop per call.
    # The source is built from the field names above, never from input.
    exec(source, namespace)
    return namespace[name]  # type: ignore[no-any-return]


def builder(cls: type[T]) -> Callable[..., T]:
    """A constructor for the frozen, slotted dataclass `cls` that sets the slots directly.

    Same parameters and defaults as `cls(...)`; `__post_init__` does not run. Raises TypeError for a
    class without slots or with a default factory.
    """
    spec = _names_and_defaults(cls)
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    params, body = [], []
    for name, default in spec:
        namespace[f"_set_{name}"] = getattr(cls, name).__set__
        if default is MISSING:
            params.append(name)
        else:
            namespace[f"_default_{name}"] = default
            params.append(f"{name}=_default_{name}")
        body.append(f"    _set_{name}(obj, {name})")
    source = (
        f"def build({', '.join(params)}):\n    obj = _new(_cls)\n" + "\n".join(body) + "\n    return obj\n"
    )
    return _compile(source, namespace, "build")


def evolver(cls: type[T]) -> Callable[..., T]:
    """`dataclasses.replace` for the frozen, slotted dataclass `cls`, without `__init__`.

    Call it as `evolve(obj, field=value, ...)`; fields not named keep their value; `__post_init__` does
    not run, so the caller keeps the class's invariants. Raises TypeError as `builder` does.
    """
    spec = _names_and_defaults(cls)
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_KEEP": _KEEP}
    params, body = [], []
    for name, _ in spec:
        namespace[f"_set_{name}"] = getattr(cls, name).__set__
        params.append(f"{name}=_KEEP")
        body.append(f"    _set_{name}(new, obj.{name} if {name} is _KEEP else {name})")
    source = f"def evolve(obj, *, {', '.join(params)}):\n    new = _new(_cls)\n" + "\n".join(body)
    return _compile(source + "\n    return new\n", namespace, "evolve")
