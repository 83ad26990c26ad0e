"""Register codecs and the read planner, checked against byte layouts worked out by hand."""

from __future__ import annotations

import itertools
import math
from typing import Literal, TypedDict, Unpack

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client.mixin import ModbusClientMixin

from agent.senses.sensor.config import DataType, RegisterConfig
from agent.senses.sensor.registers import (
    ReadBlock,
    decode_value,
    encode_value,
    plan_reads,
    register_count,
)

Kind = Literal["holding", "input", "coil", "discrete"]
Order = Literal["big", "little"]

WORD_TYPES: tuple[DataType, ...] = ("int16", "uint16", "int32", "uint32", "float32")
ORDERS: tuple[Order, ...] = ("big", "little")
KINDS: tuple[Kind, ...] = ("holding", "input", "coil", "discrete")
# A value of each type that uses every byte, so a wrong order cannot round-trip by chance.
SAMPLES: dict[DataType, float] = {
    "int16": -12345.0,
    "uint16": 54321.0,
    "int32": -123456789.0,
    "uint32": 3_000_000_001.0,
    "float32": 123.456,
}


class Fields(TypedDict, total=False):
    """What a test may set on a register besides its data type and name."""

    byte_order: Order
    word_order: Order
    scale: float
    offset: float


def reg(
    data_type: DataType = "uint16", *, name: str = "r", **kwargs: Unpack[Fields]
) -> RegisterConfig:
    kind: Kind = "coil" if data_type == "bool" else "holding"
    return RegisterConfig(name=name, address=0, kind=kind, data_type=data_type, **kwargs)


def at(
    address: int, data_type: DataType = "uint16", kind: Kind = "holding", name: str = ""
) -> RegisterConfig:
    return RegisterConfig(
        name=name or f"{kind}{address}", address=address, kind=kind, data_type=data_type
    )


def test_register_count() -> None:
    assert [register_count(t) for t in ("bool", "int16", "uint16")] == [1, 1, 1]
    assert [register_count(t) for t in ("int32", "uint32", "float32")] == [2, 2, 2]


@pytest.mark.parametrize(
    ("byte_order", "word_order", "words"),
    [
        ("big", "big", [0x42F6, 0xE979]),  # ABCD
        ("big", "little", [0xE979, 0x42F6]),  # CDAB
        ("little", "big", [0xF642, 0x79E9]),  # BADC
        ("little", "little", [0x79E9, 0xF642]),  # DCBA
    ],
)
def test_float32_layouts(byte_order: Order, word_order: Order, words: list[int]) -> None:
    r = reg("float32", byte_order=byte_order, word_order=word_order)
    assert encode_value(123.456, r) == words
    assert decode_value(words, r) == pytest.approx(123.456, rel=1e-7)


@pytest.mark.parametrize(
    ("data_type", "byte_order", "words", "expected"),
    [
        ("int16", "big", [0xFFFE], -2.0),
        ("int16", "little", [0xFEFF], -2.0),
        ("uint16", "big", [0x1234], 0x1234),
        ("uint16", "little", [0x3412], 0x1234),
        ("int32", "big", [0xFFFF, 0xFFFD], -3.0),
        ("uint32", "big", [0x0001, 0x0002], 65538.0),
    ],
)
def test_integer_layouts(
    data_type: DataType, byte_order: Order, words: list[int], expected: float
) -> None:
    assert decode_value(words, reg(data_type, byte_order=byte_order)) == expected


def test_uint32_word_order_little_puts_low_word_first() -> None:
    assert decode_value([0x0002, 0x0001], reg("uint32", word_order="little")) == 65538.0


@pytest.mark.parametrize(
    ("data_type", "byte_order", "word_order"),
    list(itertools.product(WORD_TYPES, ORDERS, ORDERS)),
)
def test_every_type_and_order_round_trips(
    data_type: DataType, byte_order: Order, word_order: Order
) -> None:
    r = reg(data_type, byte_order=byte_order, word_order=word_order)
    words = encode_value(SAMPLES[data_type], r)
    assert len(words) == register_count(data_type)
    assert all(0 <= w <= 0xFFFF for w in words)
    assert decode_value(words, r) == pytest.approx(SAMPLES[data_type], rel=1e-7)


