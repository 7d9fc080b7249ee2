"""`nguvu vending-key rekey`: move every key sealed in the database to a new KEK (api.rekey).

The old KEK is the service's own (NGUVU_KEK or NGUVU_KEK_FILE); the new one comes from a file
(`--new-kek-file`) or the environment (NGUVU_NEW_KEK, NGUVU_NEW_KEK_FILE), never from the command line,
where other users of the machine and the shell history would see it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from api.actors import Actor
from api.db import transaction
from api.keystore import Kek
from api.rekey import rekey
from cli.service_cmds import _engine_and_upgrade, service_guarded, vkey_app

NEW_KEK_ENV = "NGUVU_NEW_KEK"
NEW_KEK_FILE_ENV = "NGUVU_NEW_KEK_FILE"


def new_kek(path: Path | None) -> Kek:
    """The new KEK from `path`, else $NGUVU_NEW_KEK, else the file $NGUVU_NEW_KEK_FILE names."""
    if path is None and not os.environ.get(NEW_KEK_ENV) and os.environ.get(NEW_KEK_FILE_ENV):
        path = Path(os.environ[NEW_KEK_FILE_ENV])
    if path is not None:
        try:
            raw = path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"the new KEK file cannot be read: {exc.strerror}") from None
    else:
        raw = os.environ.get(NEW_KEK_ENV, "").strip()
    if not raw:
        raise ValueError(f"give the new KEK with --new-kek-file, ${NEW_KEK_ENV} or ${NEW_KEK_FILE_ENV}")
    try:
        return Kek.from_hex(raw)
    except ValueError:
        raise ValueError("the new KEK must be 64 hex digits (a 256-bit key)") from None


@vkey_app.command("rekey")
@service_guarded
def vending_key_rekey(
    new_kek_file: Annotated[
        Path | None,
        typer.Option(help=f"File with the new KEK in hex (or ${NEW_KEK_ENV} / ${NEW_KEK_FILE_ENV})."),
    ] = None,
) -> None:
    """Seal every stored key under a new KEK, in one transaction (all or nothing). Stop the service
    first; restart it with NGUVU_KEK set to the new key."""
    settings, engine = _engine_and_upgrade()
    target = new_kek(new_kek_file)
    with transaction(engine) as session:
        moved = rekey(session, settings.kek, target, Actor.cli())
    print(
        f"{moved} sealed keys moved to the new KEK. Set NGUVU_KEK (or NGUVU_KEK_FILE) to the new key and "
        "restart every instance; keep the old KEK until the database backups made before now expire."
    )
