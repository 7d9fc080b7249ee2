"""Framing rules of docs/serial-protocol.md §2, on the emulator's line framer."""

from hypothesis import given, settings
from hypothesis import strategies as st

from meter_emulator.framing import MAX_LINE, FramingError, LineFramer


def test_lines_split_on_lf_and_cr_is_ignored() -> None:
    framer = LineFramer()
    assert framer.feed(b"STATUS\r\nINF") == ["STATUS"]
    assert framer.feed(b"O\n") == ["INFO"]


def test_empty_and_blank_lines_get_no_reply() -> None:
    assert LineFramer().feed(b"\n\r\n   \nLCD\n") == ["LCD"]


def test_over_long_line_is_dropped_up_to_its_lf_and_reported_once() -> None:
    framer = LineFramer()
    items = framer.feed(b"X" * (MAX_LINE + 200) + b"\nSTATUS\n")
    assert items == [FramingError("too_long"), "STATUS"]


def test_exactly_max_line_is_accepted() -> None:
    assert LineFramer().feed(b"Y" * MAX_LINE + b"\n") == ["Y" * MAX_LINE]


def test_non_printable_byte_spoils_only_its_line() -> None:
    assert LineFramer().feed(b"TOK\x00EN 1\nINFO\n") == [FramingError("bad_char"), "INFO"]
    assert LineFramer().feed(b"\xff\xfe\n") == [FramingError("bad_char")]


def test_reset_forgets_a_partial_line() -> None:
    framer = LineFramer()
    framer.feed(b"TOKEN 1234")
    framer.reset()
    assert framer.feed(b"STATUS\n") == ["STATUS"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=10))
def test_any_garbage_then_resync_yields_the_next_request(garbage: bytes, cuts: list[int]) -> None:
    """Whatever came before, a lone LF resyncs and the next request arrives intact."""
    stream = garbage + b"\nSTATUS\n"
    framer = LineFramer()
    items: list[str | FramingError] = []
    pos = 0
    for cut in cuts:
        items += framer.feed(stream[pos : pos + cut])
        pos += cut
    items += framer.feed(stream[pos:])
    assert items[-1] == "STATUS"
    assert all(isinstance(i, FramingError) or len(i) <= MAX_LINE for i in items)
