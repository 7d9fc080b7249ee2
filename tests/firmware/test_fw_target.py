"""The real firmware image (ATmega328P ELF) in simavr, under the project's harness (firmware/sim).

The meter is the CTSA test meter of docs/serial-protocol.md section 10 (PAN 600727000000000009, SGC
123456, TI 01, KRN 1, EA07, base date 1993, decoder key E653341F9D5BF36F); tokens come from
tokencore's issuer or the published vectors.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tokencore import BaseDate, DecoderKey, Issuer, KeyParams, MeterProfile, parse_pan

if TYPE_CHECKING:
    from conftest import Simulator

pytestmark = pytest.mark.firmware

PUBLISHED = "23716100501183194197"  # 0.1 kWh, sts-notes 4.3
PUBLISHED_MPL_1000W = "50901894209860263092"
ISSUER = Issuer(
    MeterProfile(
        parse_pan("600727000000000009"), KeyParams(sgc=123456, ti=1, krn=1, base_date=BaseDate.Y1993)
    ),
    DecoderKey.from_hex("E653341F9D5BF36F"),
)


def credit(units: str, minute: int) -> str:
    return ISSUER.credit(units, at=datetime(2024, 5, 1, 10, minute), rnd=5).token


def keys(token: str) -> list[str]:
    return [f"!key {d}" for d in token] + ["!key #"]


def relay_levels(run_: object) -> list[int]:
    return [level for level, _ in run_.pins("B4")]  # type: ignore[attr-defined]


def test_uart_token_accept_then_used(simulator: Simulator, tmp_path: Path) -> None:
    run = simulator.run(
        ["STATUS", f"TOKEN {PUBLISHED}", "LCD", f"TOKEN {PUBLISHED}", "LCD"], tmp_path / "ee.bin"
    )
    assert run.replies() == [
        "STATUS credit=0.0 relay=off power=0 voltage=230.0 current=0.000 energy=0.000 tamper=0 locked=0 mpl=0"
        " low=1 pf=1.00",
        "RESULT accept amount=0.1 credit=0.1",
        "LCD |Accept          |+0.1 kWh        |",
        "RESULT used",
        "LCD |Used            |                |",
    ]
    assert "EVENT relay state=on" in run.uart
    assert relay_levels(run) == [0, 1]  # open at power-up, closed by the token
    assert run.lcd() == "|Used            |                |"


def test_keypad_token_accept_then_used(simulator: Simulator, tmp_path: Path) -> None:
    token = credit("12.5", 0)
    run = simulator.run([*keys(token), "!wait 100", "!lcd", *keys(token), "!wait 100"], tmp_path / "ee.bin")
    events = [line for line in run.uart if line.startswith("EVENT token")]
    assert events == ["EVENT token accept amount=12.5 credit=12.5", "EVENT token used"]
    shown = [e.split(" @")[0] for e in run.events if e.startswith("#LCD ")]
    assert f"#LCD |Token      20/20|{token[-16:]}|" in shown
    assert "#LCD |Accept          |+12.5 kWh       |" in shown
    assert run.lcd() == "|Used            |                |"
    assert relay_levels(run) == [0, 1]


def test_power_cycle_keeps_credit_and_tid_memory(simulator: Simulator, tmp_path: Path) -> None:
    ee = tmp_path / "ee.bin"
    first = simulator.run([f"TOKEN {PUBLISHED}", f"TOKEN {credit('2', 1)}"], ee)
    assert first.replies() == ["RESULT accept amount=0.1 credit=0.1", "RESULT accept amount=2.0 credit=2.1"]
    second = simulator.run(["STATUS", f"TOKEN {PUBLISHED}", "LCD"], ee)
    assert second.replies()[0].startswith("STATUS credit=2.1 relay=on ")
    assert second.replies()[1:] == ["RESULT used", "LCD |Used            |                |"]
    assert relay_levels(second)[-1] == 1  # closed from power-up: the credit was kept
    assert "EVENT relay state=on" not in second.uart


def test_power_cut_during_eeprom_write(simulator: Simulator, tmp_path: Path) -> None:
    """Cut the power after the n-th EEPROM byte of a token's save, for cut points across the whole
    write: after restart the token is either fully applied or not at all, never lost once accepted,
    never credited twice, and the earlier credit is always there."""
    base = tmp_path / "base.bin"
    assert simulator.run([f"TOKEN {PUBLISHED}"], base).replies() == ["RESULT accept amount=0.1 credit=0.1"]
    token = credit("5", 2)
    probe = tmp_path / "probe.bin"
    probe.write_bytes(base.read_bytes())
    full = simulator.run([f"TOKEN {token}"], probe)
    writes = int(full.end("eeprom_writes"))
    assert writes >= 6  # sequence number, credit, TID, clock, CRC: only changed bytes are written
    cuts = sorted({1, 2, 3, writes // 4, writes // 2, (3 * writes) // 4, writes - 2, writes - 1, writes})
    seen = set()
    for n in cuts:
        ee = tmp_path / f"cut{n}.bin"
        ee.write_bytes(base.read_bytes())
        cut = simulator.run([f"!cut {n}", f"TOKEN {token}"], ee)
        assert any(e.startswith("#CUT ") for e in cut.events), n
        assert not cut.replies(), "no reply can leave the meter before its state is saved"
        after = simulator.run(["STATUS", f"TOKEN {token}", "STATUS"], ee)
        status, again, final = after.replies()
        before = re.search(r"credit=([\d.]+)", status).group(1)  # type: ignore[union-attr]
        assert before in ("0.1", "5.1"), (n, status)
        seen.add(before)
        assert again == ("RESULT used" if before == "5.1" else "RESULT accept amount=5.0 credit=5.1"), n
        assert final.startswith("STATUS credit=5.1 "), n
    assert seen == {"0.1", "5.1"}, "the cut points should cover both sides of the commit"


def test_consumption_drains_credit_and_relay_opens(simulator: Simulator, tmp_path: Path) -> None:
    # 0.1 kWh at 23 kW (the sensor's maximum) lasts 15.7 s.
    run = simulator.run(
        [f"TOKEN {PUBLISHED}", "!load 23000", "!wait 5000", "STATUS", "!wait 13000", "STATUS"],
        tmp_path / "ee.bin",
    )
    first, last = run.replies()[1:]
    assert re.match(r"STATUS credit=0\.1 relay=on power=23000 voltage=230\.0 current=100\.000 ", first)
    assert last.startswith("STATUS credit=0.0 relay=off power=0 ")
    assert "EVENT relay state=off reason=credit" in run.uart
    assert relay_levels(run) == [0, 1, 0]
    assert 100 <= run.end("energy_wh") < 110  # the load stopped within one sensor poll of the last tenth
    assert run.lcd() == "|Cr        0.0kWh|OFF NoCred    0W|"


def test_consumption_survives_power_cut_without_eeprom_writes(simulator: Simulator, tmp_path: Path) -> None:
    """Credit is debited from the sensor's own (non-volatile) energy register: 0.35 kWh used while the
    EEPROM was not written is still debited after a power cut."""
    ee = tmp_path / "ee.bin"
    assert simulator.run([f"TOKEN {credit('1', 3)}"], ee).replies() == ["RESULT accept amount=1.0 credit=1.0"]
    run = simulator.run(["STATUS"], ee, energy_wh=350)
    assert run.replies()[0].startswith(
        "STATUS credit=0.7 relay=on power=0 voltage=230.0 current=0.000 energy=0.350 "
    )
    assert simulator.run(["STATUS"], ee, energy_wh=350).replies()[0].startswith("STATUS credit=0.7 ")


def test_mpl_trips_relay(simulator: Simulator, tmp_path: Path) -> None:
    run = simulator.run(
        [
            f"TOKEN {credit('10', 4)}",
            f"TOKEN {PUBLISHED_MPL_1000W}",
            "!load 2000",
            "!wait 5500",
            "STATUS",
            "LCD",
        ],
        tmp_path / "ee.bin",
    )
    assert run.replies()[:2] == [
        "RESULT accept amount=10.0 credit=10.0",
        "RESULT accept mpl=1000 credit=10.0",
    ]
    assert "EVENT relay state=off reason=mpl" in run.uart
    assert " relay=off " in run.replies()[2] and " mpl=1000 " in run.replies()[2]
    assert run.replies()[3] == "LCD |Cr       10.0kWh|OFF Limit     0W|"


def test_lockout_over_uart(simulator: Simulator, tmp_path: Path) -> None:
    wrong = PUBLISHED[:-1] + "0"
    run = simulator.run(
        [f"TOKEN {wrong}"] * 3 + [f"TOKEN {PUBLISHED}", "LCD", "!wait 10100", f"TOKEN {PUBLISHED}"],
        tmp_path / "ee.bin",
    )
    r = run.replies()
    assert r[:3] == [
        "RESULT crc_error fails=1",
        "RESULT crc_error fails=2",
        "RESULT crc_error fails=3 seconds=10",
    ]
    assert r[3] == "RESULT locked seconds=10"
    assert r[4] == "LCD |LOCK 10         |                |"
    assert r[5] == "RESULT accept amount=0.1 credit=0.1"


def test_protocol_framing_and_errors(simulator: Simulator, tmp_path: Path) -> None:
    run = simulator.run(
        [
            "   ",
            "status",
            "x" * 65,
            "TOKEN \x01",
            "STATUS now",
            "TOKEN",
            "TOKEN - -",
            "TOKEN 12a",
            "TOKEN 123",
            "KEY",
            "KEY 12",
            "KEY x",
            "key a",
            "LCD",
            f"token {PUBLISHED[:4]}-{PUBLISHED[4:8]} {PUBLISHED[8:]}",
        ],
        tmp_path / "ee.bin",
    )
    r = run.replies()
    assert r[0].startswith("STATUS credit=0.0 ")
    assert r[1:] == [
        "ERROR too_long",
        "ERROR bad_char",
        "ERROR bad_argument",
        "ERROR bad_argument",
        "ERROR bad_argument",
        "ERROR bad_argument",
        "RESULT format_error fails=1",
        "ERROR bad_argument",
        "ERROR bad_argument",
        "ERROR bad_argument",
        "OK",
        "LCD |Credit          |0.0 kWh         |",
        "RESULT accept amount=0.1 credit=0.1",
    ]


def test_protocol_document_example_session(simulator: Simulator, tmp_path: Path) -> None:
    """Replays the example session of docs/serial-protocol.md section 10 against the firmware."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "serial-protocol.md").read_text()
    block = doc.split("## 10.", 1)[1].split("```", 2)[1]
    requests = [line[2:] for line in block.splitlines() if line.startswith("> ")]
    expected = [line[2:] for line in block.splitlines() if line.startswith("< ")]
    assert requests and len(expected) == len(requests)
    assert simulator.run(requests, tmp_path / "ee.bin").replies() == expected


