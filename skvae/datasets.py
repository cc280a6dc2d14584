"""Readers for array files: NumPy's ``.npy`` / ``.npz`` and MNIST-style IDX.

The IDX format: a big-endian magic number whose third byte is the element
type and fourth the number of dimensions, one big-endian uint32 size per
dimension, then the data in C order.
"""

import gzip
import math
import os
import zipfile

import numpy as np

__all__ = ["load_array", "load_idx", "load_mnist"]

_GZIP_MAGIC = b"\x1f\x8b"
# How NumPy's files start: the .npy magic string; .npz files are zip archives.
_NUMPY_SIGNATURES = {".npy": b"\x93NUMPY", ".npz": b"PK\x03\x04"}

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def load_idx(path: str | os.PathLike, *, mmap: bool = False) -> np.ndarray:
    """Read one IDX file into a NumPy array.

    Parameters
    ----------
    path : str or path-like
        File to read; gzip compression is detected from its content.

    mmap : bool, default=False
        Memory-map an uncompressed file of one-byte values (uint8 or int8)
        instead of reading it: the result is a read-only ``numpy.memmap``
        whose pages are read from disk on use. Gzipped files and wider types
        (which are stored big-endian) are always read into memory.

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
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "tiny-idx2-ubyte")
    >>> _ = open(path, "wb").write(header + bytes(range(6)))
    >>> load_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    >>> type(load_idx(path, mmap=True)).__name__
    'memmap'
    >>> folder.cleanup()
    """
    name = os.fspath(path)
    raw = _idx_bytes(path, mmap)
    magic = bytes(raw[:4])
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{name!r} is not an IDX file: expected the magic bytes "
            "00 00 <type> <ndim> with type one of 08, 09, 0B, 0C, 0D, 0E."
        )
    dtype, ndim = _IDX_DTYPES[magic[2]], magic[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{name!r} is truncated inside its header.")
    shape = tuple(int(s) for s in raw[4:header_size].view(">u4"))
    expected = header_size + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{name!r} has {len(raw)} bytes but its header {shape} needs "
            f"{expected}: the file is truncated or corrupt."
        )
    data = raw[header_size:].view(dtype).reshape(shape)
    if isinstance(raw, np.memmap) and dtype.itemsize == 1:
        return data
    # np.array, not astype, whose copy of a map would still claim to be a memmap.
    return np.array(data, dtype=dtype.newbyteorder("="))


def _idx_bytes(path, mmap):
    """The bytes of an IDX file as a uint8 array: mapped, or read and un-gzipped."""
    with open(path, "rb") as file:
        raw = file.read(2)
        if mmap and len(raw) == 2 and raw != _GZIP_MAGIC:
            # The map holds its own handle, so it outlives this `with`.
            return np.memmap(file, np.uint8, mode="r")
        raw += file.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise ValueError(f"{os.fspath(path)!r} is a damaged gzip file: {error}") from None
    return np.frombuffer(raw, np.uint8)


def load_array(
    path: str | os.PathLike, *, key: str | None = None, mmap: bool = True
) -> np.ndarray:
    """Read the array stored in a ``.npy``, ``.npz`` or IDX file.

    The format follows the file name: ``.npy`` and ``.npz`` are NumPy's
    formats, anything else is read as an MNIST-style IDX file (gzipped or
    not) with :func:`load_idx`. The values are returned as stored: uint8
    pixels stay uint8, which :class:`~skvae.VariationalAutoencoder` reads as
    8-bit intensities.

    Parameters
    ----------
    path : str or path-like
        File to read.

    key : str, default=None
        Array to take from an ``.npz`` file; None takes its only array, or
        the one named ``"X"``. Ignored for other formats.

    mmap : bool, default=True
        Memory-map ``.npy`` files and uncompressed IDX files of one-byte
        values, so that a file larger than memory can be fitted; the result
        is then read-only. ``.npz`` and gzipped files are always read into
        memory.

    Returns
    -------
    array : ndarray
        The stored array (a ``numpy.memmap`` when mapped).

    Raises
    ------
    ValueError
        If the file is damaged or not in the format its name says.
    KeyError
        If an ``.npz`` file has no array named ``key`` (with ``key=None``:
        holds several arrays and none named ``"X"``).
    OSError
        If the file cannot be opened, e.g. ``FileNotFoundError``.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from skvae.datasets import load_array
    >>> folder = tempfile.TemporaryDirectory()
    >>> images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    >>> np.save(os.path.join(folder.name, "images.npy"), images)
    >>> mapped = load_array(os.path.join(folder.name, "images.npy"))
    >>> type(mapped).__name__, mapped.dtype, mapped.shape
    ('memmap', dtype('uint8'), (2, 4, 4))
    >>> np.savez(os.path.join(folder.name, "data.npz"), X=images, y=np.array([3, 5]))
    >>> load_array(os.path.join(folder.name, "data.npz"), key="y")
    array([3, 5])
    >>> del mapped
    >>> folder.cleanup()
    """
    name = os.fspath(path)
    suffix = os.path.splitext(name)[1]
    if suffix not in _NUMPY_SIGNATURES:
        return load_idx(path, mmap=mmap)
    with open(path, "rb") as file:
        # Otherwise np.load would blame any other content on pickling.
        if not file.read(6).startswith(_NUMPY_SIGNATURES[suffix]):
            raise ValueError(f"{name!r} is not a {suffix} file: it lacks NumPy's signature.")
    return _read_numpy(path, suffix[1:], key=key, mmap=mmap)


def _read_numpy(path, kind, *, key=None, mmap=True):
    """The array in a NumPy file known to be ``kind``, ``"npy"`` or ``"npz"``.

    The reader behind :func:`load_array` and the command line's files;
    ``key`` and ``mmap`` as there.
    """
    name = os.fspath(path)
    try:
        if kind == "npy":
            return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        with np.load(path, allow_pickle=False) as archive:
            names = archive.files
            if key is None:
                key = names[0] if len(names) == 1 else "X"
            if key not in names:
                raise KeyError(f"{name!r} holds the arrays {names}, none named {key!r}")
            return archive[key]
    except (ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{name!r} is not a readable .{kind} file: {error}") from None


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
