"""The one vocabulary of decoder outcomes: Python, C (`tc_status_t`), serial protocol, LCD, vectors, docs."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """What a meter says about an entered token (STS names, style.md)."""

    ACCEPT = "accept"
    CRC_ERROR = "crc_error"  # "Reject": wrong meter or key, or a typo
    USED = "used"  # TID already in the TID memory
    OLD = "old"  # TID older than the oldest remembered
    KEY_EXPIRED = "key_expired"  # (TID >> 16) > KEN
    OVERFLOW = "overflow"  # the credit register would pass its limit
    FORMAT_ERROR = "format_error"  # not 20 digits, or above 2^66 - 1
    FUNCTION_ERROR = "function_error"  # class/subclass this meter does not support
    RANGE_ERROR = "range_error"  # a field outside its defined values (e.g. clear-credit register)
    KEY_TYPE_ERROR = "key_type_error"  # key change refused by the key-type rules
    DDTK_ERROR = "ddtk_error"  # credit token on a default-key (KT 1) meter
    MFR_CODE_ERROR = "mfr_code_error"  # test token for another manufacturer
    LOCKED = "locked"  # keypad locked after wrong entries; only Class 1 tokens are processed
    KCT_1ST_PENDING = "kct_1st_pending"  # key change: waiting for the 1st section ("PLS 1St")
    KCT_2ND_PENDING = "kct_2nd_pending"  # key change: 1st section held, the 2nd missing ("PLS 2nd")
    KCT_3RD_PENDING = "kct_3rd_pending"  # EA11 key change: 1st and 2nd held, the 3rd missing ("PLS 3rd")
    KCT_4TH_PENDING = "kct_4th_pending"  # EA11 key change: only the 4th section missing ("PLS 4th")

    @property
    def accepted(self) -> bool:
        """True for outcomes that took effect (a pending key change section is held by the meter)."""
        return self in (
            Outcome.ACCEPT,
            Outcome.KCT_1ST_PENDING,
            Outcome.KCT_2ND_PENDING,
            Outcome.KCT_3RD_PENDING,
            Outcome.KCT_4TH_PENDING,
        )


# Outcomes that count as a wrong entry towards the keypad lockout: what a mistyped or guessed token
# produces. Refusals of genuine tokens (used, old, expired...) do not lock a subscriber out.
WRONG_ENTRY_OUTCOMES = frozenset({Outcome.CRC_ERROR, Outcome.FORMAT_ERROR})
