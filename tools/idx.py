"""IDX files (MNIST, Fashion-MNIST), unsigned bytes, gzipped or not: the one reader and writer of
the tools. Standard library only.

    shape, payload = read_idx("train-images-idx3-ubyte.gz")     # (60000, 28, 28), bytes
    write_idx_gz("out-images-idx3-ubyte.gz", shape, payload)      # mtime 0: the same bytes every run
"""

import gzip
import io
import struct


def read_idx(path):
    """(shape, payload bytes) of an unsigned-byte IDX file; gzipped when the name ends in .gz."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndims, data[4 : 4 + 4 * ndims])
    payload = data[4 + 4 * ndims :]
    count = 1
    for d in shape:
        count *= d
    if len(payload) != count:
        raise ValueError(f"{path}: {len(payload)} bytes of data, shape {shape} needs {count}")
    return shape, payload


def write_idx_gz(path, shape, payload):
    """Writes an unsigned-byte IDX file, gzipped with mtime 0."""
    raw = struct.pack(">HBB", 0, 0x08, len(shape)) + struct.pack(">" + "I" * len(shape), *shape) + payload
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(raw)
    with open(path, "wb") as f:
        f.write(buf.getvalue())
