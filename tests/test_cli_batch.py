"""`nguvu token batch`: reading in blocks, dealing rows by meter, order and errors of the output."""

from __future__ import annotations

import csv
import itertools
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli.batch
import cli.batch_dealer
import cli.batch_tids
import cli.batch_worker
from cli.apps import app
from cli.main import main  # noqa: F401  (registers every command module)
from tokencore import (
    BaseDate,
    KeyParams,
    MeterProfile,
    TokenError,
    VendingKey,
    decode_token,
    derive_decoder_key,
    pan_from_drn,
    parse_pan,
)
from tokencore.batch import CreditRequest, issue_credit_tokens
from tokencore.identity import luhn_check_digit
from tokencore.tid import tid_at

KEY = ["--vending-key", "ABABABABABABABAB"]
HEADER = ["drn", "sgc", "ti", "krn", "units", "at", "rnd", "last_tid"]
AT = "2025-06-01T10:00"
runner = CliRunner()


def _drn(serial: int, long: bool = False) -> str:
    body = f"{1234 if long else 12}{serial:08d}"
    return body + str(luhn_check_digit(body))


def _batch(tmp_path: Path, rows: list[list[str]], *args: str) -> tuple[int, str, list[dict[str, str]]]:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    with source.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    result = runner.invoke(app, ["token", "batch", str(source), str(target), *KEY, "--no-progress", *args])
    if not target.exists():
        return result.exit_code, result.stderr, []
    with target.open(newline="") as handle:
        return result.exit_code, result.stderr, list(csv.DictReader(handle))


def test_read_blocks_cuts_lines_as_splitlines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lines.csv"
    text = "a,b\r\nc\rd\n\ne\x0cf\u2028g\x85h\r\n\r\n" * 5 + "last,no newline"
    path.write_bytes(text.encode())
    for size in (1, 2, 3, 7, 64, 1 << 20):
        monkeypatch.setattr(cli.batch, "READ_SIZE", size)
        with path.open() as handle:
            got = list(itertools.chain.from_iterable(cli.batch.read_blocks(handle, path)))
        assert got == path.read_text().splitlines(), size


@pytest.mark.parametrize("workers", [2, 3, 5, 16])
def test_a_meter_goes_to_one_worker_whatever_its_spelling(workers: int) -> None:
    shares = set()
    for serial in range(200):
        for long in (False, True):
            drn = _drn(serial, long)
            pan = pan_from_drn(drn).pan
            spellings = [drn, pan, f" {drn} ", f"{pan[:6]} {pan[6:12]} {pan[12:]}"]
            assert len({cli.batch_dealer.meter_share(s, workers) for s in spellings}) == 1
            shares.add(cli.batch_dealer.meter_share(drn, workers))
    assert shares == set(range(workers))  # and meters are spread over every worker


def _reference(rows: list[list[str]]) -> list[str | tuple[int, str]]:
    """What one in-order issue_credit_tokens call gives for the rows: (TID, token) or the error text."""
    vending_key = VendingKey.from_hex("ABABABABABABABAB")
    requests, at = [], datetime.fromisoformat(AT).replace(tzinfo=UTC)
    for drn, sgc, ti, krn, units, _, rnd, _ in rows:
        profile = MeterProfile(pan_from_drn(drn), KeyParams(sgc=int(sgc), ti=int(ti), krn=int(krn)))
        requests.append(CreditRequest(profile, derive_decoder_key(vending_key, profile), units, at, int(rnd)))
    return [
        str(r) if isinstance(r, TokenError) else (r.tid or 0, r.token) for r in issue_credit_tokens(requests)
    ]


