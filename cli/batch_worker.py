"""One worker of `nguvu token batch`: rows of the input CSV in, output lines out.

A worker is given every row of its meters, in file order, in chunks (see cli/batch.py): it keeps each
meter's profile and decoder key, and each meter's last TID issued, from chunk to chunk, so a meter's
tokens get distinct, increasing TIDs across the whole file and a decoder key is derived once per meter.
"""

from __future__ import annotations

import csv
import io
import multiprocessing.queues
import operator
import pickle
import secrets
import signal
from datetime import datetime

from cli.errors import UsageError
from cli.meter_options import parse_time
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
from tokencore.amount import decode_amount, tenths_to_units
from tokencore.batch import CreditRequest, issue_credit_fields

SERVICE_NAMES = {s.value: s.name.lower() for s in Service}
METER_FIELDS = (("pan", ""), ("drn", ""), ("sgc", ""), ("ti", ""), ("krn", ""), ("kt", "2"), ("ken", "255"),
                ("base_date", "2014"), ("dkga", "02"), ("ea", "07"))  # fmt: skip
# Meters (profile and key) a worker keeps. A worker holds the meters of its share of the file, so this
# only bounds memory on a huge file (about 1 KB per meter); past it the cache starts again, which costs a
# key derivation per meter seen again but changes no result (the last TIDs are kept apart, see below).
MAX_METERS = 1_000_000
REQUIRED = "pan (or drn), sgc, ti and krn are required"
MAX_PARAMS = 10_000  # distinct (sgc, ti, krn, kt, ken, base date, dkga, ea) kept: usually a handful


def split_fields(text: str) -> list[str]:
    """One CSV line's fields; the plain split when nothing is quoted (the common, fast case)."""
    return text.split(",") if '"' not in text else next(csv.reader([text]))


def csv_line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


