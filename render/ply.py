"""A PLY reader for what trimesh does not read: a surface made of triangle strips (`tristrips`,
as the Stanford scans store it), with its vertex colours (no bpy)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from render.assets import BadAsset


def tristrips_to_triangles(strips: np.ndarray) -> np.ndarray:
    """Triangles (F, 3) int64 of a triangle-strip index list in which -1 ends a strip: each
    window of three indices is a triangle, every second one within a strip reversed so all
    keep the strip's winding; degenerate triangles (a repeated index) are dropped."""
    strips = np.asarray(strips, dtype=np.int64).ravel()
    if len(strips) < 3:
        return np.zeros((0, 3), dtype=np.int64)
    position = np.arange(len(strips))
    last_restart = np.maximum.accumulate(np.where(strips < 0, position, -1))
    within = position - last_restart - 1  # index inside the current strip
    first, second, third = strips[:-2], strips[1:-1], strips[2:]
    odd = within[:-2] % 2 == 1
    triangles = np.stack([np.where(odd, second, first), np.where(odd, first, second), third],
                         axis=1)
    triangles = triangles[(first >= 0) & (second >= 0) & (third >= 0)]
    a, b, c = triangles.T
    return triangles[(a != b) & (b != c) & (a != c)]


_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2",
              "int16": "i2", "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4",
              "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4", "double": "f8",
              "float64": "f8"}
_PLY_COLORS = (("red", "green", "blue"), ("diffuse_red", "diffuse_green", "diffuse_blue"))


@dataclass
class _PlyElement:
    name: str
    count: int
    properties: list[tuple[str, str, str | None]]  # (name, numpy type, list-length type)


def _ply_header(head: bytes) -> tuple[str, list[_PlyElement], int] | None:
    """(format, elements, offset of the body) of a PLY file from its first bytes, or None when
    they are not a PLY header this module can read (trimesh then has its say)."""
    end = head.find(b"end_header")
    newline = head.find(b"\n", end)
    if not head.startswith(b"ply") or end < 0 or newline < 0:
        return None
    form, elements = "", []
    try:
        for line in head[:end].decode("ascii", errors="replace").splitlines():
            words = line.split()
            if not words or words[0] in {"ply", "comment", "obj_info"}:
                continue
            if words[0] == "format":
                form = words[1]
            elif words[0] == "element":
                elements.append(_PlyElement(words[1], int(words[2]), []))
            elif words[0] == "property" and words[1] == "list":
                elements[-1].properties.append((words[4], _PLY_TYPES[words[3]],
                                                _PLY_TYPES[words[2]]))
            elif words[0] == "property":
                elements[-1].properties.append((words[2], _PLY_TYPES[words[1]], None))
    except (IndexError, KeyError, ValueError):
        return None
    if form not in {"ascii", "binary_little_endian", "binary_big_endian"}:
        return None
    return form, elements, newline + 1


def _ply_elements(form: str, elements: list[_PlyElement], body: bytes) -> dict[str, dict]:
    """Every element's properties as arrays: scalar ones (count,), lists concatenated."""
    order = "<" if form == "binary_little_endian" else ">"
    tokens = body.split() if form == "ascii" else []
    cursor = 0
    result: dict[str, dict] = {}
    for element in elements:
        columns: dict[str, list] = {name: [] for name, _, _ in element.properties}
        if all(length is None for _, _, length in element.properties):
            if form == "ascii":
                width = len(element.properties)
                table = np.array(tokens[cursor:cursor + element.count * width], dtype=np.float64)
                cursor += element.count * width
                table = table.reshape(element.count, width)
                result[element.name] = {name: table[:, k]
                                        for k, (name, _, _) in enumerate(element.properties)}
            else:
                dtype = np.dtype([(name, order + kind) for name, kind, _ in element.properties])
                table = np.frombuffer(body, dtype=dtype, count=element.count, offset=cursor)
                cursor += element.count * dtype.itemsize
                result[element.name] = {name: table[name] for name in dtype.names}
            continue
        for _ in range(element.count):  # elements with lists: one at a time (strips are few)
            for name, kind, length in element.properties:
                if form == "ascii":
                    count = int(tokens[cursor]) if length else 1
                    start = cursor + (1 if length else 0)
                    columns[name].append(np.array(tokens[start:start + count], dtype=kind))
                    cursor = start + count
                    continue
                if length:
                    count = int(np.frombuffer(body, order + length, 1, cursor)[0])
                    cursor += np.dtype(length).itemsize
                else:
                    count = 1
                columns[name].append(np.frombuffer(body, order + kind, count, cursor))
                cursor += count * np.dtype(kind).itemsize
        result[element.name] = {name: np.concatenate(parts) if parts else np.zeros(0)
                                for name, parts in columns.items()}
    return result


def read_ply_strips(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """(vertices (V, 3) float64, triangles (F, 3) int64, colours (V, 3) float32 sRGB in [0, 1]
    or None) of a PLY whose surface is a `tristrips` element and has no faces; None for any
    other PLY (trimesh reads those). Raises BadAsset for a malformed file."""
    with open(path, "rb") as stream:
        header = _ply_header(stream.read(1 << 16))
    if header is None:
        return None
    form, elements, body = header
    names = {element.name: element for element in elements}
    if "tristrips" not in names or ("face" in names and names["face"].count > 0):
        return None
    data = path.read_bytes()
    try:
        table = _ply_elements(form, elements, data[body:])
        vertex, strips = table["vertex"], table["tristrips"]
        vertices = np.stack([vertex[axis] for axis in "xyz"], axis=1).astype(np.float64)
    except (KeyError, ValueError, IndexError) as error:
        raise BadAsset(path, f"PLY triangle strips cannot be read ({type(error).__name__}: "
                             f"{error})") from None
    lists = [name for name, _, length in names["tristrips"].properties if length]
    if not lists:
        raise BadAsset(path, "PLY tristrips element has no index list")
    index_list = "vertex_indices" if "vertex_indices" in lists else lists[0]
    triangles = tristrips_to_triangles(strips[index_list])
    colors = None
    types = {name: kind for name, kind, _ in names["vertex"].properties}
    for channels in _PLY_COLORS:
        if all(channel in vertex for channel in channels):
            rgb = np.stack([vertex[channel] for channel in channels], axis=1).astype(np.float32)
            if not types[channels[0]].startswith("f"):  # integer channels: 0 .. type max
                rgb /= float(np.iinfo(types[channels[0]]).max)
            colors = np.clip(rgb, 0.0, 1.0)
            break
    return vertices, triangles, colors
