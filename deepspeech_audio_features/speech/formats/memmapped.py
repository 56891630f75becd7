"""DeepSpeech's memory-mapped graph (``.pbmm``): a ``.pb`` after TensorFlow's
``convert_graphdef_memmapped_format``.

Layout (tensorflow/core/util/memmapped_file_system.proto, memmapped_file_system_writer.cc,
memmapped_file_system.cc; the converter is
tensorflow/contrib/util/convert_graphdef_memmapped_format_lib.cc):

- every ``Const`` of a POD type and at least 10,000 bytes becomes an ``ImmutableConst``
  (attributes ``dtype``, ``shape``, ``memory_region_name``) whose raw little-endian tensor
  bytes are a region named ``memmapped_package://`` + the node name with every character
  outside ``[A-Za-z0-9_.]`` replaced by ``_`` (``_`` appended until unique), each region
  starting at a multiple of 64 bytes (``Allocator::kAllocatorAlignment``);
- then the rewritten GraphDef, region ``memmapped_package://.``;
- then a ``MemmappedFileSystemDirectory`` proto: repeated ``element`` (1) of
  ``{offset (1), name (2), length (3)}``; old writers leave ``length`` unset, so a region
  ends where the next begins (the last where the directory begins);
- the directory's offset, little-endian uint64, in the last 8 bytes.

TensorFlow's own reader (``MemmappedEnv``) is C++ only: ``tf.raw_ops.ImmutableConst`` with a
``memmapped_package://`` name needs a session built on a ``MemmappedEnv``, which the pip
wheel's Python API cannot create (no binding), so the container is parsed here. The
directory proto is tiny and is read and written by hand (no dependence on TF's private
``memmapped_file_system_pb2``; the tests use that module to check this code independently).
"""
from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import graph_pb2

from ...infra.atomic import atomic_write
from ...infra.errors import CheckpointError
from .frozen_graph import constants, model_from_graph_def, parse_graph_def, read_bytes

PACKAGE_PREFIX = "memmapped_package://"
GRAPH_REGION = PACKAGE_PREFIX + "."
ALIGNMENT = 64
MIN_CONVERSION_BYTES = 10000  # convert_graphdef_memmapped_format's --min_conversion_tensor_size default


# ---------------------------------------------------------------------- the directory proto
def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if byte < 0x80:
            return value, pos


