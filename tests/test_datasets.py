"""IDX / MNIST readers, on tiny IDX files built by the tests."""

import gzip
import struct

import numpy as np
import pytest

from skvae.datasets import load_idx, load_mnist


def idx_bytes(array, type_code=0x08):
    """The IDX encoding of ``array``: magic, big-endian sizes, big-endian data."""
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtypes[type_code]).tobytes()


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(
    ("type_code", "dtype"),
    [
        (0x08, np.uint8),
        (0x09, np.int8),
        (0x0B, np.int16),
        (0x0C, np.int32),
        (0x0D, np.float32),
        (0x0E, np.float64),
    ],
)
def test_load_idx_round_trips_every_type(tmp_path, compress, type_code, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - (0 if dtype == np.uint8 else 7)).astype(dtype)
    data = idx_bytes(array, type_code)
    path = tmp_path / "array-idx3"
    path.write_bytes(gzip.compress(data) if compress else data)

    loaded = load_idx(path)

    assert loaded.dtype == np.dtype(dtype)
    assert loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)


def test_load_idx_rejects_wrong_magic(tmp_path):
    path = tmp_path / "not-idx"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))
    with pytest.raises(ValueError, match="is not an IDX file"):
        load_idx(path)


def test_load_idx_rejects_unknown_type_code(tmp_path):
    path = tmp_path / "bad-type"
    path.write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(ValueError, match="is not an IDX file"):
        load_idx(path)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_load_idx_rejects_truncated_data(tmp_path, compress):
    data = idx_bytes(np.zeros((3, 4, 4), dtype=np.uint8))[:-5]
    path = tmp_path / "truncated"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_idx(path)


def test_load_idx_rejects_truncated_header(tmp_path):
    path = tmp_path / "short-header"
    path.write_bytes(bytes([0, 0, 0x08, 3, 0, 0, 0, 2]))
    with pytest.raises(ValueError, match="truncated inside its header"):
        load_idx(path)


def test_load_idx_rejects_trailing_bytes(tmp_path):
    path = tmp_path / "too-long"
    path.write_bytes(idx_bytes(np.zeros(4, dtype=np.uint8)) + b"extra")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_idx(path)


def test_load_idx_rejects_damaged_gzip(tmp_path):
    path = tmp_path / "damaged.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((8, 8), dtype=np.uint8)))[:-12])
    with pytest.raises(ValueError, match="damaged gzip"):
        load_idx(path)


def test_load_mnist_reads_images_and_labels(tmp_path):
    images = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    (tmp_path / "images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))

    loaded_images, loaded_labels = load_mnist(tmp_path)

    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)


def test_load_mnist_rejects_mismatched_counts(tmp_path):
    (tmp_path / "images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((3, 2, 2), np.uint8)))
    (tmp_path / "labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(2, np.uint8)))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        load_mnist(tmp_path, images="images-idx3-ubyte", labels="labels-idx1-ubyte")


def test_load_mnist_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"images-idx3-ubyte\.gz"):
        load_mnist(tmp_path)
