"""`nguvu token batch IN.csv OUT.csv`: many credit tokens, across all cores.

Rows are grouped by meter, and each meter's rows are issued in order by one worker, so the same-minute
rule holds inside a batch (a meter's tokens get distinct, increasing TIDs) and a decoder key is derived
once per meter. A bad row gets its error in the output and does not stop the batch.
"""

import csv
import io
import multiprocessing
import operator
import os
import secrets
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.apps import token_app
from cli.errors import UsageError, guarded
from cli.meter_options import VENDING_KEY_ENV, load_vending_key, parse_time
from tokencore import (
    BaseDate,
    DecoderKey,
    Dkga,
    Ea,
    KeyParams,
    KeyType,
    MeterProfile,
    Service,
    TokenError,
    VendingKey,
    derive_decoder_key,
    meter_from_number,
)
from tokencore.batch import CreditRequest, issue_credit_tokens

INPUT_COLUMNS = ("pan|drn", "sgc", "ti", "krn", "units", "[kt]", "[ken]", "[base_date]", "[dkga]", "[ea]",
                 "[service]", "[at]", "[rnd]", "[last_tid]")  # fmt: skip
OUTPUT_COLUMNS = ("line", "pan", "service", "units", "tid", "token", "error")
Row = tuple[int, str]  # (line number, the line's text): parsed by the workers, not the parent


def _fields(text: str) -> list[str]:
    """One CSV line's fields; the plain split when nothing is quoted (the common, fast case)."""
    return text.split(",") if '"' not in text else next(csv.reader([text]))


def _csv_line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