def _fields(data: bytes):
    """(field number, value) pairs of a proto message holding only varints and byte strings."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated field")
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ValueError(f"unexpected wire type {wire}")
        yield number, value


def parse_directory(data: bytes) -> list[tuple[str, int, int]]:
    """``[(name, offset, length or 0)]`` from a serialized ``MemmappedFileSystemDirectory``."""
    elements = []
    for number, element in _fields(data):
        if number != 1 or not isinstance(element, bytes):
            raise ValueError(f"unexpected field {number}")
        fields = dict(_fields(element))
        name = fields.get(2, b"")
        if not isinstance(name, bytes):
            raise ValueError("element name is not a string")
        elements.append((name.decode("utf-8"), int(fields.get(1, 0)), int(fields.get(3, 0))))
    return elements


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def serialize_directory(elements: list[tuple[str, int, int]]) -> bytes:
    """The inverse of :func:`parse_directory` (fields in proto order; zeros omitted, as proto3 does)."""
    out = bytearray()
    for name, offset, length in elements:
        body = bytearray()
        if offset:
            body += b"\x08" + _encode_varint(offset)
        body += b"\x12" + _encode_varint(len(name.encode())) + name.encode()
        if length:
            body += b"\x18" + _encode_varint(length)
        out += b"\x0a" + _encode_varint(len(body)) + body
    return bytes(out)


# ---------------------------------------------------------------------- reading
def read_regions(data: bytes, source: str) -> dict[str, bytes]:
    """Region name -> bytes of a memmapped package; CheckpointError naming ``source`` if the
    directory is broken (offsets out of range, overlapping, no graph region)."""
    if len(data) < 8:
        raise CheckpointError(f"{source}: {len(data)} bytes, too short for a memmapped package")
    (directory_offset,) = struct.unpack("<Q", data[-8:])
    if directory_offset > len(data) - 8:
        raise CheckpointError(f"{source}: directory offset {directory_offset} beyond the file's {len(data)} bytes "
                              "(truncated, or not a .pbmm)")
    try:
        elements = parse_directory(data[directory_offset:-8])
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{source}: broken memmapped directory ({err})") from None
    regions = {}
    ends = [offset for _, offset, _ in elements[1:]] + [directory_offset]
    for (name, offset, length), next_start in zip(elements, ends):
        end = offset + length if length else next_start  # old writers set no length
        if not (0 <= offset <= end <= directory_offset) or end > next_start:
            raise CheckpointError(f"{source}: broken memmapped directory (region {name!r} spans {offset}-{end}, "
                                  f"the directory starts at {directory_offset})")
        regions[name] = data[offset:end]
    if GRAPH_REGION not in regions:
        raise CheckpointError(f"{source}: memmapped directory has no {GRAPH_REGION} region (not a .pbmm?)")
    return regions


def immutable_constants(graph: graph_pb2.GraphDef, regions: dict[str, bytes], source: str) -> dict[str, np.ndarray]:
    """Each ``ImmutableConst`` node's value, from its region's raw bytes."""
    out = {}
    for node in graph.node:
        if node.op != "ImmutableConst":
            continue
        region = node.attr["memory_region_name"].s.decode("utf-8", "replace")
        if region not in regions:
            raise CheckpointError(f"{source}: {node.name} reads region {region!r}, which the directory lacks")
        dtype = tf.dtypes.as_dtype(node.attr["dtype"].type).as_numpy_dtype
        shape = [dim.size for dim in node.attr["shape"].shape.dim]
        data = regions[region]
        needed = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if len(data) < needed:
            raise CheckpointError(f"{source}: region {region!r} holds {len(data)} bytes, {node.name} {shape} "
                                  f"needs {needed}")
        out[node.name] = np.frombuffer(data[:needed], dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
    return out


def load_memmapped(path: str | os.PathLike):
    """Load a DeepSpeech ``.pbmm`` as a :class:`DeepSpeech` model."""
    source = str(path)
    regions = read_regions(read_bytes(path), source)
    graph = parse_graph_def(regions[GRAPH_REGION], f"{source}: region {GRAPH_REGION}")
    values = constants(graph, source)
    values.update(immutable_constants(graph, regions, source))
    return model_from_graph_def(graph, values, source, "pbmm")


# ---------------------------------------------------------------------- writing
def region_name(node_name: str, used: set[str]) -> str:
    """``memmapped_package://`` + the sanitized, unique node name (ConvertVariableNameToUniqueRegionName)."""
    name = re.sub(r"[^A-Za-z0-9_.]", "_", node_name)
    while name in used:
        name += "_"
    used.add(name)
    return PACKAGE_PREFIX + name


def write_memmapped(graph: graph_pb2.GraphDef, path: str | os.PathLike,
                    min_conversion_bytes: int = MIN_CONVERSION_BYTES, write_lengths: bool = True) -> int:
    """Write a frozen GraphDef as a ``.pbmm``, as ``convert_graphdef_memmapped_format`` does.

    Args:
        write_lengths: set each directory element's ``length`` (newer writers); False
            writes the old layout, where lengths follow from the offsets.
    Returns:
        the number of constants converted to ``ImmutableConst``.
    """
    graph = graph_pb2.GraphDef.FromString(graph.SerializeToString())  # the caller's graph stays as it was
    out, elements, used = bytearray(), [], set()

    def add_region(name: str, data: bytes, align: bool) -> None:
        if align:
            out.extend(b"\0" * (-len(out) % ALIGNMENT))
        elements.append((name, len(out), len(data) if write_lengths else 0))
        out.extend(data)

    converted = 0
    for node in graph.node:
        if node.op != "Const":
            continue
        tensor = node.attr["value"].tensor
        if tensor.dtype == tf.string.as_datatype_enum:  # not POD: stays inline
            continue
        value = tf.make_ndarray(tensor)
        if value.nbytes < min_conversion_bytes or value.nbytes == 0:
            continue
        name = region_name(node.name, used)
        add_region(name, np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<")).tobytes(), align=True)
        dtype, shape = tensor.dtype, tensor.tensor_shape
        node.op = "ImmutableConst"
        node.ClearField("attr")
        node.attr["dtype"].type = dtype
        node.attr["shape"].shape.CopyFrom(shape)
        node.attr["memory_region_name"].s = name.encode()
        converted += 1
    add_region(GRAPH_REGION, graph.SerializeToString(), align=False)
    directory_offset = len(out)
    out.extend(serialize_directory(elements))
    out.extend(struct.pack("<Q", directory_offset))
    atomic_write(Path(path), lambda tmp: Path(tmp).write_bytes(bytes(out)))
    return converted
