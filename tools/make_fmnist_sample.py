#!/usr/bin/env python3
"""Makes the bundled Fashion-MNIST subset in assets/fashion-mnist/ (gzipped IDX, standard names).

Source: the full Fashion-MNIST from Debian's `dataset-fashion-mnist` package
(/usr/share/datasets/fashion-mnist), or the directory given as the first argument.
Subset: the first 1,000 training images of each class (10,000 in all) and the first 200 test
images of each class (2,000), kept in their original relative order. Standard library only;
the gzip files are written with mtime 0 so that rerunning gives byte-identical files.

    python3 tools/make_fmnist_sample.py [SOURCE_DIR] [OUT_DIR]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idx import read_idx, write_idx_gz  # noqa: E402

SRC = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "assets", "fashion-mnist")
PER_CLASS = {"train": 1000, "t10k": 200}


def main():
    os.makedirs(OUT, exist_ok=True)
    for prefix, per_class in PER_CLASS.items():
        (n, h, w), images = read_idx(os.path.join(SRC, f"{prefix}-images-idx3-ubyte.gz"))
        (n_labels,), labels = read_idx(os.path.join(SRC, f"{prefix}-labels-idx1-ubyte.gz"))
        assert n == n_labels
        taken = [0] * 10
        keep = []
        for i, label in enumerate(labels):
            if taken[label] < per_class:
                taken[label] += 1
                keep.append(i)
        assert all(t == per_class for t in taken), f"{prefix}: not enough images per class: {taken}"
        size = h * w
        sub_images = b"".join(images[i * size : (i + 1) * size] for i in keep)
        sub_labels = bytes(labels[i] for i in keep)
        write_idx_gz(os.path.join(OUT, f"{prefix}-images-idx3-ubyte.gz"), (len(keep), h, w), sub_images)
        write_idx_gz(os.path.join(OUT, f"{prefix}-labels-idx1-ubyte.gz"), (len(keep),), sub_labels)
        print(f"{prefix}: {len(keep)} images of {h}x{w}, {per_class} per class")


if __name__ == "__main__":
    main()
