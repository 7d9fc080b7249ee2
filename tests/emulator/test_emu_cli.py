"""`nguvu meter new|show|emulate|fleet` as a person or a script runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from emulator_kit import KEY_A, PARAMS, TEST_VENDING_KEY, SerialHost, Vendor
from typer.testing import CliRunner

import cli.meter_cmds  # noqa: F401  (registers the commands)
from cli.apps import app
from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.store import FileStore
from tokencore import MeterProfile, derive_decoder_key, pan_from_drn

NGUVU_METER = "import cli.meter_cmds; from cli.apps import app; app()"
runner = CliRunner()


@pytest.fixture
def vending_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "vending.hex"
    path.write_text("ABABABABABABABAB\n")  # the public STS test vending key
    return path


def new_meter_file(tmp_path: Path, key_file: Path, *extra: str) -> Path:
    state = tmp_path / "meter.json"
    args = ["meter", "new", str(state), "--meter", "600727000000000009", "--base-date", "1993"]
    result = runner.invoke(app, [*args, "--vending-key-file", str(key_file), *extra])
    assert result.exit_code == 0, result.output
    return state


def test_new_derives_the_key_and_show_never_prints_it(tmp_path: Path, vending_key_file: Path) -> None:
    state = new_meter_file(tmp_path, vending_key_file)
    meter = Meter.load(FileStore(state), MeterSettings(), 0)
    assert meter.state.key.key == KEY_A  # the CTSA decoder key E653341F9D5BF36F
    assert state.stat().st_mode & 0o077 == 0
    shown = runner.invoke(app, ["meter", "show", str(state)])
    assert shown.exit_code == 0
    assert "600727000000000009" in shown.output and "123456" in shown.output
    assert "credit   0.0 kWh" in shown.output
    for secret in (KEY_A.hex().upper(), KEY_A.hex().lower(), "ABABABABABABABAB"):
        assert secret not in shown.output


def test_new_accepts_a_decoder_key_and_refuses_to_overwrite(tmp_path: Path, vending_key_file: Path) -> None:
    key_file = tmp_path / "dk.hex"
    key_file.write_text(KEY_A.hex())
    state = tmp_path / "m.json"
    args = ["meter", "new", str(state), "--meter", "00000000000", "--decoder-key-file", str(key_file)]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "exists" in again.output
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_bad_input_is_a_usage_error(tmp_path: Path, vending_key_file: Path) -> None:
    state = tmp_path / "m.json"
    no_key = runner.invoke(app, ["meter", "new", str(state), "--meter", "00000000000"], env={})
    assert no_key.exit_code == 2 and "vending-key-file" in no_key.output
    bad_pan = runner.invoke(
        app,
        [
            "meter",
            "new",
            str(state),
            "--meter",
            "600727000000000008",
            "--vending-key-file",
            str(vending_key_file),
        ],
    )
    assert bad_pan.exit_code != 0 and not state.exists()
    assert runner.invoke(app, ["meter", "show", str(tmp_path / "none.json")]).exit_code == 2


def test_emulate_headless_serves_a_pty_and_saves_on_sigterm(tmp_path: Path, vending_key_file: Path) -> None:
    state = new_meter_file(tmp_path, vending_key_file)
    link = tmp_path / "ttyMETER0"
    command = [
        sys.executable,
        "-c",
        NGUVU_METER,
        "meter",
        "emulate",
        str(state),
        "--headless",
        "--link",
        str(link),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[0] == "SERIAL" and line[1].startswith("/dev/pts/")
        assert os.path.realpath(link) == line[1]
        host = SerialHost(str(link))
        token = Vendor().credit("8").token
        assert host.request(f"TOKEN {token}") == "RESULT accept amount=8.0 credit=8.0"
        host.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
    assert Meter.load(FileStore(state), MeterSettings(), 0).credit_wh == 8_000
    assert not link.is_symlink()  # removed on the way out


def read_until(conn: socket.socket, received: bytes, pattern: bytes) -> bytes:
    while not re.search(pattern, received, re.M):
        chunk = conn.recv(256)
        assert chunk, received
        received += chunk
    return received


def test_emulate_attaches_to_a_pyserial_url(tmp_path: Path, vending_key_file: Path) -> None:
    """`--serial socket://...`: the emulator connects out to a host that listens (e.g. a test rig)."""
    state = new_meter_file(tmp_path, vending_key_file)
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        command = [sys.executable, "-c", NGUVU_METER, "meter", "emulate", str(state), "--headless"]
        proc = subprocess.Popen(
            [*command, "--serial", f"socket://127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        try:
            server.settimeout(10)
            for _ in range(2):  # the second time, the emulator reconnects after the host hung up
                conn, _ = server.accept()
                with conn:
                    conn.settimeout(5)
                    # pyserial flushes its input when it opens the URL: wait for the boot event first
                    received = read_until(conn, b"", rb"^EVENT boot fw=\S+\n")
                    conn.sendall(b"\nINFO\n")
                    received = read_until(conn, received, rb"^INFO .*\n")
                    assert b"INFO pan=600727000000000009 " in received
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0


def test_fleet_command_serves_every_meter(tmp_path: Path, vending_key_file: Path) -> None:
    directory = tmp_path / "fleet"
    command = [sys.executable, "-c", NGUVU_METER, "meter", "fleet", str(directory), "--count", "30"]
    proc = subprocess.Popen(
        [*command, "--vending-key-file", str(vending_key_file), "--base-date", "1993"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        summary = json.loads(proc.stdout.readline())
        assert summary["meters"] == 30
        rows = json.loads(Path(summary["manifest"]).read_text())
        assert len({row["endpoint"] for row in rows}) == 30
        assert len(list(directory.glob("*.json"))) == 31  # 30 states + the manifest
        for row in (rows[0], rows[29]):
            host = SerialHost(row["endpoint"])
            assert host.request("INFO").startswith(f"INFO pan={row['pan']} drn={row['drn']} ")
            host.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        if proc.stdout is not None:
            proc.stdout.close()


def test_interactive_meter_takes_keys_from_the_keyboard(tmp_path: Path, vending_key_file: Path) -> None:
    """The terminal UI on a pseudo-terminal: type a token and Enter, see Accept, quit with q."""
    import pty

    state = new_meter_file(tmp_path, vending_key_file)
    token = Vendor().credit("6").token
    pid, fd = pty.fork()
    if pid == 0:  # the child: the meter on a terminal
        os.environ["TERM"] = "xterm"
        os.execv(sys.executable, [sys.executable, "-c", NGUVU_METER, "meter", "emulate", str(state)])
    screen = b""

    def read_until(text: bytes, seconds: float = 10.0) -> None:
        nonlocal screen
        deadline = time.monotonic() + seconds
        while text not in screen and time.monotonic() < deadline:
            try:
                screen += os.read(fd, 65536)
            except OSError:
                break
        assert text in screen, screen[-400:]

    try:
        read_until(b"Serial")
        os.write(fd, token.encode() + b"\r")
        read_until(b"Accept")
        read_until(b"+6.0 kWh")
        os.write(fd, b"q")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)
    assert Meter.load(FileStore(state), MeterSettings(), 0).credit_wh == 6_000


def test_the_create_a_meter_example_of_the_docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/meter-emulator.md, "Create a meter": the commands run as written (in a scratch directory)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "meter-emulator.md").read_text()
    section = doc[doc.index("## Create a meter") :]
    block = section[section.index("```\n") + 4 : section.index("\n```", section.index("```\n") + 4)]
    commands = [line.split() for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    assert [c[:3] for c in commands] == [["nguvu", "meter", "new"], ["nguvu", "meter", "show"]]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vending.hex").write_text("ABABABABABABABAB\n")
    outputs = []
    for command in commands:
        result = runner.invoke(app, command[1:])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "pan      600727000000000009" in outputs[1] and "bd       1993" in outputs[1]


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"format": "other"}', b'{"format": "nguvu-meter/1", "decoder": {"pan": "12"}}'],
)
def test_a_damaged_state_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    state = tmp_path / "m.json"
    state.write_bytes(content)
    result = runner.invoke(app, ["meter", "show", str(state)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "Traceback" not in result.output


def test_fleet_on_fixed_tcp_ports_is_found_at_the_same_addresses_after_a_kill(
    tmp_path: Path, vending_key_file: Path
) -> None:
    """`--tcp --tcp-port BASE`: meter i on BASE+i; after SIGKILL the fleet restarts on its state files,
    at the same ports, with the credit a token gave before the kill."""
    with socket.socket() as probe:  # below the ephemeral range (32768+), so no client takes one meanwhile
        probe.bind(("127.0.0.1", 0))
        base = int(probe.getsockname()[1]) % 20000 + 10000
    directory = tmp_path / "fleet"
    command = [
        *(sys.executable, "-c", NGUVU_METER, "meter", "fleet", str(directory), "--count", "5"),
        *("--tcp", "--tcp-port", str(base), "--vending-key-file", str(vending_key_file)),
        *("--base-date", "1993"),
    ]

    def start() -> tuple[subprocess.Popen[str], list[dict[str, str]]]:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        summary = json.loads(proc.stdout.readline())
        return proc, json.loads(Path(summary["manifest"]).read_text())

    proc, rows = start()
    try:
        assert [row["endpoint"] for row in rows] == [f"socket://127.0.0.1:{base + i}" for i in range(5)]
        row = rows[3]
        profile = MeterProfile(pan_from_drn(row["drn"]), PARAMS)
        vendor = Vendor(profile, derive_decoder_key(TEST_VENDING_KEY, profile))
        host = SerialHost(row["endpoint"])
        assert host.request(f"TOKEN {vendor.credit('3').token}") == "RESULT accept amount=3.0 credit=3.0"
        host.close()
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    proc, again = start()
    try:
        assert again == rows
        host = SerialHost(rows[3]["endpoint"])
        assert host.request("STATUS").startswith("STATUS credit=3.0 ")
        host.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        if proc.stdout is not None:
            proc.stdout.close()
