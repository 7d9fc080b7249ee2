"""`nguvu token ...`: the vendor commands (issue and decode tokens), and `nguvu meter pan`."""

import inspect
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from cli.apps import meter_app, token_app
from cli.errors import UsageError, guarded
from cli.meter_options import MeterArgs, meter_options, parse_time, with_options
from tokencore import (
    BaseDate,
    DecoderKey,
    Dkga,
    Ea,
    IssuedToken,
    Issuer,
    KeyParams,
    KeyType,
    MeterProfile,
    Service,
    VendingKey,
    decode_token,
    derive_decoder_key,
    issue_test_token,
    luhn_check_digit,
    meter_from_number,
)

Json = Annotated[bool, typer.Option("--json", help="Print a JSON object instead of the grouped token.")]
REGISTER_NAMES = {"electricity": 0, "water": 1, "gas": 2, "time": 3, "all": 0xFFFF}


@dataclass(frozen=True)
class IssueArgs:
    """The options every issuing command shares: when, RND, the meter's last TID, and the output form."""

    at: str | None
    rnd: int | None
    last_tid: int | None
    as_json: bool

    def rules(self) -> dict[str, Any]:
        """Keyword arguments for an Issuer method: at, rnd (random when not given), last_tid."""
        rnd = secrets.randbelow(16) if self.rnd is None else self.rnd
        return {"at": parse_time(self.at), "rnd": rnd, "last_tid": self.last_tid}

    def emit(self, *tokens: IssuedToken) -> None:
        _emit(tokens, self.as_json)