def test_rows_spread_over_the_file_and_workers_equal_one_batch_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.batch_dealer, "JOB_ROWS", 4)  # many small jobs per worker
    monkeypatch.setattr(cli.batch, "READ_SIZE", 300)  # and many blocks
    rng = random.Random(3)
    good = [[_drn(m), "123456", "1", "1", rng.choice(["0.1", "5", "1820162.5"]), AT, str(rng.randrange(16)), ""]
            for m in range(30) for _ in range(5)]  # fmt: skip
    rng.shuffle(good)
    bad = [["123", "123456", "1", "1", "1", AT, "1", ""], [_drn(1), "", "1", "1", "1", AT, "1", ""]]
    rows = [HEADER]
    for i, row in enumerate(good):
        rows.append(row)
        if i % 37 == 0:
            rows += bad
    code, err, out = _batch(tmp_path, rows, "--workers", "3")
    refused = sum(1 for r in out if r["error"])
    assert code == 1 and f"{len(out) - refused} tokens issued, {refused} rows refused" in err
    assert [int(r["line"]) for r in out] == list(range(2, len(rows) + 1))  # every row, in input order
    expected = iter(_reference(good))
    for row, result in zip(rows[1:], out, strict=True):
        if row in bad:
            assert result["error"] and not result["token"]
            continue
        want = next(expected)
        if isinstance(want, str):
            assert result["error"] == want and not result["token"]
        else:
            assert (int(result["tid"]), result["token"]) == want and result["pan"] == pan_from_drn(row[0]).pan
    assert next(expected, None) is None


def test_one_meter_spelled_three_ways_gets_increasing_tids(tmp_path: Path) -> None:
    drn = _drn(77)
    pan = pan_from_drn(drn).pan
    rows = [["pan", "drn", "sgc", "ti", "krn", "units", "at"]]
    for i in range(12):
        rows.append(
            [pan, "", "123456", "1", "1", "1", AT]
            if i % 3 == 0
            else ["", drn if i % 3 == 1 else f" {drn} ", "123456", "1", "1", "1", AT]
        )
    code, _, out = _batch(tmp_path, rows, "--workers", "4")
    tids = [int(r["tid"]) for r in out]
    assert code == 0 and {r["pan"] for r in out} == {pan}
    assert tids == list(range(tids[0], tids[0] + 12))  # the same-minute rule across the spellings


def test_bad_rows_get_their_error_in_place(tmp_path: Path) -> None:
    ok = [_drn(5), "123456", "1", "1", "1", AT, "3", ""]
    rows = [HEADER, ok, [_drn(6), "123456", "1", "1", "1", AT, "3", "-1"], [_drn(7), "123456", "1", "1", "x"],
            ["", "", "", ""], [_drn(8), "123456", "1", "1", "1", AT, "16", ""], ok]  # fmt: skip
    code, err, out = _batch(tmp_path, rows, "--workers", "2")
    assert code == 1 and "2 tokens issued, 4 rows refused" in err
    assert [r["line"] for r in out] == ["2", "3", "4", "5", "6", "7"]
    assert "last TID must be 0..16777215" in out[1]["error"]
    assert "not a number" in out[2]["error"]
    assert "required" in out[3]["error"]
    assert "RND must be 0..15" in out[4]["error"]
    assert int(out[5]["tid"]) == int(out[0]["tid"]) + 1 and not out[5]["error"]


def test_a_failing_worker_stops_the_batch_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: object, lines: list[int], texts: list[str], starts: object) -> tuple[list[str], int]:
        raise ValueError("worker exploded")

    monkeypatch.setattr(cli.batch_worker.Worker, "issue", boom)  # the forked workers inherit it
    rows = [HEADER] + [[_drn(m), "123456", "1", "1", "1", AT, "1", ""] for m in range(50)]
    code, err, out = _batch(tmp_path, rows, "--workers", "2")
    assert code == 2 and "error: worker exploded" in err
    assert not (tmp_path / "out.csv").exists() and out == []


def test_negative_workers_is_a_usage_error(tmp_path: Path) -> None:
    code, err, _ = _batch(tmp_path, [HEADER], "--workers", "-1")
    assert code == 2 and "--workers" in err


