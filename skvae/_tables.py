"""The command line's data files: what format a file is, reading it, writing results.

Inputs are chosen by their first bytes where the format has a signature
(NumPy's ``.npy``, ``.npz`` archives, Parquet, IDX and gzipped IDX) and by
the suffix for text (CSV and tab-separated files, gzipped or not); anything
else is refused with the formats this reads. Tables come back as pandas
DataFrames (the estimators record their column names), arrays as NumPy
arrays, memory-mapped where the format allows. Outputs are CSV, Parquet or
``.npy`` by the output's suffix.

pandas reads and writes the tables and pyarrow the Parquet files; both are
imported only for those formats, so ``.npy`` and IDX work without them.
"""

import os

import numpy as np

#: Text tables by suffix: the field separator.
TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t"}
#: Output suffixes this writes.
OUTPUT_SUFFIXES = (".csv", ".tsv", ".parquet", ".npy")
#: What :func:`read_data` reads, for error messages.
INPUT_FORMATS = "CSV (.csv, .tsv, with a header; gzipped too), Parquet, .npy, .npz or IDX"

_SIGNATURES = {
    b"\x93NUMPY": "npy",
    b"PK\x03\x04": "npz",
    b"PAR1": "parquet",
    b"\x1f\x8b": "gzip",
}
_IDX_TYPES = (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E)


class DataFormatError(ValueError):
    """A file that is not in a format this module reads or writes (one line)."""


def _text_suffix(name):
    """``.csv`` or ``.tsv`` when ``name`` ends so (before an optional ``.gz``), else None."""
    stem = name.lower().removesuffix(".gz")
    suffix = os.path.splitext(stem)[1]
    return suffix if suffix in TEXT_SUFFIXES else None


def data_format(path):
    """The format of the file at ``path``: ``npy``, ``npz``, ``parquet``, ``idx`` or ``csv``.

    Raises:
        DataFormatError: For any other file.
        OSError: If it cannot be read.
    """
    name = os.fspath(path)
    with open(path, "rb") as file:
        start = file.read(8)
    text = _text_suffix(name)
    for signature, kind in _SIGNATURES.items():
        if start.startswith(signature):
            if kind == "gzip":
                return "csv" if text else "idx"
            return kind
    if len(start) >= 4 and start[:2] == b"\0\0" and start[2] in _IDX_TYPES:
        return "idx"
    if text:
        return "csv"
    if "idx" in os.path.basename(name).lower():
        return "idx"  # named like MNIST's files: let the IDX reader say what is wrong
    raise DataFormatError(
        f"not a file format this reads: expected {INPUT_FORMATS} "
        "(text tables are recognised by their suffix, the others by their first bytes)"
    )


def _pandas(purpose):
    try:
        import pandas
    except ImportError:
        raise DataFormatError(
            f'{purpose} needs pandas: pip install pandas (or "skvae[cli]")'
        ) from None
    return pandas


def _exact(pandas):
    """``read_csv``'s options to read each number exactly as written.

    So that an imputed file's observed cells equal the input's: before
    pandas 3.1 the default parser can be off in the last place (pandas 3.0
    with NumPy 1.26 is), and the ``round_trip`` parser is exact; pandas 3.1
    deprecates it, its default being exact.
    """
    major, minor = (int(part) for part in pandas.__version__.split(".")[:2])
    return {"float_precision": "round_trip"} if (major, minor) < (3, 1) else {}


def _parquet_engine(purpose):
    import importlib.util

    # pandas imports it; this only says so in one line when it is absent.
    if importlib.util.find_spec("pyarrow") is None:
        raise DataFormatError(f"{purpose} needs pyarrow: pip install pyarrow")


def read_data(path, *, key=None):
    """The samples in the file at ``path``: a DataFrame for tables, else an array.

    Args:
        path: The file; its format comes from :func:`data_format`.
        key: The array to take from an ``.npz`` file (its only one, or
            ``"X"``, when None).

    Raises:
        DataFormatError: A file in no format read here, or a reader missing.
        ValueError: A damaged file (IDX, NumPy, CSV, Parquet).
        KeyError: An ``.npz`` file without the array asked for.
        OSError: A file that cannot be read.
    """
    from .datasets import _read_numpy, load_idx

    name = os.fspath(path)
    kind = data_format(path)
    if kind == "idx":
        return load_idx(path, mmap=True)
    if kind in ("npy", "npz"):
        return _read_numpy(path, kind, key=key)
    if kind == "parquet":
        pandas = _pandas("reading Parquet")
        _parquet_engine("reading Parquet")
        try:
            return pandas.read_parquet(path)
        except (OSError, ValueError) as error:
            raise ValueError(f"{name!r} is not a readable Parquet file: {error}") from None
    pandas = _pandas("reading CSV")
    try:
        return pandas.read_csv(path, sep=TEXT_SUFFIXES[_text_suffix(name)], **_exact(pandas))
    except (ValueError, UnicodeDecodeError, pandas.errors.ParserError) as error:
        raise ValueError(f"{name!r} is not a readable CSV file: {error}") from None


def check_output_name(path):
    """Refuse an output name whose suffix is not one of :data:`OUTPUT_SUFFIXES`."""
    name = os.fspath(path)
    if not name.lower().endswith(OUTPUT_SUFFIXES):
        raise DataFormatError(
            f"cannot tell what to write to {name!r}: name it .csv, .tsv, .parquet or .npy"
        )
    if name.lower().endswith(".parquet"):
        _pandas("writing Parquet")
        _parquet_engine("writing Parquet")
    elif not name.lower().endswith(".npy"):
        _pandas("writing CSV")


def write_data(path, values, columns=None):
    """Write rows ``values`` to ``path`` as its suffix says, with these column names.

    A table (CSV, Parquet) of rows of images holds one column per pixel;
    ``values`` may be a DataFrame (its columns and dtypes are kept).
    ``.npy`` keeps the array's shape.
    """
    name = os.fspath(path)
    check_output_name(name)
    if name.lower().endswith(".npy"):
        array = np.asarray(values)
        if array.dtype == object:  # a mixed table's categories: text, or Python objects
            raise ValueError(
                "a table with text columns cannot be written to .npy; name it .csv or .parquet"
            )
        np.save(name, array, allow_pickle=False)
        return
    pandas = _pandas("writing tables")
    if isinstance(values, pandas.DataFrame):
        table = values
    else:
        values = np.asarray(values)
        table = pandas.DataFrame(values.reshape(len(values), -1), columns=columns)
    if name.lower().endswith(".parquet"):
        table.to_parquet(name, index=False)
    else:
        table.to_csv(name, index=False, sep=TEXT_SUFFIXES[_text_suffix(name)])