@pytest.mark.parametrize(("data_type", "word_order"), list(itertools.product(WORD_TYPES, ORDERS)))
def test_big_byte_order_agrees_with_pymodbus(data_type: DataType, word_order: Order) -> None:
    """pymodbus's own converter (standard byte order only) is an independent oracle."""
    oracle = ModbusClientMixin.DATATYPE[data_type.upper()]
    value = SAMPLES[data_type] if data_type == "float32" else int(SAMPLES[data_type])
    expected = ModbusClientMixin.convert_to_registers(value, oracle, word_order=word_order)
    assert encode_value(SAMPLES[data_type], reg(data_type, word_order=word_order)) == expected


def test_orders_matter_for_every_multi_byte_layout() -> None:
    layouts = {
        (b, w): tuple(encode_value(123.456, reg("float32", byte_order=b, word_order=w)))
        for b, w in itertools.product(ORDERS, ORDERS)
    }
    assert len(set(layouts.values())) == 4


def test_bool() -> None:
    r = reg("bool")
    assert decode_value([1], r) == 1.0
    assert decode_value([0], r) == 0.0
    assert encode_value(1.0, r) == [1]
    assert encode_value(0.0, r) == [0]
    with pytest.raises(ValueError, match="does not fit"):
        encode_value(2.0, r)


def test_scale_and_offset() -> None:
    r = reg("int16", scale=0.1, offset=-40.0)
    assert decode_value([650], r) == pytest.approx(25.0)
    assert encode_value(25.0, r) == [650]
    assert encode_value(25.04, r) == [650]  # rounded to the register's resolution
    assert decode_value(encode_value(-43.3, r), r) == pytest.approx(-43.3)


def test_encode_rejects_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="uint16"):
        encode_value(-1.0, reg("uint16"))
    with pytest.raises(ValueError, match="int16"):
        encode_value(40000.0, reg("int16"))
    with pytest.raises(ValueError, match="float32"):
        encode_value(1e39, reg("float32"))
    with pytest.raises(ValueError, match="does not fit"):
        encode_value(math.nan, reg("int32"))
    with pytest.raises(ValueError, match="scale 0"):
        encode_value(1.0, reg("uint16", scale=0.0))


def test_decode_rejects_wrong_word_count_and_non_16_bit_words() -> None:
    with pytest.raises(ValueError, match="needs 2 word"):
        decode_value([1], reg("float32", name="flow"))
    with pytest.raises(ValueError, match="needs 1 word"):
        decode_value([1, 2], reg("int16"))
    with pytest.raises(ValueError, match="16-bit"):
        decode_value([0x10000], reg("uint16"))


@given(
    data_type=st.sampled_from(WORD_TYPES),
    byte_order=st.sampled_from(ORDERS),
    word_order=st.sampled_from(ORDERS),
    scale=st.sampled_from([1.0, 0.1, 0.01, 2.5, -1.0]),
    offset=st.floats(-1000, 1000),
    value=st.floats(allow_nan=False, allow_infinity=False),
)
def test_decode_inverts_encode_or_encode_raises_value_error(
    data_type: DataType,
    byte_order: Order,
    word_order: Order,
    scale: float,
    offset: float,
    value: float,
) -> None:
    r = reg(data_type, byte_order=byte_order, word_order=word_order, scale=scale, offset=offset)
    try:
        words = encode_value(value, r)
    except ValueError:
        return
    decoded = decode_value(words, r)
    if data_type == "float32":
        raw = (value - offset) / scale
        tolerance = abs(raw) * 2**-23 * abs(scale) + abs(value) * 1e-12 + 1e-9
    else:
        tolerance = 0.5 * abs(scale) + abs(value) * 1e-12 + 1e-9
    assert abs(decoded - value) <= tolerance


@given(
    data_type=st.sampled_from(("int16", "uint16", "int32", "uint32")),
    byte_order=st.sampled_from(ORDERS),
    word_order=st.sampled_from(ORDERS),
    fraction=st.floats(0, 1),
)
def test_every_integer_in_range_round_trips_exactly(
    data_type: DataType, byte_order: Order, word_order: Order, fraction: float
) -> None:
    bits, signed = (16 if "16" in data_type else 32), not data_type.startswith("u")
    low = -(2 ** (bits - 1)) if signed else 0
    value = float(low + round(fraction * (2**bits - 1)))
    r = reg(data_type, byte_order=byte_order, word_order=word_order)
    assert decode_value(encode_value(value, r), r) == value


@given(words=st.lists(st.integers(-5, 0x1_0005), max_size=3), data_type=st.sampled_from(WORD_TYPES))
def test_decode_raises_only_value_error(words: list[int], data_type: DataType) -> None:
    try:
        value = decode_value(words, reg(data_type))
    except ValueError:
        return
    assert isinstance(value, float)


