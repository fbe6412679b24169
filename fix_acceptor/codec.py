"""The FIX tag=value codec of the acceptor: framing, BodyLength, CheckSum, timestamps (sans-I/O).

FIXT.1.1 only (FIX.md §2.1). `FrameDecoder.feed` takes whatever a socket read returned and hands
back every complete `Message`, and a `DecodeError` for every dropped frame or run of garbage, in
stream order; `encode` frames a `Message` whose fields start with 35 (MsgType); `timestamp` and
`parse_timestamp` convert UTCTimestamp values.

Frames: ``8=FIXT.1.1<SOH>9=<BodyLength><SOH><body>10=<CheckSum><SOH>``, where BodyLength counts
the bytes from the one after the SOH ending 9 up to and including the SOH before ``10=``, and
CheckSum is the sum of every byte before ``10=``, mod 256, written as exactly 3 digits. A decoded
`Message` holds every field of the frame in wire order, 8, 9 and 10 included (their values as
received). Inside a frame whose BodyLength and CheckSum are right, a field is never a reason to
drop the frame, so that the session layer can answer it with 35=3 Reject: a field whose tag is
not 1-9 ASCII digits without a leading zero (or that has no ``=``) becomes ``(-1, <the raw field
text>)``; an empty value is ``""``. Values are decoded latin-1 (a 1:1 byte mapping, so any frame
can be represented). RawData 96 right after RawDataLength 95, and Signature 89 right after
SignatureLength 93, are read as exactly that many bytes, SOH included, when those bytes end at a
SOH inside the body; otherwise (a wrong length) the data field is read up to the next SOH like any
other field, and the session layer sees the mismatch between the length and the value.

Decoder choices (FIX.md §2.1, §4: a bad frame is dropped, never answered):

- Resynchronisation is always by scanning for the next ``8=FIXT.1.1<SOH>``; the extent a bad frame
  announces is never trusted to skip bytes, so a corrupted BodyLength cannot swallow the valid
  frames after it. A frame that fails its checks is reported as one error covering its announced
  extent, cut short at the first ``8=FIXT.1.1<SOH>`` inside it, where decoding resumes.
- ``bad_body_length``: 9 is not the second field, its value is not 1-10 ASCII digits, or ``10=``
  does not follow at the byte BodyLength announces (with a SOH just before it). The error covers
  the 11 bytes of ``8=FIXT.1.1<SOH>`` when 9 is missing or malformed (what follows is scanned as
  garbage), else the announced frame. ``bad_checksum``: ``10=`` is where it should be, but its
  value is not 3 digits followed by SOH, or differs from the sum.
- ``too_large``: the frame BodyLength announces (header to checksum) would exceed
  `max_message_bytes`, or 9 has more than 10 digits. Reported as soon as 9 is read, covering the 8
  and 9 fields (8 and the first 12 bytes of 9 when 9 is too long); the body is not buffered but
  scanned as garbage for the next frame start.
- ``garbled`` / ``bad_begin_string``: bytes outside any frame are skipped as one error per
  contiguous run, ``bad_begin_string`` when the run starts with ``8=`` (another BeginString, such
  as ``8=FIX.4.4``), else ``garbled``. A run is reported when it ends, i.e. when the next frame
  start arrives; one that reaches `max_message_bytes` first is reported in pieces of exactly that
  size (so a peer that sends nothing but garbage is still noticed), the later pieces ``garbled``.
  A run still open when the stream stops is never reported.
- ``fatal`` is False for every error: scanning can always resynchronise, and memory stays bounded
  without giving up on the stream, so none of these errors ends the session by itself.
- A frame with a wrong BodyLength is only known to be wrong once its announced extent (at most
  `max_message_bytes`) has arrived, so the frames after it wait until then (over TCP only a
  broken peer gets there).
- Memory: after `feed` returns, `buffered` is at most `max_message_bytes` (an unfinished frame
  that passed the BodyLength check) or 24 bytes (a frame start whose 9 has not ended yet, or the
  10 bytes that may begin one). Skipped bytes are only counted.
- The output does not depend on how the stream is split into reads: errors included, the same
  bytes give the same list, which the tests check.

Why hand-written: FIX.md §2.1 is small and exact, the acceptor needs these drop-and-resync rules
and the length-framed data fields, and simplefix, the pure-Python FIX codec on PyPI, decodes an
order of magnitude slower, checks neither BodyLength nor CheckSum when decoding, and raises on
garbage instead of resynchronising. Measured on this machine (CPython 3.11.7, 2 shared CPUs,
best of 3 runs of best-of-9 x 20,000 messages; the NewOrderSingle of FIX.md Appendix A, 229
bytes, and an ExecutionReport of 24 fields, 293 bytes; one frame per read):

==================================  ===================  ===================
msgs/s                              NewOrderSingle       ExecutionReport
==================================  ===================  ===================
simplefix 1.0.17 decode                        15,900               11,400
simplefix 1.0.17 encode (built)                90,900               85,100
simplefix 1.0.17 decode + encode               12,400               10,300
this codec decode                             152,000              137,000
this codec decode, 10 frames a read           171,000              143,000
this codec encode                             292,000              251,000
this codec decode + encode                     95,000               79,000
==================================  ===================  ===================

(simplefix "encode (built)" re-encodes a FixMessage built beforehand; building it field by field
as well gives 43,000 and 37,000.) quickfix-py wraps a C++ session engine, not a codec to call per
message, so it is only a cross-check in the tests. The speed comes from working on whole frames:
``bytes.find`` to locate frame starts, one latin-1 decode and one ``str.split`` per frame, caches
of tag numbers and of ``"<tag>="`` prefixes, and the CheckSum computed with ``zlib.adler32``
(with a 0 seed, its low 16 bits are the byte sum mod 65521, which is exact for chunks of up to
256 bytes) rather than a Python loop over the bytes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final, Literal

from fix_acceptor.message import Field, Message, Tag

__all__ = [
    "MAX_MESSAGE_BYTES",
    "DecodeError",
    "DecodeReason",
    "FrameDecoder",
    "encode",
    "parse_timestamp",
    "timestamp",
    "utf8_reading",
]

MAX_MESSAGE_BYTES: Final = 65_536
"""The largest frame (8=... through the SOH ending 10) a `FrameDecoder` accepts by default."""

DecodeReason = Literal[
    "garbled", "bad_begin_string", "bad_body_length", "bad_checksum", "too_large"
]

_SOH: Final = b"\x01"
_HEADER: Final = b"8=FIXT.1.1\x01"
_HEADER_LEN: Final = len(_HEADER)
_TRAILER_LEN: Final = len(b"10=000\x01")
_MAX_LENGTH_DIGITS: Final = 10
_MIN_MESSAGE_BYTES: Final = 64
_ADLER_CHUNK: Final = 256  # 256 * 255 < 65521: adler32's byte sum is exact for this many bytes

# length tag -> data tag, and back
_DATA_AFTER_LENGTH: Final = {Tag.RawDataLength: Tag.RawData, 93: 89}
_LENGTH_BEFORE_DATA: Final = {data: length for length, data in _DATA_AFTER_LENGTH.items()}
_RESERVED_TAGS: Final = frozenset({Tag.BeginString, Tag.BodyLength, Tag.CheckSum})

# Tag text -> number, for valid tags only; grows with the tags seen, up to a bound.
_TAG_CACHE: dict[str, int] = {
    str(value): value
    for name, value in vars(Tag).items()
    if not name.startswith("_") and isinstance(value, int)
}
_TAG_CACHE.update({str(tag): tag for tag in range(1, 1000)})
_TAG_CACHE_LIMIT: Final = 10_000
_MAX_TAG_DIGITS: Final = 9


@dataclass(frozen=True, slots=True)
class DecodeError:
    """One dropped frame, or one run of bytes outside any frame, skipped by `FrameDecoder`.

    Attributes:
        reason: why the bytes were dropped (module docstring).
        size: how many bytes were skipped.
        fatal: True only if the stream could not be resynchronised; never so with this decoder.
    """

    reason: DecodeReason
    size: int
    fatal: bool = False


class FrameDecoder:
    """Splits a FIXT.1.1 byte stream into messages, dropping bad frames and garbage (sans-I/O).

    Args:
        max_message_bytes: the largest whole frame accepted (at least 64); also the most bytes
            of an unfinished frame held at any time.
    """

    __slots__ = ("_buf", "_max", "_need", "_run", "_run_reason")

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        if max_message_bytes < _MIN_MESSAGE_BYTES:
            raise ValueError(f"max_message_bytes must be at least {_MIN_MESSAGE_BYTES}")
        self._max = max_message_bytes
        self._buf = bytearray()
        self._need = 0  # buffered bytes needed before decoding can make progress
        self._run = 0  # bytes of the open garbage run not yet reported
        self._run_reason: DecodeReason | None = None  # None: no run open

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message | DecodeError]:
        """Append bytes; return every complete message (and every error) now decodable, in order.

        Never raises, whatever the bytes.
        """
        buf = self._buf
        out: list[Message | DecodeError] = []
        if buf:
            buf += data
            if len(buf) < self._need:
                return out
            del buf[: self._decode(buf, out)]  # cheap: bytearray drops a head in place
        else:
            if type(data) is not bytes:
                data = bytes(data)
            rest = self._decode(data, out)
            if rest < len(data):
                buf += memoryview(data)[rest:]
        return out

    def _decode(self, work: bytes | bytearray, out: list[Message | DecodeError]) -> int:
        """Decode `work` into `out`; the index of the first byte to keep for the next read."""
        n = len(work)
        pos = 0
        while True:
            if work.startswith(_HEADER, pos):
                start = pos
                if self._run_reason is not None:
                    self._end_run(out)
            else:
                start = work.find(_HEADER, pos)
                if start == -1:
                    keep = _header_prefix_at_end(work, pos, n)
                    self._skip(work, pos, keep, out)
                    self._need = n - keep + 1
                    return keep
                self._skip(work, pos, start, out)
                self._end_run(out)
            # A frame starts at `start`; BodyLength must follow.
            tag9 = start + _HEADER_LEN
            digits_at = tag9 + 2
            if n < digits_at:
                self._need = digits_at - start
                return start
            if work[tag9] != 0x39 or work[tag9 + 1] != 0x3D:  # not "9="
                out.append(DecodeError("bad_body_length", _HEADER_LEN))
                pos = tag9
                continue
            soh = work.find(_SOH, digits_at, digits_at + _MAX_LENGTH_DIGITS + 1)
            if soh == -1:
                digits = work[digits_at : digits_at + _MAX_LENGTH_DIGITS]
                if digits and not digits.isdigit():
                    out.append(DecodeError("bad_body_length", _HEADER_LEN))
                    pos = tag9
                    continue
                if len(digits) < _MAX_LENGTH_DIGITS or n == digits_at + _MAX_LENGTH_DIGITS:
                    self._need = n - start + 1  # the SOH ending 9 may be next
                    return start
                if not work[
                    digits_at + _MAX_LENGTH_DIGITS : digits_at + _MAX_LENGTH_DIGITS + 1
                ].isdigit():
                    out.append(DecodeError("bad_body_length", _HEADER_LEN))
                    pos = tag9
                    continue
                out.append(DecodeError("too_large", digits_at + _MAX_LENGTH_DIGITS - start))
                pos = digits_at + _MAX_LENGTH_DIGITS
                continue
            digits = work[digits_at:soh]
            if not digits.isdigit():  # empty, or not all ASCII digits
                out.append(DecodeError("bad_body_length", _HEADER_LEN))
                pos = tag9
                continue
            body = soh + 1
            length = int(digits)
            end = body + length + _TRAILER_LEN
            if end - start > self._max:
                out.append(DecodeError("too_large", body - start))
                pos = body
                continue
            if n < end:
                self._need = end - start
                return start
            trailer = end - _TRAILER_LEN
            if not work.startswith(b"10=", trailer) or (length and work[trailer - 1] != 0x01):
                reason: DecodeReason = "bad_body_length"
            elif (
                work[end - 1] != 0x01
                or not (checksum := work[trailer + 3 : end - 1]).isdigit()
                or int(checksum) != _byte_sum(work, start, trailer) % 256
            ):
                reason = "bad_checksum"
            else:
                out.append(_message(work[start:trailer].decode("latin-1"), checksum))
                pos = end
                continue
            pos = _resume_after_bad_frame(work, start, end)
            out.append(DecodeError(reason, pos - start))

    def _skip(
        self, work: bytes | bytearray, start: int, stop: int, out: list[Message | DecodeError]
    ) -> None:
        """Count `work[start:stop]` into the open garbage run, reporting it in cap-sized pieces."""
        if stop <= start:
            return
        if self._run_reason is None:
            self._run_reason = "bad_begin_string" if work.startswith(b"8=", start) else "garbled"
        self._run += stop - start
        while self._run >= self._max:
            out.append(DecodeError(self._run_reason, self._max))
            self._run -= self._max
            self._run_reason = "garbled"

    def _end_run(self, out: list[Message | DecodeError]) -> None:
        """A frame start ends the open garbage run: report what is left of it."""
        if self._run_reason is not None and self._run:
            out.append(DecodeError(self._run_reason, self._run))
        self._run = 0
        self._run_reason = None


def _header_prefix_at_end(work: bytes | bytearray, start: int, stop: int) -> int:
    """Where the longest tail of `work[start:stop]` that may begin `8=FIXT.1.1<SOH>` starts."""
    # "8" occurs once in the header, so such a tail begins at the last "8" of the final 10 bytes.
    eight = work.rfind(b"8", max(start, stop - _HEADER_LEN + 1), stop)
    if eight != -1 and _HEADER.startswith(work[eight:stop]):
        return eight
    return stop


def _resume_after_bad_frame(work: bytes | bytearray, start: int, end: int) -> int:
    """Where scanning resumes after the bad frame `work[start:end]`: its first inner frame start."""
    inner = work.find(_HEADER, start + _HEADER_LEN, end)
    if inner != -1:
        return inner
    return _header_prefix_at_end(work, start + _HEADER_LEN, end)


def _byte_sum(data: bytes | bytearray, start: int, stop: int) -> int:
    """The sum of `data[start:stop]` (low 16 bits of adler32 with a 0 seed, chunk by chunk)."""
    total = 0
    while stop - start > _ADLER_CHUNK:
        total += zlib.adler32(data[start : start + _ADLER_CHUNK], 0) & 0xFFFF
        start += _ADLER_CHUNK
    return total + (zlib.adler32(data[start:stop], 0) & 0xFFFF)


def _message(text: str, checksum: bytes | bytearray) -> Message:
    """The message of a checked frame: `text` is 8=... through the SOH before 10=."""
    well_formed = False
    if "\x0195=" in text or "\x0193=" in text:
        fields = _fields_with_data(text)
    else:
        parts = text.split("\x01")
        parts.pop()  # text ends with SOH
        known = _known_fields(parts)
        if known is not None:
            fields, well_formed = known, True
        else:
            fields = [_odd_field(part) for part in parts]
            well_formed = all(tag > 0 and value for tag, value in fields)
    fields.append((Tag.CheckSum, checksum.decode("ascii")))
    return Message(fields, well_formed=well_formed)


def _known_fields(parts: list[str]) -> list[Field] | None:
    """The fields of the usual frame, every tag known and every value non-empty (a part without
    "=" has an empty value too); None sends the frame to the field-by-field path."""
    fields: list[Field] = []
    append = fields.append
    tags = _TAG_CACHE
    for part in parts:
        tag_text, _, value = part.partition("=")
        tag = tags.get(tag_text)
        if tag is None or not value:
            return None
        append((tag, value))
    return fields


def _fields_with_data(text: str) -> list[Field]:
    """Split `text` into fields, reading 96 after 95 and 89 after 93 by their length."""
    fields: list[Field] = []
    n = len(text)
    i = 0
    data_prefix = ""
    data_len = 0
    while i < n:
        if data_prefix and text.startswith(data_prefix, i):
            value_end = i + len(data_prefix) + data_len
            if value_end < n and text[value_end] == "\x01":
                fields.append((int(data_prefix[:-1]), text[i + len(data_prefix) : value_end]))
                data_prefix = ""
                i = value_end + 1
                continue
        data_prefix = ""
        soh = text.find("\x01", i)  # found: text ends with SOH
        tag, value = _odd_field(text[i:soh])
        fields.append((tag, value))
        data_tag = _DATA_AFTER_LENGTH.get(tag)
        if data_tag is not None and value.isascii() and value.isdigit() and len(value) <= 9:
            data_prefix = f"{data_tag}="
            data_len = int(value)
        i = soh + 1
    return fields


def _odd_field(part: str) -> Field:
    """One field the fast path could not map: a tag not yet cached, or a malformed field."""
    tag_text, eq, value = part.partition("=")
    cached = _TAG_CACHE.get(tag_text)
    if cached is not None and eq:
        return cached, value
    if (
        not eq
        or not tag_text.isascii()
        or not tag_text.isdigit()
        or tag_text[0] == "0"
        or len(tag_text) > _MAX_TAG_DIGITS
    ):
        return -1, part
    tag = int(tag_text)
    if len(_TAG_CACHE) < _TAG_CACHE_LIMIT:
        _TAG_CACHE[tag_text] = tag
    return tag, value


# Tag -> "<tag>=" for the tags that may be encoded; grows with the tags seen, up to a bound. A
# plain dict (indexing a dict subclass is slower): a miss is handled by `_prefix`.
_TAG_PREFIXES: Final = {tag: f"{tag}=" for tag in _TAG_CACHE.values() if tag not in _RESERVED_TAGS}


def _prefix(tag: int) -> str:
    """``"<tag>="`` of a tag `_TAG_PREFIXES` lacks, after checking it (and caching it)."""
    if type(tag) is not int or tag <= 0 or tag in _RESERVED_TAGS:
        raise ValueError(f"tag {tag!r} cannot be encoded (8, 9 and 10 are written by encode)")
    prefix = f"{tag}="
    if len(_TAG_PREFIXES) < _TAG_CACHE_LIMIT:
        _TAG_PREFIXES[tag] = prefix
    return prefix


def encode(message: Message) -> bytes:
    """Frame `message`: 8=FIXT.1.1 and 9=<BodyLength> before its fields, 10=<CheckSum> after.

    Its fields must start with 35 (MsgType); tags are positive ints other than 8, 9 and 10;
    values are encoded latin-1 (the decoder's 1:1 byte mapping, so a value read from a frame is
    written back as the same bytes), except a value with a character beyond latin-1 (a REST
    client_order_id such as "ордер-1"), which is written as its UTF-8 bytes.

    Raises:
        ValueError: 35 is not first; a tag is 8, 9, 10 or not a positive int; a value contains
            SOH outside the data fields 96 and 89; or 96 / 89 is not right after its length
            field 95 / 93 giving its length in bytes.
    """
    fields = message.fields
    if not fields or fields[0][0] != Tag.MsgType:
        raise ValueError("the first field must be 35 (MsgType)")
    prefixes = _TAG_PREFIXES
    try:
        text = "\x01".join([prefixes[tag] + value for tag, value in fields])
    except KeyError:  # a tag not seen yet
        text = "\x01".join([(prefixes.get(tag) or _prefix(tag)) + v for tag, v in fields])
    try:
        body = text.encode("latin-1")
    except UnicodeEncodeError:  # rare: only values that came from another transport
        body = b"\x01".join(
            [(prefixes.get(tag) or _prefix(tag)).encode() + _value_bytes(v) for tag, v in fields]
        )
    body += _SOH
    # A SOH in a value, or a data field, sends the fields to the exact check.
    if body.count(_SOH) != len(fields) or b"\x0196=" in body or b"\x0189=" in body:
        _check_data_fields(fields)
    frame = b"8=FIXT.1.1\x019=%d\x01%b" % (len(body), body)
    return frame + b"10=%03d\x01" % (_byte_sum(frame, 0, len(frame)) % 256)


def _value_bytes(value: str) -> bytes:
    """A value's bytes on the wire: latin-1, or UTF-8 when it has a character beyond latin-1."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def utf8_reading(value: str) -> str | None:
    """The text `value` is the UTF-8 bytes of, as `encode` writes a value beyond latin-1 (a REST
    client order id a client echoes back); None when its bytes are not UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None


def _check_data_fields(fields: list[Field]) -> None:
    """Raise ValueError for a SOH outside a data field, or a data field after no length field."""
    previous: Field = (0, "")
    for field in fields:
        tag, value = field
        length_tag = _LENGTH_BEFORE_DATA.get(tag)
        if length_tag is not None:
            if previous != (length_tag, str(len(value))):
                raise ValueError(
                    f"data field {tag} must follow {length_tag}={len(value)} (its length)"
                )
        elif "\x01" in value:
            raise ValueError(f"the value of tag {tag} contains SOH")
        previous = field


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL: Final = _EPOCH.toordinal()
_DAY_MS: Final = 86_400_000


def timestamp(epoch_ms: int) -> str:
    """UTCTimestamp ``YYYYMMDD-HH:MM:SS.mmm`` of `epoch_ms` (ms since 1970-01-01 UTC).

    Raises:
        ValueError: outside years 1-9999.
    """
    seconds, ms = divmod(epoch_ms, 1000)
    return f"{_second(seconds)}.{ms:03d}"


@lru_cache(maxsize=64)
def _second(seconds: int) -> str:
    try:
        t = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{seconds} s from the epoch is outside years 1-9999") from None
    return f"{t.year:04d}{t.month:02d}{t.day:02d}-{t.hour:02d}:{t.minute:02d}:{t.second:02d}"


def parse_timestamp(text: str) -> int:
    """Epoch ms of a UTCTimestamp ``YYYYMMDD-HH:MM:SS`` with no fraction, 3 or 6 digits of it.

    Microseconds are truncated to the millisecond (as the SDK writes them). More than 6
    fractional digits are refused, as the SDK refuses them (FIX.md §2.1).

    Raises:
        ValueError: any other shape, or a date or time that does not exist (leap second 60 too).
    """
    n = len(text)
    if (
        n not in (17, 21, 24)
        or not text.isascii()
        or text[8] != "-"
        or text[11] != ":"
        or text[14] != ":"
        or (n > 17 and text[17] != ".")
    ):
        raise ValueError(f"not a UTCTimestamp: {text!r}")
    hours, minutes, seconds, fraction = text[9:11], text[12:14], text[15:17], text[18:]
    if not (
        hours.isdigit()
        and minutes.isdigit()
        and seconds.isdigit()
        and (n == 17 or fraction.isdigit())
    ):
        raise ValueError(f"not a UTCTimestamp: {text!r}")
    h, m, s = int(hours), int(minutes), int(seconds)
    if h > 23 or m > 59 or s > 59:
        raise ValueError(f"no such time of day: {text!r}")
    ms = 0 if n == 17 else int(fraction) if n == 21 else int(fraction) // 1000
    return _day(text[:8]) + ((h * 60 + m) * 60 + s) * 1000 + ms


@lru_cache(maxsize=256)
def _day(text: str) -> int:
    """Epoch ms of midnight UTC of the date ``YYYYMMDD``."""
    if not text.isdigit():
        raise ValueError(f"not a date: {text!r}")
    day = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    return (day.toordinal() - _EPOCH_ORDINAL) * _DAY_MS