def test_ea11_meter_accepts_misty1_token(simulator: Simulator, tmp_path: Path) -> None:
    run = simulator.run(["TOKEN 59386323472137426967", "INFO"], tmp_path / "ee.bin", variant="ea11")
    assert run.replies() == [
        "RESULT accept amount=0.1 credit=0.1",
        "INFO pan=600727000000000009 drn=00000000000 sgc=123457 ti=01 krn=1 kt=2 ken=255 ea=11 bd=1993"
        " fw=nguvu-uno/0.1",
    ]


def test_key_change_over_uart_survives_power_cycle(simulator: Simulator, tmp_path: Path) -> None:
    """The published KCT pair (sts-notes 4.3, tests/vectors/ea07.json): new key TI 02, entered 2nd
    section first; afterwards tokens of the new key are accepted and tokens of the old key are not."""
    ee = tmp_path / "ee.bin"
    first, second = "51638423060042734509", "15361891762113502242"
    new_issuer = Issuer(
        MeterProfile(
            parse_pan("600727000000000009"), KeyParams(sgc=123456, ti=2, krn=1, base_date=BaseDate.Y1993)
        ),
        DecoderKey.from_hex("060B8643C59A27F1"),
    )
    new_token = new_issuer.credit("4", at=datetime(2024, 6, 1, 8, 0), rnd=2).token
    run = simulator.run([f"TOKEN {second}", f"TOKEN {first}", "LCD", "INFO"], ee)
    assert run.replies() == [
        "RESULT kct_1st_pending",
        "RESULT accept krn=1 ti=02 kt=2 ken=255 credit=0.0",
        "LCD |Accept          |Key changed     |",
        "INFO pan=600727000000000009 drn=00000000000 sgc=123456 ti=02 krn=1 kt=2 ken=255 ea=07 bd=1993"
        " fw=nguvu-uno/0.1",
    ]
    after = simulator.run([f"TOKEN {credit('1', 5)}", f"TOKEN {new_token}"], ee)
    assert after.replies() == ["RESULT crc_error fails=1", "RESULT accept amount=4.0 credit=4.0"]


