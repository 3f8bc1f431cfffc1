"""Read a TensorFlow frozen graph (``GraphDef`` protobuf) without TensorFlow.

A frozen graph is one protobuf message. Protobuf's wire format is a flat list of fields, each a
*key* varint ``(field_number << 3) | wire_type`` followed by its value:

=========  ==================  ==============================================================
wire type  meaning             value
=========  ==================  ==============================================================
0          varint              7 bits a byte, low groups first, high bit = "more bytes follow"
1          64-bit              8 little-endian bytes
2          length-delimited    a varint length, then that many bytes (strings, sub-messages,
                               packed repeated numbers)
5          32-bit              4 little-endian bytes (``float``)
=========  ==================  ==============================================================

Only the handful of fields a detector needs are decoded (numbers from TensorFlow's
``graph.proto``, ``node_def.proto``, ``attr_value.proto``, ``tensor.proto``,
``tensor_shape.proto``); everything else is skipped by its wire type:

* ``GraphDef.node = 1`` (repeated ``NodeDef``)
* ``NodeDef``: ``name = 1``, ``op = 2``, ``input = 3`` (repeated), ``attr = 5`` (map entries
  ``key = 1``, ``value = 2``)
* ``AttrValue``: ``list = 1``, ``s = 2``, ``i = 3``, ``f = 4``, ``b = 5``, ``type = 6``,
  ``shape = 7``, ``tensor = 8``; ``ListValue``: ``s = 2``, ``i = 3``, ``f = 4``
* ``TensorProto``: ``dtype = 1``, ``tensor_shape = 2``, ``tensor_content = 4`` (raw
  little-endian bytes), ``float_val = 5``, ``int_val = 7``, ``string_val = 8``, ``int64_val = 10``, ``bool_val = 11``
  (a single ``*_val`` entry for a larger shape means "fill the whole tensor with it")
* ``TensorShapeProto.dim = 2``; ``Dim.size = 1``

:func:`read_graph` returns the nodes in file order; :func:`const_tensors` maps every ``Const``
node's name to its value as a NumPy array.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

import numpy as np

#: TensorFlow ``DataType`` enum values -> NumPy dtypes (the ones frozen detectors use)
TF_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
             9: np.int64, 10: np.bool_}


DT_STRING = 7


class GraphDefError(ValueError):
    """The bytes are not a GraphDef this reader understands."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise GraphDefError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise GraphDefError("varint longer than 10 bytes")


def fields(buf: bytes):
    """Yield ``(field_number, wire_type, value)`` for each field of one message.

    ``value`` is an ``int`` for varints, ``bytes`` for length-delimited fields and the raw
    4 / 8 bytes for fixed-width ones.
    """
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise GraphDefError(f"field {number}: length {n} runs past the message end")
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        else:
            raise GraphDefError(f"field {number}: unsupported wire type {wire}")
        yield number, wire, value


def _packed_varints(value, wire: int) -> list[int]:
    if wire == 0:
        return [value]
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(v)
    return out


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _floats(value, wire: int) -> list[float]:
    if wire == 5:
        return [struct.unpack("<f", value)[0]]
    return list(np.frombuffer(value, "<f4"))


def read_shape(buf: bytes) -> tuple[int, ...]:
    dims = []
    for number, _, value in fields(buf):
        if number == 2:
            size = 0
            for n2, _, v2 in fields(value):
                if n2 == 1:
                    size = _signed64(v2)
            dims.append(size)
    return tuple(dims)


def read_tensor(buf: bytes) -> np.ndarray:
    """Decode a ``TensorProto`` into a NumPy array."""
    dtype, shape, content, values, strings = None, (), None, [], []
    for number, wire, value in fields(buf):
        if number == 1:
            dtype = value
        elif number == 2:
            shape = read_shape(value)
        elif number == 4:
            content = value
        elif number == 5:
            values += _floats(value, wire)
        elif number in (7, 10, 11):
            values += [_signed64(v) for v in _packed_varints(value, wire)]
        elif number == 8:
            strings.append(bytes(value))
    count = int(np.prod(shape)) if shape else 1
    if dtype == DT_STRING:  # e.g. messages of assertions: kept as Python bytes
        out = np.empty(count, object)
        out[:] = strings if len(strings) == count else [strings[0] if strings else b""] * count
        return out.reshape(shape)
    if dtype not in TF_DTYPES:
        raise GraphDefError(f"tensor dtype {dtype} is not supported (known: {sorted(TF_DTYPES)})")
    np_dtype = np.dtype(TF_DTYPES[dtype]).newbyteorder("<")
    if content is not None:
        arr = np.frombuffer(content, np_dtype)
        if arr.size != count:
            raise GraphDefError(f"tensor content has {arr.size} values for shape {shape}")
    elif len(values) == count:
        arr = np.asarray(values, np_dtype)
    elif len(values) == 1 or (not values and count):
        arr = np.full(count, values[0] if values else 0, np_dtype)
    else:
        raise GraphDefError(f"tensor has {len(values)} values for shape {shape}")
    return arr.astype(np_dtype.newbyteorder("="), copy=True).reshape(shape)


def read_attr(buf: bytes):
    """Decode an ``AttrValue``: a string, int, float, bool, dtype, shape, tensor or list."""
    for number, wire, value in fields(buf):
        if number == 1:
            out = []
            for n2, w2, v2 in fields(value):
                if n2 == 2:
                    out.append(v2.decode())
                elif n2 == 3:
                    out += [_signed64(v) for v in _packed_varints(v2, w2)]
                elif n2 == 4:
                    out += _floats(v2, w2)
            return out
        if number == 2:
            return value.decode(errors="replace")
        if number == 3:
            return _signed64(value)
        if number == 4:
            return struct.unpack("<f", value)[0]
        if number == 5:
            return bool(value)
        if number == 6:
            return TF_DTYPES.get(value, value)
        if number == 7:
            return read_shape(value)
        if number == 8:
            return read_tensor(value)
    return None


@dataclass
class Node:
    """One ``NodeDef``: its name, op, inputs and decoded attributes."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attr: dict = field(default_factory=dict)


def read_node(buf: bytes) -> Node:
    node = Node("", "")
    for number, _, value in fields(buf):
        if number == 1:
            node.name = value.decode()
        elif number == 2:
            node.op = value.decode()
        elif number == 3:
            node.inputs.append(value.decode())
        elif number == 5:
            key, attr = None, None
            for n2, _, v2 in fields(value):
                if n2 == 1:
                    key = v2.decode()
                elif n2 == 2:
                    attr = v2
            if key is not None:
                node.attr[key] = read_attr(attr) if attr is not None else None
    return node


def read_graph(path_or_bytes) -> list[Node]:
    """All nodes of a frozen ``GraphDef`` file (or its bytes), in file order."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        buf = bytes(path_or_bytes)
    else:
        path = os.fspath(path_or_bytes)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no GraphDef file at {path}")
        with open(path, "rb") as f:
            buf = f.read()
    nodes = [read_node(value) for number, wire, value in fields(buf) if number == 1 and wire == 2]
    if not nodes or any(not n.name or not n.op for n in nodes):
        raise GraphDefError("the file holds no TensorFlow GraphDef nodes (every node needs a name and an op)")
    return nodes


def const_tensors(nodes_or_path) -> dict[str, np.ndarray]:
    """``{name: array}`` of every ``Const`` node (a frozen graph keeps all weights there)."""
    nodes = nodes_or_path if isinstance(nodes_or_path, list) else read_graph(nodes_or_path)
    return {n.name: n.attr["value"] for n in nodes if n.op == "Const" and "value" in n.attr}
