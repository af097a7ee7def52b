"""Minimal safetensors writer/reader (numpy only), used by make_parity_fixtures.py.

Format (https://github.com/huggingface/safetensors):
  8 bytes   little-endian u64 N = length of the JSON header in bytes
  N bytes   UTF-8 JSON: {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
            "__metadata__": {str: str}}, padded with spaces so that 8 + N is a multiple of 8
  rest      raw little-endian tensor bytes; data_offsets are relative to the start of this section

Tensors are laid out in the order given (dict order), contiguously, with no gaps.
"""

import json
import struct

import numpy as np

# safetensors dtype name <-> little-endian numpy dtype
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_BY_KIND = {(d.kind, d.itemsize): name for name, d in _DTYPES.items()}


def _to_numpy(t):
    if hasattr(t, "detach"):  # torch.Tensor, without importing torch here
        t = t.detach().cpu().numpy()
    return np.asarray(t)


def write_safetensors(path, tensors, metadata=None):
    """Write tensors (name -> numpy array or torch tensor) to path.

    metadata: dict str -> str, stored as "__metadata__".
    Arrays keep their dtype (float32 -> F32, int64 -> I64, ...); convert before calling.
    """
    header = {}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("reserved tensor name: __metadata__")
        a = _to_numpy(t)
        key = (a.dtype.kind, a.dtype.itemsize)
        if key not in _BY_KIND:
            raise TypeError(f"{name}: unsupported dtype {a.dtype}")
        dname = _BY_KIND[key]
        data = np.ascontiguousarray(a, dtype=_DTYPES[dname]).tobytes(order="C")
        header[name] = {
            "dtype": dname,
            "shape": [int(s) for s in a.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"metadata must map str to str, got {k!r}: {v!r}")
        header["__metadata__"] = dict(metadata)
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    hbytes += b" " * ((-(8 + len(hbytes))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for c in chunks:
            f.write(c)


def read_safetensors(path):
    """Read a safetensors file. Returns (dict name -> numpy array, metadata dict or {})."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("file too short")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError("header length past end of file")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None) or {}
    body = memoryview(raw)[8 + n :]
    out = {}
    spans = []
    for name, info in header.items():
        dt = _DTYPES[info["dtype"]]
        shape = tuple(info["shape"])
        b, e = info["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64))
        if e - b != count * dt.itemsize or e > len(body) or b < 0:
            raise ValueError(f"{name}: bad data_offsets {b},{e} for shape {shape} {info['dtype']}")
        out[name] = np.frombuffer(body[b:e], dtype=dt).reshape(shape).copy()
        spans.append((b, e))
    spans.sort()
    pos = 0
    for b, e in spans:
        if b != pos:
            raise ValueError("tensor data not contiguous")
        pos = e
    if pos != len(body):
        raise ValueError("trailing bytes after tensor data")
    return out, metadata
