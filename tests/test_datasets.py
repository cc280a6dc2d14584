"""Array-file readers (.npy, .npz, IDX / MNIST), on tiny files built by the tests."""

import gzip
import struct

import numpy as np
import pytest

from skvae.datasets import load_array, load_idx, load_mnist


def idx_bytes(array, type_code=0x08):
    """The IDX encoding of ``array``: magic, big-endian sizes, big-endian data."""
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtypes[type_code]).tobytes()


@pytest.mark.parametrize("mmap", [False, True], ids=["read", "mmap"])
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
def test_load_idx_round_trips_every_type(tmp_path, compress, type_code, dtype, mmap):
    array = (np.arange(24).reshape(2, 3, 4) - (0 if dtype == np.uint8 else 7)).astype(dtype)
    data = idx_bytes(array, type_code)
    path = tmp_path / "array-idx3"
    path.write_bytes(gzip.compress(data) if compress else data)

    loaded = load_idx(path, mmap=mmap)

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


def test_load_idx_maps_only_plain_files_of_bytes(tmp_path):
    images = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4)
    (tmp_path / "plain").write_bytes(idx_bytes(images))
    (tmp_path / "gzipped").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "wide").write_bytes(idx_bytes(images, 0x0B))

    assert isinstance(load_idx(tmp_path / "plain", mmap=True), np.memmap)
    assert not isinstance(load_idx(tmp_path / "plain"), np.memmap)
    assert not isinstance(load_idx(tmp_path / "gzipped", mmap=True), np.memmap)
    assert not isinstance(load_idx(tmp_path / "wide", mmap=True), np.memmap)


@pytest.mark.parametrize("mmap", [True, False])
def test_load_array_reads_npy_mapped_or_in_memory(tmp_path, mmap):
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    np.save(tmp_path / "images.npy", images)

    loaded = load_array(tmp_path / "images.npy", mmap=mmap)

    assert isinstance(loaded, np.memmap) == mmap
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, images)


def test_load_array_reads_idx_files(tmp_path):
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    (tmp_path / "images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))

    mapped = load_array(tmp_path / "images-idx3-ubyte")
    assert isinstance(mapped, np.memmap)
    np.testing.assert_array_equal(mapped, images)
    np.testing.assert_array_equal(load_array(tmp_path / "images-idx3-ubyte.gz"), images)


def test_load_array_picks_the_npz_array(tmp_path):
    X, y = np.ones((3, 2)), np.arange(3)
    np.savez(tmp_path / "only.npz", images=X)
    np.savez(tmp_path / "both.npz", X=X, y=y)

    np.testing.assert_array_equal(load_array(tmp_path / "only.npz"), X)
    np.testing.assert_array_equal(load_array(tmp_path / "both.npz"), X)
    np.testing.assert_array_equal(load_array(tmp_path / "both.npz", key="y"), y)


def test_load_array_names_the_npz_arrays_when_the_key_is_missing(tmp_path):
    np.savez(tmp_path / "two.npz", images=np.ones(2), labels=np.ones(2))
    with pytest.raises(KeyError, match=r"two\.npz.*\['images', 'labels'\], none named 'X'"):
        load_array(tmp_path / "two.npz")
    with pytest.raises(KeyError, match="none named 'pixels'"):
        load_array(tmp_path / "two.npz", key="pixels")


@pytest.mark.parametrize("name", ["empty.npy", "text.npy", "text.npz"])
def test_load_array_rejects_files_that_are_not_numpy(tmp_path, name):
    (tmp_path / name).write_bytes(b"" if name == "empty.npy" else b"hello, I am text\n")
    with pytest.raises(ValueError, match=rf"{name}' is not a {name[-4:]} file"):
        load_array(tmp_path / name)


@pytest.mark.parametrize("name", ["cut.npy", "cut.npz"])
@pytest.mark.parametrize("mmap", [True, False])
def test_load_array_rejects_truncated_numpy_files(tmp_path, name, mmap):
    path = tmp_path / name
    (np.save if name.endswith(".npy") else np.savez)(path, np.zeros((10, 16)))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match=rf"{name}' is not a readable {name[-4:]} file"):
        load_array(path, mmap=mmap)


@pytest.mark.parametrize("name", ["missing.npy", "missing.npz", "missing-idx3-ubyte"])
def test_load_array_passes_missing_files_through(tmp_path, name):
    with pytest.raises(FileNotFoundError):
        load_array(tmp_path / name)