def _option(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


issue_options = with_options(
    "issue",
    IssueArgs,
    [
        _option(
            "at",
            Annotated[str | None, typer.Option("--at", help="Issue time, ISO 8601 (default: now, UTC).")],
        ),
        _option("rnd", Annotated[int | None, typer.Option(help="RND nibble 0-15 (default: random).")]),
        _option(
            "last_tid",
            Annotated[int | None, typer.Option(help="The meter's last TID issued (same-minute rule).")],
        ),
        _option("as_json", Json, False),
    ],
)


def _issuer(meter: MeterArgs) -> Issuer:
    profile = meter.profile()
    return Issuer(profile, meter.key_for(profile), meter.table_set())


def _emit(tokens: Sequence[IssuedToken], as_json: bool, many: bool = False) -> None:
    if as_json:
        body: dict[str, Any] = {"tokens": [t.to_dict() for t in tokens]} if many else tokens[0].to_dict()
        typer.echo(json.dumps(body, indent=2))
    else:
        for token in tokens:
            typer.echo(token.grouped)


Service_ = Annotated[str, typer.Option("--service", help="electricity, water, gas or time.")]


@token_app.command("credit")
@guarded
@meter_options
@issue_options
def credit(
    meter: MeterArgs,
    issue: IssueArgs,
    units: Annotated[str, typer.Option(help="Quantity: kWh, m3 or minutes (rounded up to 0.1).")],
    service: Service_ = "electricity",
) -> None:
    """Issue a credit token (class 0)."""
    issue.emit(_issuer(meter).credit(units, service=Service.parse(service), **issue.rules()))


@token_app.command("currency-credit")
@guarded
@meter_options
@issue_options
def currency_credit(
    meter: MeterArgs,
    issue: IssueArgs,
    amount: Annotated[str, typer.Option(help="Amount in currency units (rounded up to 0.00001).")],
    service: Service_ = "electricity",
) -> None:
    """EXPERIMENTAL: a currency credit token (class 0, subclasses 4-7, CRC_C); one public vector only.
    (It has no RND: that nibble carries the sign and exponent.)"""
    if issue.rnd is not None:
        raise UsageError("currency credit tokens have no RND (that nibble carries the sign and exponent)")
    rules = issue.rules()
    token = _issuer(meter).currency_credit(
        amount, at=rules["at"], last_tid=rules["last_tid"], service=Service.parse(service)
    )
    issue.emit(token)


@token_app.command("mpl")
@guarded
@meter_options
@issue_options
def mpl(
    meter: MeterArgs,
    issue: IssueArgs,
    watts: Annotated[int, typer.Option(help="Maximum power limit in watts (rounded up).")],
) -> None:
    """Set the maximum power limit (class 2, subclass 0)."""
    issue.emit(_issuer(meter).max_power_limit(watts, **issue.rules()))


@token_app.command("mppul")
@guarded
@meter_options
@issue_options
def mppul(
    meter: MeterArgs,
    issue: IssueArgs,
    watts: Annotated[int, typer.Option(help="Maximum phase power unbalance limit in watts.")],
) -> None:
    """Set the maximum phase power unbalance limit (class 2, subclass 6)."""
    issue.emit(_issuer(meter).phase_unbalance_limit(watts, **issue.rules()))


@token_app.command("clear-credit")
@guarded
@meter_options
@issue_options
def clear_credit(
    meter: MeterArgs,
    issue: IssueArgs,
    register: Annotated[
        str, typer.Option(help="electricity, water, gas, time, all, or a number 0-7.")
    ] = "all",
) -> None:
    """Clear a credit register (class 2, subclass 1)."""
    value = REGISTER_NAMES.get(register.lower())
    if value is None:
        if not register.isdigit():
            raise UsageError(
                f"--register must be one of {', '.join(REGISTER_NAMES)} or 0-7, got {register!r}"
            )
        value = int(register)
    issue.emit(_issuer(meter).clear_credit(value, **issue.rules()))


@token_app.command("clear-tamper")
@guarded
@meter_options
@issue_options
def clear_tamper(meter: MeterArgs, issue: IssueArgs) -> None:
    """Clear the tamper condition (class 2, subclass 5)."""
    issue.emit(_issuer(meter).clear_tamper(**issue.rules()))


@token_app.command("tariff-rate")
@guarded
@meter_options
@issue_options
def tariff_rate(
    meter: MeterArgs,
    issue: IssueArgs,
    rate: Annotated[int, typer.Option(help="16-bit rate value (its meaning is reserved by the STSA).")],
) -> None:
    """Set tariff rate (class 2, subclass 2)."""
    issue.emit(_issuer(meter).tariff_rate(rate, **issue.rules()))


@token_app.command("water-factor")
@guarded
@meter_options
@issue_options
def water_factor(
    meter: MeterArgs,
    issue: IssueArgs,
    factor: Annotated[int, typer.Option(help="16-bit water meter factor (reserved by the STSA).")],
) -> None:
    """Set the water meter factor (class 2, subclass 7)."""
    issue.emit(_issuer(meter).water_meter_factor(factor, **issue.rules()))


@token_app.command("test")
@guarded
def test_token(
    control: Annotated[str, typer.Option(help="Test bitmask: decimal or 0x-hex (bit 0: test 0).")] = "1",
    mfr_code: Annotated[int, typer.Option(help="Manufacturer code (2 or 4 digits).")] = 0,
    mfr_digits: Annotated[int, typer.Option(help="2 (36 control bits) or 4 (28 control bits).")] = 2,
    as_json: Json = False,
) -> None:
    """Issue a test/display token (class 1, not encrypted: any meter of that manufacturer acts on it)."""
    if mfr_digits not in (2, 4):
        raise UsageError("--mfr-digits must be 2 or 4")
    try:
        bits = int(control, 0)
    except ValueError:
        raise UsageError(f"--control must be a number, got {control!r}") from None
    _emit([issue_test_token(bits, mfr_code, long_mfr_code=mfr_digits == 4)], as_json)


@token_app.command("key-change")
@guarded
@meter_options
def key_change(
    meter: MeterArgs,
    new_sgc: Annotated[int | None, typer.Option(help="New SGC (default: unchanged).")] = None,
    new_ti: Annotated[int | None, typer.Option(help="New tariff index (default: unchanged).")] = None,
    new_krn: Annotated[int | None, typer.Option(help="New key revision number (default: unchanged).")] = None,
    new_kt: Annotated[int | None, typer.Option(help="New key type (default: unchanged).")] = None,
    new_ken: Annotated[int | None, typer.Option(help="New key expiry number (default: unchanged).")] = None,
    new_base_date: Annotated[
        str | None, typer.Option(help="New base date (e.g. 2014 after a rollover).")
    ] = None,
    new_dkga: Annotated[str | None, typer.Option(help="New key derivation (default: unchanged).")] = None,
    new_vending_key_file: Annotated[str | None, typer.Option(help="File with the new vending key.")] = None,
    new_vending_key: Annotated[str | None, typer.Option(help="New vending key in hex.")] = None,
    new_decoder_key: Annotated[str | None, typer.Option(help="New decoder key in hex (instead).")] = None,
    rollover: Annotated[bool, typer.Option(help="Set RO: the meter clears its TID memory.")] = False,
    as_json: Json = False,
) -> None:
    """Issue the key change tokens: 2 for a 64-bit key, 4 for a 128-bit (MISTY1) key."""
    profile = meter.profile()
    old = profile.key
    new = KeyParams(
        sgc=old.sgc if new_sgc is None else new_sgc,
        ti=old.ti if new_ti is None else new_ti,
        krn=old.krn if new_krn is None else new_krn,
        kt=old.kt if new_kt is None else KeyType(new_kt),
        ken=old.ken if new_ken is None else new_ken,
        base_date=old.base_date if new_base_date is None else BaseDate.from_year(new_base_date),
        dkga=old.dkga if new_dkga is None else Dkga.parse(new_dkga),
        ea=old.ea,
    )
    new_key = _new_decoder_key(profile, new, new_vending_key_file, new_vending_key, new_decoder_key, meter)
    issuer = Issuer(profile, meter.key_for(profile), meter.table_set())
    _emit(issuer.key_change(new, new_key, rollover=rollover), as_json, many=True)


def _new_decoder_key(
    profile: MeterProfile,
    new: KeyParams,
    key_file: str | None,
    key_hex: str | None,
    dk_hex: str | None,
    meter: MeterArgs,
) -> DecoderKey:
    if dk_hex:
        return DecoderKey.from_hex(dk_hex)
    if key_file:
        try:
            with open(key_file) as handle:
                vending_key = VendingKey.from_hex(handle.read())
        except OSError as exc:
            raise UsageError(f"cannot read {key_file}: {exc.strerror}") from None
    elif key_hex:
        vending_key = VendingKey.from_hex(key_hex)
    else:
        same = meter.vending_key_or_none()
        if same is None:
            raise UsageError(
                "give the new key: --new-vending-key-file, --new-vending-key or --new-decoder-key"
            )
        vending_key = same
    return derive_decoder_key(vending_key, MeterProfile(profile.pan, new))


@token_app.command("decode")
@guarded
@meter_options
def decode(
    meter: MeterArgs,
    token: Annotated[str, typer.Argument(help="The 20-digit token (spaces allowed).")],
    as_json: Json = False,
) -> None:
    """Decode a token: class, subclass, fields, CRC check, plaintext block."""
    digits = token.replace(" ", "").replace("-", "")
    if meter.decoder_key:
        key: DecoderKey | None = DecoderKey.from_hex(meter.decoder_key)
        ea, base = Ea.parse(meter.ea), BaseDate.from_year(meter.base_date)
    elif meter.pan or meter.drn or meter.meter:
        profile = meter.profile()
        key, ea, base = meter.key_for(profile), profile.key.ea, profile.key.base_date
    else:
        key, ea, base = None, Ea.EA07, BaseDate.from_year(meter.base_date)
    if key is None and len(digits) == 20 and digits.isdigit() and (int(digits) >> 27) & 3 != 1:
        raise UsageError("this token is encrypted: give the meter parameters and a key, or --decoder-key")
    result = decode_token(digits, key, ea, meter.table_set()).to_dict(base)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    fields = result.pop("fields")
    for name, value in [*result.items(), *fields.items()]:
        typer.echo(f"{name:>13}: {value}")
    if not result["crc_ok"]:
        raise typer.Exit(1)


@meter_app.command("pan")
@guarded
def pan(number: Annotated[str, typer.Argument(help="PAN (17 or 18 digits) or DRN (10-13 digits).")]) -> None:
    """Compute or check Luhn digits: complete a 17-digit PAN or 10/12-digit DRN; check and expand others."""
    digits = number.strip().replace(" ", "")
    if not digits.isdigit():
        raise UsageError(f"expected digits, got {number!r}")
    if len(digits) in (10, 12, 17):
        typer.echo(digits + str(luhn_check_digit(digits)))
        return
    if len(digits) not in (11, 13, 18):
        raise UsageError(f"expected 10-13 digits (DRN) or 17-18 (PAN), got {len(digits)}")
    meter = meter_from_number(digits)
    typer.echo(
        f"pan: {meter.pan}\ndrn: {meter.drn}\niin: {meter.iin}\nmfr_code: {meter.mfr_code}\nvalid: yes"
    )