def test_tamper_switch_opens_relay_until_clear_tamper_token(simulator: Simulator, tmp_path: Path) -> None:
    ee = tmp_path / "ee.bin"
    clear = ISSUER.clear_tamper(at=datetime(2024, 5, 1, 11, 0), rnd=1).token
    run = simulator.run(
        [f"TOKEN {credit('3', 6)}", "!pin C0 0", "!wait 5200", "!pin C0 1", "STATUS", "LCD"], ee
    )
    status, lcd = run.replies()[1:]
    assert " relay=off " in status and " tamper=1 " in status
    assert "EVENT relay state=off reason=tamper" in run.uart
    assert lcd == "LCD |Cr        3.0kWh|OFF Tamper    0W|"
    # The flag is kept across a power cycle (cover closed again) until a clear-tamper token.
    after = simulator.run(["STATUS", f"TOKEN {clear}", "STATUS"], ee)
    before, result, cleared = after.replies()
    assert " relay=off " in before and " tamper=1 " in before
    assert result == "RESULT accept tamper=0 credit=3.0"
    assert " relay=on " in cleared and " tamper=0 " in cleared
    assert "EVENT relay state=on" in after.uart


def test_ea11_key_change_prompts_for_each_missing_section(simulator: Simulator, tmp_path: Path) -> None:
    """The 4-token EA11 key change of the decoder scenario `ea11_key_change_prompts` (same meter): after
    each held section the meter asks for the first one still missing, on the serial line and the LCD."""
    sections = ["40937788669556693706", "55900126766830063715", "70168064023104948668", "31051353433275215300"]
    script = [line for token in sections for line in (f"TOKEN {token}", "LCD")]
    replies = simulator.run(script, tmp_path / "ee.bin", variant="ea11").replies()
    assert replies == [
        "RESULT kct_2nd_pending",
        "LCD |PLS 2nd         |                |",
        "RESULT kct_3rd_pending",
        "LCD |PLS 3rd         |                |",
        "RESULT kct_4th_pending",
        "LCD |PLS 4th         |                |",
        "RESULT accept krn=2 ti=01 kt=2 ken=255 credit=0.0",
        "LCD |Accept          |Key changed     |",
    ]
