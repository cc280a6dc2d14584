"""Readers for MNIST-style IDX files (gzipped or not).

The IDX format: a big-endian magic number whose third byte is the element
type and fourth the number of dimensions, one big-endian uint32 size per
dimension, then the data in C order.
"""

import gzip
import math
import os

import numpy as np

__all__ = ["load_idx", "load_mnist"]

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file into a NumPy array.

    Parameters
    ----------
    path : str or path-like
        File to read; gzip compression is detected from its content.

    Returns
    -------
    array : ndarray
        The array with the shape stored in the file, in native byte order.

    Raises
    ------
    ValueError
        If the file is not IDX, or is truncated or longer than its header says.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from skvae.datasets import load_idx
    >>> header = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3])
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny-idx2-ubyte")
    >>> _ = open(path, "wb").write(header + bytes(range(6)))
    >>> load_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    with open(path, "rb") as file:
        raw = file.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise ValueError(f"{os.fspath(path)!r} is a damaged gzip file: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{os.fspath(path)!r} is not an IDX file: expected the magic bytes "
            "00 00 <type> <ndim> with type one of 08, 09, 0B, 0C, 0D, 0E."
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{os.fspath(path)!r} is truncated inside its header.")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header_size + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{os.fspath(path)!r} has {len(raw)} bytes but its header {shape} needs "
            f"{expected}: the file is truncated or corrupt."
        )
    data = np.frombuffer(raw, dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def load_mnist(
    directory: str | os.PathLike,
    *,
    images: str = "images-idx3-ubyte.gz",
    labels: str = "labels-idx1-ubyte.gz",
) -> tuple[np.ndarray, np.ndarray]:
    """Read MNIST-style images and labels from a directory.

    Parameters
    ----------
    directory : str or path-like
        Directory holding the two IDX files.
    images, labels : str
        File names inside ``directory``.

    Returns
    -------
    images : ndarray of shape (n_samples, height, width), uint8
    labels : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from skvae.datasets import load_mnist
    >>> load_mnist("/no/such/dir")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    FileNotFoundError: ...
    """
    images_array = load_idx(os.path.join(directory, images))
    labels_array = load_idx(os.path.join(directory, labels))
    if len(images_array) != len(labels_array):
        raise ValueError(
            f"{len(images_array)} images but {len(labels_array)} labels in {directory!r}."
        )
    return images_array, labels_array