def _chunks(groups: dict[str, list[Row]], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for rows in groups.values():
        chunk.extend(rows)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


SERVICE_NAMES = {s.value: s.name.lower() for s in Service}
METER_FIELDS = (("pan", ""), ("drn", ""), ("sgc", ""), ("ti", ""), ("krn", ""), ("kt", "2"), ("ken", "255"),
                ("base_date", "2014"), ("dkga", "02"), ("ea", "07"))  # fmt: skip


class _Worker:
    """Per-process state: the vending key, the column layout, and one profile and key per meter seen.
    Rows are read with precomputed column positions: this loop runs a million times in a big batch."""

    def __init__(self, vending_key: VendingKey, columns: dict[str, int], default_at: datetime) -> None:
        self.vending_key, self.default_at = vending_key, default_at
        self.width = len(columns) + 1
        blank = self.width - 1  # the padding column: always ""
        self.meter_columns = [columns.get(name, blank) for name, _ in METER_FIELDS]
        self.meter_fields = operator.itemgetter(*self.meter_columns)
        self.request_fields = operator.itemgetter(
            *(columns.get(name, blank) for name in ("units", "at", "rnd", "last_tid", "service"))
        )
        self.meters: dict[tuple[str, ...], tuple[MeterProfile, DecoderKey]] = {}
        self.times: dict[str, datetime] = {"": default_at}
        self.services: dict[str, Service] = {}

    def meter(self, row: list[str]) -> tuple[MeterProfile, DecoderKey]:
        spec: tuple[str, ...] = self.meter_fields(row)
        known = self.meters.get(spec)
        if known is None:
            values = (v.strip() or d for v, (_, d) in zip(spec, METER_FIELDS, strict=True))
            pan, drn, sgc, ti, krn, kt, ken, base_date, dkga, ea = values
            if not (pan or drn) or not (sgc and ti and krn):
                raise UsageError("pan (or drn), sgc, ti and krn are required")
            params = KeyParams(
                sgc=int(sgc), ti=int(ti), krn=int(krn), kt=KeyType(int(kt)), ken=int(ken),
                base_date=BaseDate.from_year(base_date), dkga=Dkga.parse(dkga), ea=Ea.parse(ea),
            )  # fmt: skip
            profile = MeterProfile(meter_from_number(pan or drn), params)
            if len(self.meters) > 100_000:
                self.meters.clear()
            known = self.meters[spec] = (profile, derive_decoder_key(self.vending_key, profile))
        return known

    def request(self, row: list[str], random_nibble: int) -> CreditRequest:
        profile, key = self.meter(row)
        units, at_text, rnd, last, service = self.request_fields(row)
        at = self.times.get(at_text)
        if at is None:
            at = self.times[at_text] = parse_time(at_text.strip())
        kind = self.services.get(service)
        if kind is None:
            kind = self.services[service] = Service.parse(service.strip() or "electricity")
        return CreditRequest(
            profile,
            key,
            units,
            at,
            int(rnd) if rnd.strip() else random_nibble,
            int(last) if last.strip() else None,
            kind,
        )

    def issue(self, chunk: list[Row]) -> tuple[list[tuple[int, str]], int]:
        """The output lines of a chunk, each with its input line number, and how many rows were refused."""
        out: list[tuple[int, str] | None] = []
        requests, where = [], []
        nibbles = secrets.token_bytes(len(chunk))  # default RNDs: one random byte per row, low nibble used
        for (line, text), random_byte in zip(chunk, nibbles, strict=True):
            row = _fields(text)
            row += [""] * (self.width - len(row))
            try:
                requests.append(self.request(row, random_byte & 15))
                where.append(len(out))
                out.append(None)
            except (TokenError, UsageError, ValueError) as exc:
                pan = row[self.meter_columns[0]] or row[self.meter_columns[1]]
                out.append((line, _csv_line([str(line), pan, "", "", "", "", str(exc)])))
        refused = len(out) - len(requests)
        for slot, request, result in zip(where, requests, issue_credit_tokens(requests), strict=True):
            line = chunk[slot][0]
            pan = request.profile.pan.pan
            if isinstance(result, TokenError):
                refused += 1
                out[slot] = (line, _csv_line([str(line), pan, "", "", "", "", str(result)]))
            else:
                service = SERVICE_NAMES[result.subclass]
                out[slot] = (line, f"{line},{pan},{service},{result.units},{result.tid},{result.token},")
        return [r for r in out if r is not None], refused


_worker: _Worker | None = None


def _init(vending_key: bytes, columns: dict[str, int], default_at: datetime) -> None:
    global _worker
    _worker = _Worker(VendingKey(vending_key), columns, default_at)


def _run(chunk: list[Row]) -> tuple[list[tuple[int, str]], int]:
    assert _worker is not None
    return _worker.issue(chunk)


def _read(path: Path) -> tuple[dict[str, int], dict[str, list[Row]], int]:
    """The header's columns, and the lines grouped by meter (in input order within a meter)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise UsageError(f"{path} is empty: expected a header row ({', '.join(INPUT_COLUMNS)})")
    columns = {name.strip().lower(): i for i, name in enumerate(_fields(lines[0]))}
    if not ({"pan", "drn"} & columns.keys()) or "units" not in columns:
        raise UsageError(
            f"{path}: the header needs pan (or drn) and units; columns: {', '.join(INPUT_COLUMNS)}"
        )
    key_columns = [columns[c] for c in ("pan", "drn") if c in columns]
    splits = max(key_columns) + 1  # only the fields up to the meter's are split out here
    groups: dict[str, list[Row]] = {}
    count = 0
    for line, row_text in enumerate(lines[1:], start=2):
        if not row_text.strip():
            continue
        row = row_text.split(",", splits) if '"' not in row_text else _fields(row_text)
        meter = "|".join([row[i] if i < len(row) else "" for i in key_columns])
        groups.setdefault(meter, []).append((line, row_text))
        count += 1
    return columns, groups, count


@token_app.command("batch")
@guarded
def batch(
    input_csv: Annotated[Path, typer.Argument(help="CSV with a header: " + ", ".join(INPUT_COLUMNS))],
    output_csv: Annotated[Path, typer.Argument(help="CSV written with: " + ", ".join(OUTPUT_COLUMNS))],
    vending_key_file: Annotated[Path | None, typer.Option(help="File holding the vending key (hex).")] = None,
    vending_key: Annotated[str | None, typer.Option(help="Vending key in hex.")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Issue time for rows without one (default now).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (default: every core).")] = 0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
) -> None:
    """Issue credit tokens for every row of IN.csv into OUT.csv, using every core."""
    key = _vending_key(vending_key_file, vending_key)
    columns, groups, count = _read(input_csv)
    default_at = parse_time(at)
    processes = workers or os.cpu_count() or 1
    chunk_size = max(100, min(20_000, count // (processes * 8) or 1))
    results: list[tuple[int, str]] = []
    failed = 0
    context = multiprocessing.get_context("fork")
    with (
        context.Pool(processes, _init, (key.reveal(), columns, default_at)) as pool,
        typer.progressbar(length=count, label="issuing", file=sys.stderr, hidden=not progress) as bar,
    ):
        for done, refused in pool.imap_unordered(_run, _chunks(groups, chunk_size)):
            results.extend(done)
            failed += refused
            bar.update(len(done))
    results.sort()
    _write(output_csv, results)
    typer.echo(f"{count - failed} tokens issued, {failed} rows refused -> {output_csv}", err=True)
    if failed:
        raise typer.Exit(1)


def _vending_key(path: Path | None, text: str | None) -> VendingKey:
    key = load_vending_key(path, text)
    if key is None:
        raise UsageError(
            f"give the vending key: --vending-key-file FILE, {VENDING_KEY_ENV} or --vending-key HEX"
        )
    return key


def _write(path: Path, results: list[tuple[int, str]]) -> None:
    try:
        with path.open("w", newline="") as handle:
            handle.write(",".join(OUTPUT_COLUMNS) + "\n")
            handle.writelines(text + "\n" for _, text in results)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
