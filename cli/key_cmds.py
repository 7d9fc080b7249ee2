"""Key ceremony commands for the PKCS#11 key store (docs/keys.md): `vending-key transport-key`,
`vending-key import`, `decoder-key import`, and the key management centre's side in software,
`vending-key wrap` (tests, and a KMC without its own HSM). Secrets come from files, never argv."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.actors import Actor
from api.db import transaction
from api.hsm import Pkcs11Store
from api.keyimport import import_decoder_key, import_vending_key
from api.keyring import Keyring
from api.service import build_store
from api.wrapped import wrap_vending_key
from cli.apps import app
from cli.service_cmds import _engine_and_upgrade, service_guarded, vkey_app
from tokencore import VendingKey

dkey_app = typer.Typer(help="Per-meter decoder keys from the key management centre (DKGA 02).")
app.add_typer(dkey_app, name="decoder-key")

TRANSPORT = typer.Option("--transport-key", help="Label of the transport key in the token.")


def _hex_file(path: Path, what: str, nbytes: int | None = None) -> bytes:
    try:
        raw = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise ValueError(f"{path}: the {what} must be hex digits") from None
    if nbytes is not None and len(raw) != nbytes:
        raise ValueError(f"{path}: the {what} must be {nbytes * 2} hex digits")
    return raw


@vkey_app.command("transport-key")
@service_guarded
def transport_key(
    label: Annotated[str, typer.Argument(help="Label of the new transport key in the token.")],
    component_file: Annotated[
        list[Path], typer.Option(help="A custodian's 256-bit component in hex (give it 2 or more times).")
    ],
) -> None:
    """Create the AES-256 transport key in the token from its custodians' components (XOR): UNWRAP only."""
    settings, _engine = _engine_and_upgrade()
    store = build_store(settings)
    if not isinstance(store, Pkcs11Store):
        raise ValueError("a transport key lives in the PKCS#11 token: set NGUVU_KEYSTORE=pkcs11")
    store.create_transport_key(label, [_hex_file(p, "component", 32) for p in component_file])
    print(f"transport key {label} created in token {store.config.token_label}")


@vkey_app.command("import")
@service_guarded
def vending_key_import(
    label: Annotated[str, typer.Argument(help="A name for the key, used by `meter register --vending-key`.")],
    wrapped: Annotated[Path, typer.Option(help="The wrapped key file from the key management centre.")],
    transport: Annotated[str, TRANSPORT] = "transport",
) -> None:
    """Unwrap a vending key into the PKCS#11 token (it never exists in clear here)."""
    settings, engine = _engine_and_upgrade()
    with transaction(engine) as s:
        record = import_vending_key(
            s,
            Keyring(build_store(settings)),
            label,
            wrapped.read_text(),
            transport_key=transport,
            actor=Actor.cli(),
        )
    print(f"vending key {label} imported into the token ({record.bits} bits)")


@vkey_app.command("wrap")
@service_guarded
def vending_key_wrap(
    transport_key_file: Annotated[Path, typer.Option(help="The transport key in hex (64 digits).")],
    key_file: Annotated[Path, typer.Option(help="The 160-bit vending key in hex (40 digits).")],
    out: Annotated[Path, typer.Option(help="Where to write the wrapped key file.")],
) -> None:
    """The key management centre's side, in software: wrap a vending key under the transport key."""
    tk = _hex_file(transport_key_file, "transport key", 32)
    wrapped = wrap_vending_key(tk, VendingKey(_hex_file(key_file, "vending key")))
    out.write_text(wrapped.to_json())
    print(f"wrapped vending key written to {out} (check value {wrapped.check})")


@dkey_app.command("import")
@service_guarded
def decoder_key_import(
    label: Annotated[str, typer.Argument(help="A name for the key, used by `meter register --vending-key`.")],
    wrapped: Annotated[Path, typer.Option(help="The wrapped decoder key file from the KMC.")],
    transport: Annotated[str, TRANSPORT] = "transport",
) -> None:
    """Unwrap one meter's decoder key in the token and keep it sealed under NGUVU_KEK (DKGA 02 meters)."""
    settings, engine = _engine_and_upgrade()
    with transaction(engine) as s:
        record = import_decoder_key(
            s,
            Keyring(build_store(settings)),
            label,
            wrapped.read_text(),
            transport_key=transport,
            actor=Actor.cli(),
        )
    print(f"decoder key {label} imported for meter {record.bound_to.split(':')[0]}")