def test_plan_groups_near_registers_of_one_kind() -> None:
    registers = [
        at(0),
        at(1, "float32"),
        at(10),  # gap of 7 words after 1..2: joins
        at(30),  # gap of 19: new block
        at(5, kind="input"),
        at(3, "bool", kind="coil"),
        at(4, "bool", kind="coil"),
    ]
    plan = plan_reads(registers)
    assert [(b.kind, b.address, b.count) for b in plan] == [
        ("coil", 3, 2),
        ("holding", 0, 11),
        ("holding", 30, 1),
        ("input", 5, 1),
    ]
    assert [r.name for r in plan[1].registers] == ["holding0", "holding1", "holding10"]


def test_plan_respects_gap_and_size_limits() -> None:
    registers = [at(a) for a in range(0, 40, 4)]  # gaps of 3 words
    assert len(plan_reads(registers, max_gap=3)) == 1
    assert len(plan_reads(registers, max_gap=2)) == 10
    blocks = plan_reads(registers, max_count=10)
    assert all(b.count <= 10 for b in blocks)
    assert sorted(r.address for b in blocks for r in b.registers) == list(range(0, 40, 4))


def test_plan_keeps_a_32_bit_value_whole_and_handles_overlap() -> None:
    plan = plan_reads([at(0, "float32", name="f"), at(1, name="low_word")], max_count=2)
    assert [(b.address, b.count) for b in plan] == [(0, 2)]
    plan = plan_reads([at(0), at(1, "float32")], max_count=2)
    assert [(b.address, b.count) for b in plan] == [(0, 1), (1, 2)]


def test_plan_rejects_impossible_limits() -> None:
    with pytest.raises(ValueError, match="max_count"):
        plan_reads([at(0)], max_count=1)
    with pytest.raises(ValueError, match="max_gap"):
        plan_reads([at(0)], max_gap=-1)


def test_block_slices_each_register_from_the_reply() -> None:
    f, u = at(2, "float32", name="f"), at(5, name="u")
    block = ReadBlock("holding", 2, 4, (f, u))
    words = [0x42F6, 0xE979, 0, 7]
    assert decode_value(block.words(f, words), f) == pytest.approx(123.456, rel=1e-7)
    assert decode_value(block.words(u, words), u) == 7.0
    assert block.span == "holding 2..5"


def test_float32_nan_and_infinity_pass_through() -> None:
    r = reg("float32")
    assert math.isnan(decode_value(encode_value(math.nan, r), r))
    assert encode_value(math.inf, r) == [0x7F80, 0x0000]
    assert decode_value([0x7F80, 0x0000], r) == math.inf


@st.composite
def register_maps(draw: st.DrawFn) -> list[RegisterConfig]:
    """Up to 12 registers of any kind and type at random (possibly overlapping) addresses."""
    registers = []
    for index in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(KINDS))
        bits = kind in ("coil", "discrete")
        registers.append(
            RegisterConfig(
                name=f"r{index}",
                address=draw(st.integers(0, 65534)) if index % 3 else draw(st.integers(0, 300)),
                kind=kind,
                data_type="bool" if bits else draw(st.sampled_from(WORD_TYPES)),
                byte_order=draw(st.sampled_from(ORDERS)),
                word_order=draw(st.sampled_from(ORDERS)),
            )
        )
    return registers


@given(
    registers=register_maps(),
    max_gap=st.integers(0, 20),
    max_count=st.integers(2, 125),
    reply=st.lists(st.integers(0, 0xFFFF), min_size=125, max_size=125),
)
def test_any_map_is_planned_whole_and_any_full_reply_decodes(
    registers: list[RegisterConfig], max_gap: int, max_count: int, reply: list[int]
) -> None:
    blocks = plan_reads(registers, max_count=max_count, max_gap=max_gap)
    planned = [reg.name for block in blocks for reg in block.registers]
    assert sorted(planned) == sorted(reg.name for reg in registers)  # each read exactly once
    for block in blocks:
        assert 1 <= block.count <= max_count
        words = reply[: block.count]  # a reply of exactly the size asked for
        for reg in block.registers:
            assert reg.kind == block.kind
            assert block.address <= reg.address
            assert len(block.words(reg, words)) == register_count(reg.data_type)
            assert isinstance(decode_value(block.words(reg, words), reg), float)
