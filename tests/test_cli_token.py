"""The vendor CLI (`nguvu token ...`, `nguvu meter pan`), through the real command-line entry point."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.apps import app
from cli.main import main  # noqa: F401  (registers every command module)
from tokencore import (
    KeyParams,
    MeterProfile,
    VendingKey,
    decode_token,
    derive_decoder_key,
    parse_pan,
)
from tokencore.ciphers.native import compiled_available

METER_A = ["--pan", "600727000000000009", "--sgc", "123456", "--ti", "1", "--krn", "1", "--base-date", "1993"]
KEY = ["--vending-key", "ABABABABABABABAB"]
runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_the_issue_example_prints_the_published_token() -> None:
    code, out, _ = run(
        "token", "credit", *METER_A, *KEY, "--units", "0.1", "--at", "2004-03-01T13:55", "--rnd", "5"
    )
    assert code == 0 and out.strip() == "2371 6100 5011 8319 4197"


def test_the_console_script_is_installed_and_prints_it_too() -> None:
    nguvu = str(Path(sys.executable).with_name("nguvu"))
    command = [
        nguvu,
        "token",
        "credit",
        *METER_A,
        *KEY,
        "--units",
        "0.1",
        "--at",
        "2004-03-01T13:55",
        "--rnd",
        "5",
    ]
    assert (
        subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
        == "2371 6100 5011 8319 4197"
    )


def test_json_output_fields() -> None:
    code, out, _ = run(
        "token",
        "credit",
        *METER_A,
        *KEY,
        "--units",
        "25.6",
        "--at",
        "2004-03-01T13:55",
        "--rnd",
        "5",
        "--json",
    )
    body = json.loads(out)
    assert code == 0
    assert {"token", "class", "subclass", "tid", "amount_field", "units", "block"} <= body.keys()
    assert (
        body["class"] == 0
        and body["units"] == "25.6"
        and body["tid"] == 0x599863
        and len(body["token"]) == 20
    )


@pytest.mark.parametrize(
    ("command", "extra", "token"),
    [
        ("mpl", ["--watts", "1000", "--at", "2004-03-28T09:01", "--rnd", "5"], "5090 1894 2098 6026 3092"),
        ("test", [], None),
    ],
)
def test_management_and_test_tokens(command: str, extra: list[str], token: str | None) -> None:
    args = ["token", command, *(METER_A + KEY if command != "test" else ["--control", "0xFFFFFFFFF"]), *extra]
    code, out, _ = run(*args)
    assert code == 0
    assert out.strip() == (token or "5649 3153 7254 5031 3471")


def test_key_change_prints_the_published_pair_and_json_list() -> None:
    code, out, _ = run("token", "key-change", *METER_A, *KEY, "--new-ti", "2")
    assert code == 0 and out.split("\n")[:2] == ["5163 8423 0600 4273 4509", "1536 1891 7621 1350 2242"]
    code, out, _ = run("token", "key-change", *METER_A, *KEY, "--new-ti", "2", "--json")
    assert [t["token"] for t in json.loads(out)["tokens"]] == ["51638423060042734509", "15361891762113502242"]


def test_key_change_of_a_misty1_meter_gives_four_tokens() -> None:
    meter = [
        "--pan",
        "600727000000000009",
        "--sgc",
        "123457",
        "--ti",
        "1",
        "--krn",
        "1",
        "--dkga",
        "04",
        "--ea",
        "11",
    ]
    key = ["--vending-key", "ABABABABABABABAB949494949494949401234567"]
    code, out, _ = run("token", "key-change", *meter, *key, "--new-krn", "2", "--rollover", "--json")
    tokens = json.loads(out)["tokens"]
    assert code == 0 and [t["subclass"] for t in tokens] == [3, 4, 8, 9]


def test_decode_with_meter_parameters_and_with_a_decoder_key() -> None:
    code, out, _ = run("token", "decode", "5090 1894 2098 6026 3092", *METER_A, *KEY, "--json")
    body = json.loads(out)
    assert code == 0 and body["kind"] == "mpl" and body["fields"]["watts"] == 1000 and body["crc_ok"] is True
    assert body["fields"]["issued_at"] == "2004-03-28T09:01Z" and body["fields"]["tid"] == 0x5A2F1D
    code, out, _ = run(
        "token", "decode", "23716100501183194197", "--decoder-key", "E653341F9D5BF36F", "--json"
    )
    assert json.loads(out)["block"] == "05599863000119E6"
    code, out, _ = run("token", "decode", "23716100501183194197", "--decoder-key", "0000000000000000")
    assert code == 1 and "crc_ok: False" in out


def test_meter_profile_file_and_key_sources(tmp_path: Path) -> None:
    profile = tmp_path / "meter.json"
    profile.write_text(
        json.dumps({"pan": "600727000000000009", "sgc": 123456, "ti": 1, "krn": 1, "base_date": 1993})
    )
    key_file = tmp_path / "vk.hex"
    key_file.write_text("ABABABABABABABAB\n")
    common = ["token", "credit", "--units", "0.1", "--at", "2004-03-01T13:55", "--rnd", "5"]
    assert (
        run(*common, "--meter", str(profile), "--vending-key-file", str(key_file))[1]
        .strip()
        .startswith("2371")
    )
    assert run(*common, "--meter", str(profile), env={"NGUVU_VENDING_KEY": "ABABABABABABABAB"})[1].startswith(
        "2371"
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["token", "credit", "--pan", "600727000000000008", "--sgc", "1", "--ti", "1", "--krn", "1", *KEY,
          "--units", "1"], 2, "expected 9"),
        (["token", "credit", *METER_A, *KEY, "--units", "1820162.5", "--at", "2004-01-01"], 2, "largest"),
        (["token", "credit", *METER_A, *KEY, "--units", "1", "--ken", "85", "--at", "2004-03-01"], 1,
         "expired"),
        (["token", "credit", *METER_A, "--units", "1"], 2, "give a key"),
        (["token", "credit", *METER_A, "--vending-key", "ABAB", "--units", "1"], 2, "64-bit"),
        (["token", "credit", *METER_A, *KEY, "--units", "1", "--at", "yesterday"], 2, "ISO 8601"),
        (["token", "credit", *METER_A, *KEY, "--units", "1", "--at", "2030-01-01"], 1, "rollover"),
        (["token", "credit", *METER_A, *KEY, "--kt", "1", "--units", "1", "--at", "2004-01-01"], 1, "DDTK"),
        (["token", "clear-credit", *METER_A, *KEY, "--register", "9", "--at", "2004-01-01"], 2, "0-7"),
        (["token", "decode", "1234"], 2, "20 digits"),
        (["token", "decode", "23716100501183194197"], 2, "encrypted"),
        (["meter", "pan", "12ab"], 2, "digits"),
    ],
)  # fmt: skip
def test_bad_input_gives_one_clear_line_and_a_non_zero_exit(args: list[str], code: int, message: str) -> None:
    exit_code, out, err = run(*args)
    assert exit_code == code, (out, err)
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert "ABABABABABABABAB" not in err and "ABAB" not in err.replace("vending-key", "")


def test_meter_pan_computes_and_checks_luhn_digits() -> None:
    assert run("meter", "pan", "60072700000000000")[1].strip() == "600727000000000009"
    assert run("meter", "pan", "1111111111")[1].strip() == "11111111115"
    code, out, _ = run("meter", "pan", "11111111115")
    assert code == 0 and "pan: 600727111111111153" in out


def test_batch_issues_every_row_with_the_same_minute_rule(tmp_path: Path) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    rows = [["pan", "sgc", "ti", "krn", "base_date", "units", "at", "rnd"]]
    rows += [["600727000000000009", "123456", "1", "1", "1993", "0.1", "2004-03-01T13:55", "5"]] * 3
    rows += [["000001000000000082", "123456", "1", "1", "1993", "0.1", "2004-03-01T14:00", "5"]]
    rows += [
        ["600727000000000008", "123456", "1", "1", "1993", "1", "", ""],
        ["600727000000000009", "", "1", "1"],
    ]
    with source.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    code, _, err = run("token", "batch", str(source), str(target), *KEY, "--workers", "2", "--no-progress")
    with target.open() as handle:
        out = list(csv.DictReader(handle))
    assert code == 1 and "4 tokens issued, 2 rows refused" in err
    assert [r["line"] for r in out] == ["2", "3", "4", "5", "6", "7"]
    assert out[0]["token"] == "23716100501183194197"  # the published token
    assert [int(r["tid"]) for r in out[:3]] == [0x599863, 0x599864, 0x599865]  # same minute: increasing
    assert out[3]["token"] == "67206107716095682372"
    assert "Luhn" in out[4]["error"]
    assert "required" in out[5]["error"]
    profile = MeterProfile(parse_pan("600727000000000009"), KeyParams(sgc=123456, ti=1, krn=1))
    dk = derive_decoder_key(VendingKey.from_hex("ABABABABABABABAB"), profile)
    assert decode_token(out[1]["token"], dk).crc_ok


def test_key_material_never_printed_for_key_change_tokens() -> None:
    new_key_words = ("060B8643", "C59A27F1")  # the new decoder key 060B8643C59A27F1, in the blocks' middle
    _, out, _ = run("token", "key-change", *METER_A, *KEY, "--new-ti", "2", "--json")
    _, decoded, _ = run(
        "token", "decode", "51638423060042734509", "--decoder-key", "E653341F9D5BF36F", "--json"
    )
    assert json.loads(decoded)["block"] == "3F12********D717"
    for text in (out, decoded):
        assert not any(word in text for word in new_key_words)


@pytest.mark.parametrize("pure", ["1", ""])
def test_version_names_the_token_engine_path(pure: str) -> None:
    nguvu = str(Path(sys.executable).with_name("nguvu"))
    env = {"PATH": "/usr/bin:/bin", "NGUVU_PURE_PYTHON": pure}
    out = subprocess.run([nguvu, "--version"], capture_output=True, text=True, check=True, env=env).stdout
    if pure or not compiled_available():
        assert out.startswith("nguvu 0.1.0 (token engine: pure Python (")
    else:
        assert out == "nguvu 0.1.0 (token engine: compiled EA07 (C))\n"