class Worker:
    """Per-process state: the vending key, the column layout, one profile and key per meter seen, and the
    last TID issued per meter (by PAN), which is what makes chunk after chunk equal one big batch.
    Rows are read with precomputed column positions: this loop runs a million times in a big batch."""

    def __init__(self, vending_key: VendingKey, columns: dict[str, int], default_at: datetime) -> None:
        self.vending_key, self.default_at = vending_key, default_at
        self.width = len(columns) + 1
        blank = self.width - 1  # the padding column: "" unless a row has more fields than the header
        self.meter_columns = [columns.get(name, blank) for name, _ in METER_FIELDS]
        self.meter_fields = operator.itemgetter(*self.meter_columns)
        self.request_fields = operator.itemgetter(
            *(columns.get(name, blank) for name in ("units", "at", "rnd", "last_tid", "service"))
        )
        self.meters: dict[tuple[str, ...], tuple[MeterProfile, DecoderKey]] = {}
        self.params: dict[tuple[str, ...], KeyParams] = {}
        self.last_tids: dict[str, int] = {}
        self.times: dict[str, datetime] = {"": default_at}
        self.services: dict[str, Service] = {}
        self.units: dict[int, str] = {}  # amount field -> the units it credits, as written out

    def _add_meter(self, spec: tuple[str, ...]) -> tuple[MeterProfile, DecoderKey]:
        if len(self.meters) >= MAX_METERS:
            self.meters.clear()
        known = self.meters[spec] = self._new_meter(spec)
        return known

    def _new_meter(self, spec: tuple[str, ...]) -> tuple[MeterProfile, DecoderKey]:
        number = spec[0].strip() or spec[1].strip()
        if not number:
            raise UsageError(REQUIRED)
        params = self.params.get(spec[2:])  # the same text as a meter seen before: checked already
        if params is None:
            params = self._params(spec[2:])
        profile = MeterProfile(meter_from_number(number), params)
        return profile, derive_decoder_key(self.vending_key, profile)

    def _params(self, spec: tuple[str, ...]) -> KeyParams:
        values = (v.strip() or d for v, (_, d) in zip(spec, METER_FIELDS[2:], strict=True))
        sgc, ti, krn, kt, ken, base_date, dkga, ea = values
        if not (sgc and ti and krn):
            raise UsageError(REQUIRED)
        params = KeyParams(
            sgc=int(sgc), ti=int(ti), krn=int(krn), kt=KeyType(int(kt)), ken=int(ken),
            base_date=BaseDate.from_year(base_date), dkga=Dkga.parse(dkga), ea=Ea.parse(ea),
        )  # fmt: skip
        if len(self.params) < MAX_PARAMS:
            self.params[spec] = params
        return params

    def request(self, row: list[str], random_nibble: int) -> CreditRequest:
        """The row's request; raises UsageError, TokenError or ValueError for a row that cannot be one."""
        spec: tuple[str, ...] = self.meter_fields(row)
        profile, key = self.meters.get(spec) or self._add_meter(spec)
        units, at_text, rnd, last, service = self.request_fields(row)
        at = self.times.get(at_text) or self._time(at_text)
        kind = self.services.get(service)
        if kind is None:  # not `or`: Service.ELECTRICITY is 0
            kind = self._service(service)
        return CreditRequest(
            profile,
            key,
            units,
            at,
            int(rnd) if rnd and not rnd.isspace() else random_nibble,
            int(last) if last and not last.isspace() else None,
            kind,
        )

    def _time(self, text: str) -> datetime:
        at = self.times[text] = parse_time(text.strip())
        return at

    def _service(self, text: str) -> Service:
        kind = self.services[text] = Service.parse(text.strip() or "electricity")
        return kind

    def issue(
        self, lines: list[int], texts: list[str], starts: dict[str, int | None] | None = None
    ) -> tuple[list[str], int]:
        """The output line of every row (the row's line number first), in order, and how many were refused.
        `starts` (PAN -> TID) sets where meters' TIDs start from, when the parent reserved them."""
        for pan, tid in (starts or {}).items():
            if tid is not None:
                self.last_tids[pan] = tid
        out: list[str] = []
        requests: list[CreditRequest] = []
        where: list[int] = []
        width, pan_column, drn_column = self.width, self.meter_columns[0], self.meter_columns[1]
        nibbles = secrets.token_bytes(len(texts))  # default RNDs: one random byte per row, low nibble used
        for line, text, random_byte in zip(lines, texts, nibbles, strict=True):
            row = text.split(",") if '"' not in text else split_fields(text)
            if len(row) < width:
                row += [""] * (width - len(row))
            try:
                requests.append(self.request(row, random_byte & 15))
            except (TokenError, UsageError, ValueError) as exc:
                out.append(_error_line(line, row[pan_column] or row[drn_column], exc))
                continue
            where.append(len(out))
            out.append("")  # filled in below, once issued
        refused = len(out) - len(requests)
        results = issue_credit_fields(requests, last_tids=self.last_tids)
        units = self.units
        for slot, request, result in zip(where, requests, results, strict=True):
            line, pan = lines[slot], request.profile.pan.pan
            if isinstance(result, TokenError):
                refused += 1
                out[slot] = _error_line(line, pan, result)
                continue
            token, block, tid, _, field = result
            amount = units.get(field)
            if amount is None:
                amount = units[field] = str(tenths_to_units(decode_amount(field)))
            out[slot] = f"{line},{pan},{SERVICE_NAMES[block >> 60]},{amount},{tid},{token},"
        return out, refused


def _error_line(line: int, pan: str, exc: Exception) -> str:
    return csv_line([str(line), pan, "", "", "", "", str(exc)])


# (line numbers, line texts, PAN -> TID to start from) of some rows: of one worker's meters, or a chunk of
# the file whose meters' TIDs the parent reserved (cli/batch_tids.py).
Job = tuple[list[int], list[str], dict[str, int | None]]
Done = tuple[int, list[str] | BaseException, int, int]  # (worker, output lines or the error, refused, size)


def work(
    index: int,
    vending_key: bytes,
    columns: dict[str, int],
    default_at: datetime,
    jobs: multiprocessing.queues.Queue[Job | None],
    done: multiprocessing.queues.Queue[Done],
) -> None:
    """A worker process: issue each job of `jobs` until None, answering on `done` in the same order.
    `size` is the number of characters of the job's rows (for the progress bar)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the workers
    worker = Worker(VendingKey(vending_key), columns, default_at)
    try:
        while (job := jobs.get()) is not None:
            lines, texts, starts = job
            out, refused = worker.issue(lines, texts, starts)
            done.put((index, out, refused, sum(map(len, texts)) + len(texts)))
    except Exception as exc:  # reported to the parent, which stops the batch
        done.put((index, _picklable(exc), 0, 0))


def _picklable(exc: Exception) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"batch worker failed: {type(exc).__name__}: {exc}")
    return exc
