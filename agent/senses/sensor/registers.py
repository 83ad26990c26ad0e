"""Modbus register maps as data: value codecs and a read planner, free of any I/O.

Byte order is the order of the two bytes inside each 16-bit register ("big" = high byte
first, as the Modbus standard sends it); word order is the order of the two registers of a
32-bit value ("big" = most significant register first). Big/big is "ABCD", big/little
"CDAB", little/big "BADC", little/little "DCBA".
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agent.senses.sensor.config import DataType, RegisterConfig

# struct format of each non-bool type, as big-endian bytes of the whole value.
_FORMATS: dict[str, str] = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "float32": ">f",
}
_INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "bool": (0, 1),
}
_KIND_ORDER = ("coil", "discrete", "holding", "input")


def register_count(data_type: DataType) -> int:
    """How many 16-bit registers (or bits, for bool) one value occupies."""
    return 2 if data_type in ("int32", "uint32", "float32") else 1


def decode_value(words: Sequence[int], reg: RegisterConfig) -> float:
    """The engineering value of one register's raw words: decoded, then `* scale + offset`.

    Raises ValueError when the word count does not fit the data type or a word is not 16-bit.
    """
    expected = register_count(reg.data_type)
    if len(words) != expected:
        raise ValueError(
            f"register {reg.name!r} ({reg.data_type}) needs {expected} word(s), got {len(words)}"
        )
    if reg.data_type == "bool":
        raw = 1.0 if words[0] else 0.0
    else:
        raw = struct.unpack(_FORMATS[reg.data_type], _to_bytes(words, reg))[0]
    return float(raw) * reg.scale + reg.offset


def encode_value(value: float, reg: RegisterConfig) -> list[int]:
    """The raw words that `decode_value` turns back into `value` (rounded for integer types).

    Raises ValueError when the value does not fit the data type after undoing scale/offset.
    """
    if reg.scale == 0:
        raise ValueError(f"register {reg.name!r} has scale 0; no value can be encoded")
    raw = (value - reg.offset) / reg.scale
    if reg.data_type == "float32":
        if math.isinf(raw) and math.isfinite(value):
            raise ValueError(f"{value!r} overflows register {reg.name!r} (float32)")
        try:
            data = struct.pack(">f", raw)
        except OverflowError as exc:
            raise ValueError(f"{value!r} does not fit register {reg.name!r} (float32)") from exc
        return _from_bytes(data, reg)
    if not math.isfinite(raw):
        raise ValueError(f"{value!r} does not fit register {reg.name!r} ({reg.data_type})")
    integer = round(raw)
    low, high = _INTEGER_RANGES[reg.data_type]
    if not low <= integer <= high:
        raise ValueError(
            f"{value!r} does not fit register {reg.name!r} ({reg.data_type}, {low}..{high})"
        )
    if reg.data_type == "bool":
        return [integer]
    return _from_bytes(struct.pack(_FORMATS[reg.data_type], integer), reg)


def _to_bytes(words: Sequence[int], reg: RegisterConfig) -> bytes:
    """Big-endian bytes of the whole value from wire words, undoing both orders."""
    for word in words:
        if not 0 <= word <= 0xFFFF:
            raise ValueError(f"register {reg.name!r}: word {word!r} is not a 16-bit value")
    ordered = list(words) if reg.word_order == "big" else list(reversed(words))
    return b"".join(word.to_bytes(2, reg.byte_order) for word in ordered)


def _from_bytes(data: bytes, reg: RegisterConfig) -> list[int]:
    """Wire words from the value's big-endian bytes: the exact inverse of `_to_bytes`."""
    words = [int.from_bytes(data[i : i + 2], reg.byte_order) for i in range(0, len(data), 2)]
    return words if reg.word_order == "big" else words[::-1]


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One Modbus read request covering several registers of one kind."""

    kind: str
    address: int
    count: int
    registers: tuple[RegisterConfig, ...]

    @property
    def span(self) -> str:
        """Human-readable address range, for error messages."""
        return f"{self.kind} {self.address}..{self.address + self.count - 1}"

    def words(self, reg: RegisterConfig, values: Sequence[int]) -> Sequence[int]:
        """The slice of this block's reply that holds `reg`."""
        start = reg.address - self.address
        return values[start : start + register_count(reg.data_type)]


def plan_reads(
    registers: Iterable[RegisterConfig], max_count: int = 125, max_gap: int = 8
) -> list[ReadBlock]:
    """Group registers of the same kind into as few reads as possible.

    Registers merge into one block while the unused words between them are at most
    `max_gap` and the block stays within `max_count` words (125 is the Modbus limit for
    registers; bits share it, well under their own 2000). Blocks come sorted by kind, then
    address, so the plan is deterministic. Note that some devices reject reads that
    span unmapped addresses; `max_gap=0` then keeps blocks strictly contiguous.
    """
    if max_count < 2:
        raise ValueError("max_count must allow at least one 32-bit value (2 words)")
    if max_gap < 0:
        raise ValueError("max_gap must be >= 0")
    ordered = sorted(registers, key=lambda r: (_KIND_ORDER.index(r.kind), r.address))
    groups: list[list[RegisterConfig]] = []
    for reg in ordered:
        if groups and _joins(groups[-1], reg, max_count, max_gap):
            groups[-1].append(reg)
        else:
            groups.append([reg])
    return [
        ReadBlock(group[0].kind, group[0].address, _end(group) - group[0].address, tuple(group))
        for group in groups
    ]


def _end(group: Sequence[RegisterConfig]) -> int:
    """One past the last word a group of registers occupies."""
    return max(reg.address + register_count(reg.data_type) for reg in group)


def _joins(
    group: Sequence[RegisterConfig], reg: RegisterConfig, max_count: int, max_gap: int
) -> bool:
    """Whether `reg` (at or after the group's start) can join the group's read."""
    end = _end(group)
    return (
        reg.kind == group[0].kind
        and reg.address - end <= max_gap
        and max(end, reg.address + register_count(reg.data_type)) - group[0].address <= max_count
    )