def test_few_meters_chooses_chunks_only_when_meters_cannot_keep_the_workers_busy() -> None:
    columns = {name: i for i, name in enumerate(HEADER)}
    one = [f"{_drn(1)},123456,1,1,1"] * 100
    many = [f"{_drn(m)},123456,1,1,1" for m in range(16)]
    assert cli.batch_dealer.few_meters(columns, one, 2)
    assert not cli.batch_dealer.few_meters(columns, one, 1)  # one worker: nothing to split
    assert not cli.batch_dealer.few_meters(columns, many, 2)  # 8 meters per worker: dealt by meter
    assert cli.batch_dealer.few_meters(columns, many, 3)


def _spy_reservations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the TIDs the parent reserves (it only does in the by-chunk deal)."""
    calls: list[int] = []
    real = cli.batch_tids.TidReserver.reserve

    def reserve(self: cli.batch_tids.TidReserver, number: str, row: list[str]) -> object:
        calls.append(1)
        return real(self, number, row)

    monkeypatch.setattr(cli.batch_tids.TidReserver, "reserve", reserve)
    return calls


def test_a_one_meter_file_is_split_over_the_workers_and_equals_one_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.batch_dealer, "JOB_ROWS", 5)  # 12 chunks, dealt to 3 workers in turn
    reserved = _spy_reservations(monkeypatch)
    rng = random.Random(5)
    good = [[_drn(9), "123456", "1", "1", rng.choice(["0.1", "5", "42.5"]), AT, str(rng.randrange(16)), ""]
            for _ in range(60)]  # fmt: skip
    code, err, out = _batch(tmp_path, [HEADER, *good], "--workers", "3")
    assert code == 0 and "60 tokens issued" in err and len(reserved) == 60
    assert [(int(r["tid"]), r["token"]) for r in out] == _reference(good)


def test_split_rows_keep_each_meters_tids_increasing_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue times that go back and forth, last_tid columns, refused rows (which may leave gaps) and two
    meters spread over small chunks: each meter's TIDs still increase in file order, no TID is below its
    row's minute or its last_tid, the same rows are refused as by one worker, and the tokens decode."""
    monkeypatch.setattr(cli.batch_dealer, "JOB_ROWS", 3)
    reserved = _spy_reservations(monkeypatch)
    rng = random.Random(11)
    times = ["2025-06-01T10:00", "2025-06-01T10:01", "2025-06-01T09:58", "2025-06-01T10:30", ""]
    rows: list[list[str]] = [HEADER]
    for _ in range(150):
        units = rng.choice(["1", "2.5", "1"] * 5 + ["x", "1820162.5"])
        rnd = rng.choice([str(rng.randrange(16))] * 9 + ["16"])
        last = rng.choice([""] * 12 + [str(rng.randrange(6003950, 6004100))])
        rows.append([_drn(rng.choice([3, 4])), rng.choice(["123456"] * 30 + [""]), "1", "1", units,
                     rng.choice(times), rnd, last])  # fmt: skip
    code, _, out = _batch(tmp_path, rows, "--workers", "3", "--at", AT)
    assert code == 1 and len(reserved) == 150
    _, _, alone = _batch(tmp_path, rows, "--workers", "1", "--at", AT)
    assert [bool(r["error"]) for r in out] == [bool(r["error"]) for r in alone]
    vending_key = VendingKey.from_hex("ABABABABABABABAB")
    last_tids: dict[str, int] = {}
    for row, result in zip(rows[1:], out, strict=True):
        if result["error"]:
            continue
        pan, tid = result["pan"], int(result["tid"])
        at = datetime.fromisoformat(row[5] or AT).replace(tzinfo=UTC)
        assert tid >= tid_at(at, BaseDate.Y2014) and tid > last_tids.get(pan, -1)
        if row[7] and pan not in last_tids:
            assert tid > int(row[7])
        last_tids[pan] = tid
        key = derive_decoder_key(
            vending_key, MeterProfile(parse_pan(pan), KeyParams(sgc=123456, ti=1, krn=1))
        )
        assert decode_token(result["token"], key).fields.tid == tid
    assert len(last_tids) == 2
