"""The ``.skvae`` model file: a fitted estimator as data, loaded without pickle.

A model file is a zip archive (members stored, not compressed) of one JSON
document, ``skvae.json``, with the estimator's parameters and fitted scalars,
and ``.npy`` arrays (little-endian, never object arrays) with the weights and
the fitted arrays. :func:`load` trusts nothing in it: it checks the archive's
layout and sizes before reading, parses the JSON into plain data only, runs
the estimator's own parameter validation, rebuilds the networks from the
saved parameters with skvae's builders, and assigns the weights after
checking each array's shape, dtype and values against the rebuilt networks.
Nothing read from the file is ever imported, called or unpickled.

What is saved lives in three places: ``_fitted_state`` (each fitted
attribute and its name in the file, shared with pickling and ONNX export),
:data:`KINDS` (how each is written and read) and :func:`rebuild_networks`
(the networks from the fitted layout and network parameters).
"""

import dataclasses
import hashlib
import io
import itertools
import json
import math
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from ._fitted_state import FITTED_STATE, fitted_values

#: What the ``format`` entry of ``skvae.json`` says.
FORMAT_NAME = "skvae-model"
#: The version this code writes; :func:`load` reads this one and older ones.
#: Version 2: ``hidden_layer_sizes`` also sizes a conv network's Dense layers
#: between the convolutions and the latent space; a version-1 conv network
#: has none, whatever its ``hidden_layer_sizes`` says.
#: Version 3: an optional ``scaler`` entry, the ``StandardScaler`` of a
#: saved ``Pipeline(StandardScaler, estimator)``. A file without one is still
#: written as version 2, which older skvae reads.
#: Version 4: ``hidden_layer_sizes="auto"`` of a dense network on more than
#: ``_layout.WIDE_TABLE_FEATURES`` features means the wider layers of
#: ``_layout.wide_hidden_layer_sizes``; in older files it means the fixed
#: widths. And a mixed table's layout holds ``handle_unknown`` and each
#: real and positive column's ``location`` and ``scale`` (its network reads
#: the column standardized); an older mixed file has neither, which reads
#: as ``"error"``, 0 and 1 (the values as they are). Only a file whose
#: network or columns that changes is written as version 4.
#: Version 5: an optional ``output`` entry, the container that
#: ``set_output(transform=...)`` chose for the estimator (and the scaler of
#: a pipeline) where it is not the default. A file without one keeps the
#: version it had.
#: Version 6: a category column's optional ``categories_dtype``, its
#: categories' dtype where pandas would not infer it from the values
#: (``int32`` categories). A file without one keeps the version it had.
FORMAT_VERSION = 6
#: The first version whose ``"auto"`` dense layers widen with the features.
WIDE_AUTO_LAYERS_VERSION = 4
#: The first version whose mixed tables' columns are standardized.
STANDARDIZED_COLUMNS_VERSION = 4
#: The version of a file that holds an estimator alone.
ESTIMATOR_FORMAT_VERSION = 2
#: The first version with an optional ``scaler`` entry.
SCALER_VERSION = 3
#: The first version with an optional ``output`` entry.
OUTPUT_VERSION = 5
#: The first version whose columns may have a ``categories_dtype``.
CATEGORIES_DTYPE_VERSION = 6
#: The ``set_output`` containers an ``output`` entry may name.
OUTPUT_CONTAINERS = ("pandas", "polars")
#: The JSON member.
METADATA_MEMBER = "skvae.json"
#: How a zip archive, and so a model file, starts.
ZIP_MAGIC = b"PK\x03\x04"

# Limits that keep a hostile file from making load allocate or work without
# bound. Every array member's exact size follows from the metadata and the
# rebuilt networks; these bound what is read before that is known.
MAX_MEMBERS = 10_000
MAX_METADATA_BYTES = 16 * 2**20  # 16 MiB: feature names of a very wide table fit
MAX_JSON_DEPTH = 8  # the schema nests 4 deep
MAX_JSON_STRING_LENGTH = 10_000
MAX_NPY_HEADER_BYTES = 4096  # numpy writes 128 bytes for the arrays saved here
MAX_MEMBER_NAME_LENGTH = 100

# Members: skvae.json, history.npy and the like, and the weights of each
# network's layers (layer index in ``model.layers``, weight index in ``layer.weights``).
_MEMBER_NAME = re.compile(r"[a-z0-9_]+(/[a-z0-9_]+)?\.(npy|json)")
_WEIGHT_MEMBER = re.compile(r"(encoder|decoder)/layer[0-9]{2,4}_weight[0-9]{1,2}\.npy")
_HISTORY_CURVE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _weight_member(network, layer_index, weight_index):
    return f"{network}/layer{layer_index:02d}_weight{weight_index}.npy"


def is_pickle(start):
    """Whether a file's first bytes are a pickle's (protocol 2 or newer, as joblib writes)."""
    return len(start) >= 2 and start[0] == 0x80 and 2 <= start[1] <= 5


class _Refused(ValueError):
    """A problem with the model file (reported with the file's name by :func:`load`)."""


# ---------------------------------------------------------------- the kinds


@dataclasses.dataclass(frozen=True)
class Kind:
    """How one fitted attribute is written to and read from the file.

    ``dump(value, arrays)`` returns the attribute's JSON value and may add
    ``{member: ndarray}`` entries to ``arrays``; ``load(json_value, context)``
    checks the JSON value and returns the attribute, reading its arrays
    through ``context.read_array(member, shape, dtype)``. ``context.fitted``
    holds the attributes read before it, so a kind may use them for shapes.
    """

    dump: Callable[[Any, dict], Any]
    load: Callable[[Any, "_LoadContext"], Any]


def _check(condition, message):
    if not condition:
        raise _Refused(message)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_float(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_kind(name, minimum, maximum=None):
    def load(value, context):
        _check(
            _is_int(value) and value >= minimum and (maximum is None or value <= maximum),
            f"{name} must be an integer in [{minimum}, {maximum or 'inf'}], got {value!r}",
        )
        return value

    return Kind(dump=lambda value, arrays: int(value), load=load)


def _load_bool(value, context):
    _check(isinstance(value, bool), f"expected true or false, got {value!r}")
    return value


BOOLEAN = Kind(dump=lambda value, arrays: bool(value), load=_load_bool)


def _load_missing_values(value, context):
    _check(_is_float(value), f"missing_values must be a number, got {value!r}")
    return float(value)


#: A float, NaN allowed (the imputer's missing-value marker).
MISSING_VALUES = Kind(dump=lambda value, arrays: float(value), load=_load_missing_values)


def _noise_kind(parameter, *, minimum):
    """A float above ``minimum``, or one per feature kept in ``{name}.npy``, or None.

    ``name`` is ``decoder_{parameter}``; it is there exactly for the
    likelihood families whose ``noise_parameters`` name ``parameter``.
    """
    name = f"decoder_{parameter}"
    member = f"{name}.npy"

    def dump(value, arrays):
        if value is None or np.ndim(value) == 0:
            return None if value is None else float(value)
        arrays[member] = np.asarray(value, dtype="<f8")
        return member

    def load(value, context):
        needed = parameter in context.family.noise_parameters
        if value is None:
            _check(not needed, f"{name} is null for a {context.likelihood} model")
            return None
        _check(needed, f"a {context.likelihood} model has no {name}")
        if value == member:
            shape = (context.fitted["layout"].n_features,)
            values = context.read_array(member, shape, np.dtype("<f8")).copy()
        else:
            _check(_is_float(value), f"{name} must be a number, {member!r} or null, got {value!r}")
            values = np.float64(value)
        _check(
            np.all(np.isfinite(values)) and np.all(values > minimum),
            f"{name} must be finite and above {minimum}",
        )
        return float(values) if values.ndim == 0 else values

    return Kind(dump=dump, load=load)


#: One positive float or one per feature, None for a family without a variance.
DECODER_VARIANCE = _noise_kind("variance", minimum=0.0)
#: The degrees of freedom (Student's t), one or one per feature; None otherwise.
DECODER_DF = _noise_kind("df", minimum=0.0)


def _load_noise_floor(value, context):
    if value is None:
        return None
    _check(
        _is_float(value) and math.isfinite(value) and value > 0,
        f"noise_floor must be a positive finite number or null, got {value!r}",
    )
    return float(value)


#: The learned noise's floor (a positive float), or None when none was learned.
NOISE_FLOOR = Kind(
    dump=lambda value, arrays: None if value is None else float(value), load=_load_noise_floor
)


def _load_feature_names(value, context):
    if value is None:
        return None
    _check(
        isinstance(value, list)
        and len(value) == context.n_features
        and all(isinstance(name, str) for name in value),
        f"feature_names_in must be null or {context.n_features} strings",
    )
    return np.asarray(value, dtype=object)


FEATURE_NAMES = Kind(
    dump=lambda value, arrays: None if value is None else [str(name) for name in value],
    load=_load_feature_names,
)


def _load_layout(value, context):
    from ._columns import HANDLE_UNKNOWN
    from ._layout import Layout
    from ._likelihoods import likelihood_family

    # A numeric model's layout has no columns entry (files from before mixed
    # tables), nor handle_unknown (a mixed model's files from before it: "error").
    fields = {field.name for field in dataclasses.fields(Layout)} - {"columns"}
    mixed = fields | {"columns"}
    _check(
        isinstance(value, dict) and set(value) in (fields, mixed, mixed | {"handle_unknown"}),
        f"layout must have exactly the entries {sorted(fields)} (and columns and "
        "handle_unknown for a mixed table)",
    )
    value = dict(value)
    handle_unknown = value.pop("handle_unknown", "error")
    _check(
        handle_unknown in HANDLE_UNKNOWN,
        f"layout.handle_unknown must be one of {list(HANDLE_UNKNOWN)}, got {handle_unknown!r}",
    )
    columns = None
    n_features, image_shape = value["n_features"], value["image_shape"]
    if value.get("columns") is not None:
        columns = _load_columns(value["columns"], context, handle_unknown)
        _check(
            _is_int(n_features) and n_features == columns.n_features,
            f"layout.n_features must equal the columns' features ({columns.n_features}), "
            f"got {n_features!r}",
        )
        _check(
            image_shape is None
            and value["output_activation"] == "linear"
            and value["input_scale"] == 1.0,
            "a mixed table's layout has no image_shape, a linear output and input_scale 1.0",
        )
    else:
        _check(
            _is_int(n_features) and n_features == context.n_features,
            f"layout.n_features must equal n_features_in ({context.n_features}), "
            f"got {n_features!r}",
        )
    if image_shape is not None:
        _check(
            isinstance(image_shape, list)
            and len(image_shape) == 3
            and all(_is_int(side) and side >= 1 for side in image_shape)
            and math.prod(image_shape) == n_features,
            f"layout.image_shape must be null or 3 positive integers whose product is "
            f"n_features ({n_features}), got {image_shape!r}",
        )
        image_shape = tuple(image_shape)
    architecture = value["architecture"]
    _check(
        architecture == "dense" or (architecture == "conv" and image_shape is not None),
        f"layout.architecture must be 'dense', or 'conv' with an image_shape, "
        f"got {architecture!r}",
    )
    _check(
        isinstance(value["outputs_images"], bool)
        and (image_shape is not None or not value["outputs_images"]),
        "layout.outputs_images must be a boolean, false without an image_shape",
    )
    _check(
        value["output_activation"] in ("sigmoid", "linear"),
        f"layout.output_activation must be 'sigmoid' or 'linear', "
        f"got {value['output_activation']!r}",
    )
    _check(
        value["input_scale"] in (1.0, 255.0) and _is_float(value["input_scale"]),
        f"layout.input_scale must be 1.0 or 255.0, got {value['input_scale']!r}",
    )
    try:
        family = likelihood_family(value["likelihood"])
    except ValueError as error:
        raise _Refused(f"layout.{error}") from None
    _check(
        columns is None or family.output_activation is None,
        f"a mixed table's real columns cannot follow {family.name!r}",
    )
    _check(
        family.output_activation in (None, value["output_activation"]),
        f"a {family.name!r} model needs layout.output_activation {family.output_activation!r}",
    )
    _check(
        value["noise_scale"] in ("shared", "feature")
        and (value["noise_scale"] == "shared" or family.has_variance),
        "layout.noise_scale must be 'shared', or 'feature' for a model with a variance, "
        f"got {value['noise_scale']!r}",
    )
    _check(
        value["missing_entries"] == context.estimator_class._missing_entries,
        f"layout.missing_entries must be {context.estimator_class._missing_entries!r} for "
        f"a {context.estimator_class.__name__}, got {value['missing_entries']!r}",
    )
    return Layout(
        **{
            **value,
            "image_shape": image_shape,
            "input_scale": float(value["input_scale"]),
            "columns": columns,
        }
    )


def _dump_layout(layout, arrays):
    fields = {
        field.name: getattr(layout, field.name)
        for field in dataclasses.fields(layout)
        if field.name != "columns"
    }
    if layout.columns is not None:
        fields["columns"] = _dump_columns(layout.columns)
        fields["handle_unknown"] = layout.columns.handle_unknown
    image_shape = layout.image_shape
    return {
        **fields,
        "n_features": int(layout.n_features),
        "image_shape": None if image_shape is None else [int(side) for side in image_shape],
        "input_scale": float(layout.input_scale),
    }


LAYOUT = Kind(dump=_dump_layout, load=_load_layout)

#: Longest dtype name a file may hold (``"datetime64[ns, Europe/London]"`` is 29).
_MAX_DTYPE_NAME = 64


def _column_value_to_json(value, what):
    """A column name or category as plain JSON: a string, a boolean, an int or a finite float."""
    if isinstance(value, np.generic):
        value = value.item()  # NumPy scalars (columns=np.arange(k) names) as Python values
    if _is_column_value(value):
        return value
    raise TypeError(
        f"cannot save {what} {value!r}: a model file holds column names and categories "
        "that are strings, booleans, integers or finite floats."
    )


def _dump_columns(columns):
    """Each column's fields (``_columns.Column``), as plain JSON."""
    dumped = []
    for column in columns.columns:
        entry = dataclasses.asdict(column)
        if column.categories_dtype is None:
            del entry["categories_dtype"]
        entry["name"] = _column_value_to_json(column.name, "the column name")
        if column.categories is not None:
            entry["categories"] = [
                _column_value_to_json(value, f"column {column.name!r}'s category")
                for value in column.categories
            ]
        dumped.append(entry)
    return dumped


def _is_column_value(value):
    return isinstance(value, (str, bool, int)) or (
        isinstance(value, float) and math.isfinite(value)
    )


def _load_columns(value, context, handle_unknown):
    from ._columns import (
        COLUMN_TYPES,
        MAX_CATEGORIES,
        NUMERIC_TYPES,
        POSITIVE,
        REAL,
        Column,
        TableColumns,
    )

    _check(
        isinstance(value, list) and len(value) == context.n_features,
        f"layout.columns must be null or a list of n_features_in ({context.n_features}) columns",
    )
    names = context.fitted.get("feature_names_in")
    # The entries of one column: its fields (see ``_columns.Column``), the
    # categories' dtype only where pandas would not infer it. Files written
    # before real columns were standardized have no location and scale:
    # their network read the values as they are (0 and 1).
    entries = {field.name for field in dataclasses.fields(Column)} - {"categories_dtype"}
    unscaled_entries = entries - {"location", "scale"}
    columns = []
    for i, entry in enumerate(value):
        where = f"layout.columns[{i}]"
        _check(
            isinstance(entry, dict)
            and set(entry) - {"categories_dtype"} in (entries, unscaled_entries),
            f"{where} must have exactly the entries {sorted(entries)} (and categories_dtype)",
        )
        name, kind, dtype = entry["name"], entry["kind"], entry["dtype"]
        categories, ordered = entry["categories"], entry["ordered"]
        location, scale = entry.get("location", 0.0), entry.get("scale", 1.0)
        _check(
            _is_float(location)
            and _is_float(scale)
            and math.isfinite(location)
            and math.isfinite(scale)
            and scale > 0,
            f"{where}.location must be a finite number and its scale a positive one",
        )
        _check(
            _is_column_value(name),
            f"{where}.name must be a string, a boolean, an integer or a finite float",
        )
        _check(names is None or name == names[i], f"{where}.name must be feature_names_in[{i}]")
        _check(kind in COLUMN_TYPES, f"{where}.kind must be one of {list(COLUMN_TYPES)}")
        standardized = (location, scale) != (0.0, 1.0)
        _check(isinstance(ordered, bool), f"{where}.ordered must be true or false")
        _check(
            isinstance(dtype, str) and len(dtype) <= _MAX_DTYPE_NAME,
            f"{where}.dtype must be a dtype's name",
        )
        dtype_kind = _dtype_kind(dtype, where)
        categories_dtype = entry.get("categories_dtype")
        if "categories_dtype" in entry:
            _check_categories_dtype(categories_dtype, categories, dtype, where)
        if kind in NUMERIC_TYPES:
            _check(
                dtype_kind in "iuf" and categories is None and not ordered,
                f"{where}: a {kind} column has a numeric dtype, no categories and is not ordered",
            )
            _check(
                kind in (REAL, POSITIVE) or not standardized,
                f"{where}: only a real or positive column has a location and scale",
            )
            columns.append(Column(name, kind, dtype, location=float(location), scale=float(scale)))
            continue
        _check(
            isinstance(categories, list)
            and 2 <= len(categories) <= MAX_CATEGORIES
            and all(_is_column_value(v) for v in categories)
            and len({type(v) for v in categories}) == 1
            and len(set(categories)) == len(categories),
            f"{where}.categories must be 2 to {MAX_CATEGORIES} distinct strings, booleans or "
            "numbers of one type",
        )
        _check(
            (not ordered or dtype == "category") and dtype_kind in "biufOSUc",
            f"{where}: a categorical column's dtype is categorical, and only it is ordered",
        )
        _check(
            not standardized, f"{where}: only a real or positive column has a location and scale"
        )
        columns.append(
            Column(
                name,
                kind,
                dtype,
                tuple(categories),
                ordered,
                categories_dtype=categories_dtype,
            )
        )
    _check(
        any(column.kind != REAL for column in columns),
        "layout.columns must hold a column that is not real (a numeric table has none)",
    )
    return TableColumns(tuple(columns), handle_unknown)


def _check_categories_dtype(categories_dtype, categories, dtype, where):
    """Refuse a ``categories_dtype`` that is no dtype of a category column's categories."""
    import pandas as pd

    _check(
        dtype == "category"
        and isinstance(categories_dtype, str)
        and len(categories_dtype) <= _MAX_DTYPE_NAME,
        f"{where}.categories_dtype must be the dtype name of a category column's categories",
    )
    kind = _dtype_kind(categories_dtype, where, field="categories_dtype")
    _check(kind != "c", f"{where}.categories_dtype must not be 'category'")
    try:
        # A cast that changes a value (1 to "1" in a string dtype) does not hold it either.
        held = pd.Index(categories, dtype=categories_dtype).tolist() == categories
    except (TypeError, ValueError, OverflowError):
        held = False
    _check(held, f"{where}.categories are not of its categories_dtype")


def _dtype_kind(dtype, where, field="dtype"):
    """The kind of the pandas dtype called ``dtype`` (``"c"`` for ``category``), or refused."""
    try:
        import pandas as pd
    except ImportError:
        raise _Refused(
            "this model was fitted on a DataFrame with categorical columns; loading it "
            "needs pandas"
        ) from None
    if dtype == "category":
        return "c"
    try:
        resolved = pd.api.types.pandas_dtype(dtype)
    except (TypeError, ValueError):
        raise _Refused(f"{where}.{field} {dtype!r} is not a dtype") from None
    except Exception as error:
        # pandas' pyarrow dtypes without pyarrow raise ImportError (NameError in
        # pandas 2.0): any failure to build a file's dtype is a refusal.
        message = (
            f"{where}.{field} {dtype!r} needs a library this Python lacks "
            f"({type(error).__name__}: {error})"
        )
        raise _Refused(message) from None
    if isinstance(resolved, (pd.StringDtype, pd.BooleanDtype)):
        return "O" if isinstance(resolved, pd.StringDtype) else "b"
    kind = getattr(resolved, "kind", "")
    _check(kind in "biufOSU", f"{where}.{field} {dtype!r} is not a column type's dtype")
    return kind


def _load_network_parameters(value, context):
    from ._training import NETWORK_PARAMETERS

    _check(
        isinstance(value, dict) and set(value) == set(NETWORK_PARAMETERS),
        f"network_parameters must have exactly the entries {sorted(NETWORK_PARAMETERS)}",
    )
    fitted = {name: _from_json_param(value[name]) for name in NETWORK_PARAMETERS}
    # The estimator's own constraints check them, as for the parameters.
    _validated_estimator(context.estimator_class, {**context.params, **fitted})
    layout = context.fitted["layout"]
    for name in ("likelihood", "noise_scale"):
        _check(
            fitted[name] in ("auto", getattr(layout, name)),
            f"network_parameters.{name} must be 'auto' or equal layout.{name}",
        )
    if _has_version_1_conv_network(context):
        fitted["hidden_layer_sizes"] = ()
    return fitted


def _has_version_1_conv_network(context):
    return context.format_version == 1 and context.fitted["layout"].architecture == "conv"


NETWORK_PARAMETERS = Kind(
    dump=lambda value, arrays: {name: _param_to_json(name, v) for name, v in value.items()},
    load=_load_network_parameters,
)


def _dump_history(history, arrays):
    names = list(history)
    arrays["history.npy"] = np.asarray([history[name] for name in names], dtype="<f8")
    return names


def _load_history(names, context):
    _check(
        isinstance(names, list)
        and all(isinstance(name, str) and _HISTORY_CURVE.fullmatch(name) for name in names)
        and len(set(names)) == len(names)
        and "loss" in names,
        f"history must list distinct curve names, 'loss' among them, got {names!r}",
    )
    curves = context.read_array("history.npy", (len(names), context.n_iter), np.dtype("<f8"))
    # NaN marks epochs that held nothing out; an infinite loss never is kept.
    _check(not np.isinf(curves).any(), "history.npy holds infinite values")
    return {name: [float(v) for v in curve] for name, curve in zip(names, curves, strict=True)}


#: Curve names in the JSON, the values in ``history.npy`` (curves x epochs).
HISTORY = Kind(dump=_dump_history, load=_load_history)


def _mask_kind(member):
    """A boolean vector over the features, kept in ``member``."""

    def dump(mask, arrays):
        arrays[member] = np.asarray(mask, dtype=bool)
        return member

    def load(value, context):
        _check(value == member, f"expected {member!r}, got {value!r}")
        return context.read_array(member, (context.n_features,), np.dtype(bool)).copy()

    return Kind(dump=dump, load=load)


def _dump_indicator(indicator, arrays):
    if indicator is None:
        return None
    mask = np.zeros(indicator.n_features_in_, dtype=bool)
    mask[indicator.features_] = True
    arrays["indicator_features.npy"] = mask
    params = indicator.get_params(deep=False)
    return {"params": {name: _param_to_json(name, v) for name, v in params.items()}}


def _load_indicator(value, context):
    """A fitted ``MissingIndicator``, rebuilt by fitting one row with its saved features."""
    if value is None:
        return None
    from sklearn.impute import MissingIndicator

    expected = set(MissingIndicator().get_params())
    _check(
        isinstance(value, dict)
        and set(value) == {"params"}
        and isinstance(value["params"], dict)
        and set(value["params"]) == expected,
        f"indicator must be null or {{'params': {{...}}}} with the entries {sorted(expected)}",
    )
    params = {name: _from_json_param(v) for name, v in value["params"].items()}
    indicator = _validated_estimator(MissingIndicator, params)
    mask = context.read_array("indicator_features.npy", (context.n_features,), np.dtype(bool))
    missing = indicator.missing_values
    _check(_is_float(missing), "indicator missing_values must be a number")
    row = np.where(mask, missing, 0.0 if np.isnan(missing) else missing + 1.0)[None, :]
    indicator.fit(row)
    _check(
        np.array_equal(indicator.features_, np.flatnonzero(mask)),
        "indicator_features.npy does not match the indicator's parameters",
    )
    return indicator


INDICATOR = Kind(dump=_dump_indicator, load=_load_indicator)


def _dump_network(model, arrays, network):
    for layer_index, layer in enumerate(model.layers):
        for weight_index, weight in enumerate(layer.weights):
            value = np.asarray(weight.numpy())
            # Little-endian whatever the machine, so any machine reads it.
            arrays[_weight_member(network, layer_index, weight_index)] = value.astype(
                value.dtype.newbyteorder("<"), copy=False
            )
    return len(model.weights)


def _network_kind(network):
    def load(value, context):
        model = context.networks[network]
        _check(
            value == len(model.weights),
            f"{network} has {len(model.weights)} weight arrays, the file says {value!r}",
        )
        for layer_index, layer in enumerate(model.layers):
            for weight_index, weight in enumerate(layer.weights):
                member = _weight_member(network, layer_index, weight_index)
                dtype = np.dtype(weight.dtype)
                array = context.read_array(member, tuple(weight.shape), dtype.newbyteorder("<"))
                _check(np.isfinite(array).all(), f"{member} holds NaN or infinite weights")
                weight.assign(array.astype(dtype, copy=False))
        return model

    return Kind(dump=lambda model, arrays: _dump_network(model, arrays, network), load=load)


# ------------------------------------------------- a pipeline's scaler

_STEP_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
_SCALER_ARRAYS = ("mean", "var", "scale")


def _split_pipeline(obj):
    """``(step names, scaler, estimator)`` of what :func:`save` was given.

    The step names and the scaler are None for an estimator alone.

    A ``Pipeline`` of exactly a ``StandardScaler`` and a skvae estimator is
    saved as the estimator with the scaler's fitted numbers; anything else is
    refused.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    classes = _estimator_classes().values()
    if isinstance(obj, Pipeline):
        steps = obj.steps
        if (
            len(steps) == 2
            and type(steps[0][1]) is StandardScaler
            and type(steps[1][1]) in classes
        ):
            return (steps[0][0], steps[1][0]), steps[0][1], steps[1][1]
    elif type(obj) in classes:
        return None, None, obj
    raise TypeError(
        "skvae.save saves a VariationalAutoencoder or a VAEImputer, or a Pipeline of a "
        f"StandardScaler and one of them, not a {_description(obj)}; use joblib for other "
        "objects (other pipelines included)."
    )


def _dump_output(**transformers):
    """``{role: container}`` of the transformers whose ``set_output`` is not the default."""
    output = {}
    for role, transformer in transformers.items():
        config = getattr(transformer, "_sklearn_output_config", {})
        container = config.get("transform", "default")
        if container != "default":
            output[role] = container
    return output


def _load_output(value, **transformers):
    """Set each transformer's ``set_output`` container from the ``output`` entry."""
    roles = {role for role, transformer in transformers.items() if transformer is not None}
    _check(
        isinstance(value, dict) and set(value) <= roles,
        f"output must map some of {sorted(roles)} to a container",
    )
    for role, container in value.items():
        _check(
            container in OUTPUT_CONTAINERS,
            f"output.{role} must be one of {list(OUTPUT_CONTAINERS)}, got {container!r}",
        )
        transformers[role].set_output(transform=container)


def _description(obj):
    from sklearn.pipeline import Pipeline

    if isinstance(obj, Pipeline):
        return f"Pipeline of {', '.join(type(step).__name__ for _, step in obj.steps)}"
    return type(obj).__name__


def _dump_scaler(step_names, scaler, n_features, arrays):
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(scaler)
    if scaler.n_features_in_ != n_features:
        raise ValueError(
            f"the pipeline's StandardScaler was fitted on {scaler.n_features_in_} features "
            f"and its estimator on {n_features}; fit the pipeline again"
        )
    entry = {
        "steps": list(step_names),
        "params": {name: bool(value) for name, value in scaler.get_params().items()},
        "feature_names_in": FEATURE_NAMES.dump(getattr(scaler, "feature_names_in_", None), {}),
    }
    for name in _SCALER_ARRAYS:
        value = getattr(scaler, f"{name}_")
        entry[name] = None if value is None else f"scaler/{name}.npy"
        if value is not None:
            arrays[entry[name]] = np.asarray(value, dtype="<f8")
    seen = scaler.n_samples_seen_
    if np.ndim(seen) == 0:  # a count per feature when the data had NaN
        entry["n_samples_seen"] = int(seen)
    else:
        entry["n_samples_seen"] = "scaler/n_samples_seen.npy"
        arrays[entry["n_samples_seen"]] = np.asarray(seen, dtype="<i8")
    return entry


def _load_scaler(value, context):
    """``(step names, fitted StandardScaler)`` from the ``scaler`` entry."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    keys = {"steps", "params", "feature_names_in", "n_samples_seen", *_SCALER_ARRAYS}
    _check(isinstance(value, dict), "scaler must be an object")
    _check(set(value) == keys, f"scaler: {_difference(value, keys)}")
    steps = value["steps"]
    reserved = set(Pipeline([("a", None)]).get_params(deep=False))
    _check(
        isinstance(steps, list)
        and len(steps) == 2
        and steps[0] != steps[1]
        and all(
            isinstance(step, str)
            and _STEP_NAME.fullmatch(step)
            and "__" not in step
            and step not in reserved
            for step in steps
        ),
        f"scaler.steps must be two distinct step names, got {steps!r}",
    )
    params = value["params"]
    expected = set(StandardScaler().get_params())
    _check(
        isinstance(params, dict)
        and set(params) == expected
        and all(isinstance(v, bool) for v in params.values()),
        f"scaler.params must map {sorted(expected)} to true or false",
    )
    scaler = _validated_estimator(StandardScaler, params)
    n_features = context.n_features
    present = {"mean": params["with_mean"], "var": params["with_std"], "scale": params["with_std"]}
    for name in _SCALER_ARRAYS:
        member = f"scaler/{name}.npy"
        if not present[name]:
            _check(value[name] is None, f"scaler.{name} must be null")
            setattr(scaler, f"{name}_", None)
            continue
        _check(value[name] == member, f"scaler.{name} must be {member!r}")
        array = context.read_array(member, (n_features,), np.dtype("<f8")).astype(np.float64)
        _check(np.isfinite(array).all(), f"{member} holds NaN or infinite values")
        _check(name == "mean" or (array >= 0).all(), f"{member} holds negative values")
        _check(name != "scale" or (array > 0).all(), f"{member} holds non-positive values")
        setattr(scaler, f"{name}_", array)
    seen = value["n_samples_seen"]
    if seen == "scaler/n_samples_seen.npy":
        counts = context.read_array(seen, (n_features,), np.dtype("<i8")).astype(np.int64)
        _check((counts >= 0).all(), f"{seen} holds negative counts")
        scaler.n_samples_seen_ = counts
    else:
        _check(
            _is_int(seen) and seen >= 1,
            f"scaler.n_samples_seen must be a positive integer or {seen!r}, got {seen!r}",
        )
        scaler.n_samples_seen_ = seen
    scaler.n_features_in_ = n_features
    names = _load_feature_names(value["feature_names_in"], context)
    if names is not None:
        scaler.feature_names_in_ = names
    return steps, scaler


#: How each entry of the fitted state (``_fitted_state``) is written and
#: read, by its key. The networks are rebuilt just before the first network
#: entry is read (see :func:`rebuild_networks`).
KINDS = {
    "n_features_in": _int_kind("n_features_in", 1),
    "feature_names_in": FEATURE_NAMES,
    "layout": LAYOUT,
    "network_parameters": NETWORK_PARAMETERS,
    "inference_seed": _int_kind("inference_seed", 0, 2**31 - 1),
    "n_iter": _int_kind("n_iter", 1),
    "history": HISTORY,
    "decoder_variance": DECODER_VARIANCE,
    "decoder_df": DECODER_DF,
    "noise_floor": NOISE_FLOOR,
    "encoder": _network_kind("encoder"),
    "decoder": _network_kind("decoder"),
    "missing_values": MISSING_VALUES,
    "keep_empty_features": BOOLEAN,
    "empty_features": _mask_kind("empty_features.npy"),
    "indicator": INDICATOR,
}


def _estimator_classes():
    # A fixed table: the file names one of these, never a class to import.
    from ._estimator import VariationalAutoencoder
    from ._imputer import VAEImputer

    return {"VariationalAutoencoder": VariationalAutoencoder, "VAEImputer": VAEImputer}


# ------------------------------------------------------------ the networks


def rebuild_networks(layout, structure):
    """New encoder and decoder of ``structure`` for a fitted layout.

    The builders that training uses (``_training.build_networks``), with a
    fixed seed (the weights are assigned afterwards) and no trainer: a
    continued fit compiles one, as for an unpickled estimator.

    Returns:
        ``{"encoder": keras.Model, "decoder": keras.Model}``.
    """
    from ._training import build_networks

    encoder, decoder = build_networks(layout, structure, seed=0)
    return {"encoder": encoder, "decoder": decoder}


def _auto_hidden_layer_sizes(layout, estimator_class, format_version):
    """What ``hidden_layer_sizes="auto"`` meant to the skvae that wrote ``format_version``."""
    from ._layout import auto_hidden_layer_sizes

    return auto_hidden_layer_sizes(
        layout,
        estimator_class._auto_hidden_layer_sizes,
        widens=estimator_class._widens_auto_layers and format_version >= WIDE_AUTO_LAYERS_VERSION,
    )


def _needs_wide_auto_layers(estimator):
    """Whether the fitted ``estimator``'s "auto" layers differ from those before version 4."""
    if estimator._network_parameters["hidden_layer_sizes"] != "auto":
        return False
    layout, cls = estimator._layout, type(estimator)
    return _auto_hidden_layer_sizes(layout, cls, FORMAT_VERSION) != _auto_hidden_layer_sizes(
        layout, cls, WIDE_AUTO_LAYERS_VERSION - 1
    )


def _network_structure(layout, network_parameters, estimator_class, format_version):
    from ._layout import network_structure
    from ._model import NetworkStructure

    names = NetworkStructure.parameter_names()
    try:
        return network_structure(
            layout,
            auto_hidden_layer_sizes=_auto_hidden_layer_sizes(
                layout, estimator_class, format_version
            ),
            **{name: network_parameters[name] for name in names},
        )
    except ValueError as error:
        raise _Refused(f"network_parameters: {error}") from None


def _weight_count_lower_bound(layout, structure):
    """At most the number of weights the networks for ``structure`` have.

    Counted before building them, so that a small file cannot make load build
    (and allocate) networks far larger than the weights it holds: the
    encoder's conv kernels and dense matrices up to ``mu`` alone (biases,
    ``log_var`` and the decoder, which mirrors the encoder, are left out, so
    it never overestimates).
    """
    from ._model import encoded_spatial_shape

    latent_dim = structure.latent_dim
    if structure.architecture == "conv":
        height, width, channels = layout.image_shape
        widths = [channels, *structure.conv_filters]
        kernels = structure.conv_kernels
        pairs = zip(kernels, widths[:-1], widths[1:], strict=True)
        count = sum(k * k * a * b for k, a, b in pairs)
        encoded = encoded_spatial_shape(height, width, structure.conv_strides)
        flat = math.prod(encoded) * widths[-1]
    else:
        count, flat = 0, layout.n_features
    widths = [flat, *structure.hidden_layer_sizes, latent_dim]
    return count + sum(a * b for a, b in itertools.pairwise(widths))


# ------------------------------------------------------------- parameters


def _param_to_json(name, value):
    """A parameter value as plain JSON data (tuples as lists)."""
    if isinstance(value, np.random.RandomState):
        raise AssertionError("handled by _dump_params")  # pragma: no cover
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)):
        return [_param_to_json(name, item) for item in value]
    raise TypeError(
        f"cannot save parameter {name}={value!r}: a model file holds numbers, strings, "
        "booleans, None and tuples of them; set it to one of those first."
    )


def _from_json_param(value):
    return tuple(_from_json_param(item) for item in value) if isinstance(value, list) else value


def _dump_params(estimator, arrays):
    params = estimator.get_params(deep=False)
    # A tf.distribute strategy belongs to the process that trained, as in pickling.
    params.pop("distribute_strategy")
    random_state = params.pop("random_state")
    if isinstance(random_state, np.random.RandomState):
        algorithm, keys, position, has_gauss, cached_gaussian = random_state.get_state()
        arrays["random_state.npy"] = np.asarray(keys, dtype="<u4")
        random_state = {
            algorithm: {
                "pos": int(position),
                "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached_gaussian),
            }
        }
    else:
        random_state = _param_to_json("random_state", random_state)
    column_types = params.pop("column_types")
    if column_types is not None:
        column_types = [
            [_column_value_to_json(key, "the column_types key"), _param_to_json(key, kind)]
            for key, kind in column_types.items()
        ]
    params["column_types"] = column_types
    return {
        **{name: _param_to_json(name, value) for name, value in params.items()},
        "random_state": random_state,
    }


#: Parameters newer than some format-1 files, with the value that trains a
#: continued or repeated fit of such a file's estimator as it was trained.
ADDED_PARAMETERS = {
    "learning_rate_schedule": "constant",
    "column_types": None,
    "handle_unknown": "error",
    "categorical_weight": 1.0,
}


def _load_params(value, estimator_class, read_array):
    expected = set(estimator_class().get_params(deep=False)) - {"distribute_strategy"}
    _check(isinstance(value, dict), "params must be an object")
    value = {**{name: v for name, v in ADDED_PARAMETERS.items() if name not in value}, **value}
    _check(
        set(value) == expected,
        f"params must have exactly {estimator_class.__name__}'s parameters; "
        f"{_difference(value, expected)}",
    )
    column_types = value.pop("column_types")
    params = {name: _from_json_param(item) for name, item in value.items()}
    params["column_types"] = _load_column_types(column_types)
    random_state = params["random_state"]
    if isinstance(random_state, dict):
        state = random_state.get("MT19937")
        _check(
            set(random_state) == {"MT19937"}
            and isinstance(state, dict)
            and set(state) == {"pos", "has_gauss", "cached_gaussian"}
            and _is_int(state["pos"])
            and 0 <= state["pos"] <= 624
            and state["has_gauss"] in (0, 1)
            and _is_float(state["cached_gaussian"]),
            "params.random_state must be an integer, null or {'MT19937': {'pos', "
            "'has_gauss', 'cached_gaussian'}}",
        )
        keys = read_array("random_state.npy", (624,), np.dtype("<u4"))
        generator = np.random.RandomState()
        generator.set_state(
            ("MT19937", keys, state["pos"], state["has_gauss"], state["cached_gaussian"])
        )
        params["random_state"] = generator
    return params


def _load_column_types(value):
    from ._columns import COLUMN_TYPES

    if value is None:
        return None
    _check(
        isinstance(value, list)
        and all(
            isinstance(pair, list)
            and len(pair) == 2
            and _is_column_value(pair[0])
            and pair[1] in COLUMN_TYPES
            for pair in value
        )
        and len({pair[0] for pair in value}) == len(value),
        f"params.column_types must be null or distinct [column, type] pairs, each type one "
        f"of {list(COLUMN_TYPES)}",
    )
    return {key: kind for key, kind in value}


def _validated_estimator(estimator_class, params):
    """``estimator_class(**params)``, refused unless its own parameter validation passes."""
    estimator = estimator_class(**params)
    try:
        estimator._validate_params()
    except (ValueError, TypeError) as error:  # scikit-learn's InvalidParameterError is both
        raise _Refused(" ".join(str(error).split())) from None
    return estimator


def _difference(found, expected):
    extra, missing = sorted(set(found) - set(expected)), sorted(set(expected) - set(found))
    return f"unexpected {extra}, missing {missing}"


# ------------------------------------------------------------ plain JSON


def _plain(value, where, depth=0):
    """``value`` if it is plain JSON data within the limits; refused otherwise."""
    _check(depth <= MAX_JSON_DEPTH, f"{where}: nested more than {MAX_JSON_DEPTH} deep")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        _check(len(value) <= MAX_JSON_STRING_LENGTH, f"{where}: a string is too long")
        return value
    if isinstance(value, list):
        for item in value:
            _plain(item, where, depth + 1)
        return value
    if isinstance(value, dict):
        for key, item in value.items():
            _plain(key, where, depth + 1)
            _plain(item, f"{where}.{key}", depth + 1)
        return value
    raise _Refused(f"{where}: {type(value).__name__} is not plain JSON data")


def _no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    _check(len(set(keys)) == len(keys), f"{METADATA_MEMBER} repeats a key")
    return dict(pairs)


def _parse_metadata(data):
    try:
        text = data.decode("utf-8")
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except RecursionError:
        raise _Refused(f"{METADATA_MEMBER} is nested too deeply") from None
    except _Refused:
        raise
    except ValueError as error:  # json.JSONDecodeError, UnicodeDecodeError, huge ints
        raise _Refused(f"{METADATA_MEMBER} is not valid JSON ({error})") from None
    _plain(document, METADATA_MEMBER)
    _check(isinstance(document, dict), f"{METADATA_MEMBER} must hold a JSON object")
    return document


# ----------------------------------------------------------------- saving


def save(estimator, file: str | os.PathLike | BinaryIO) -> None:
    """Save a fitted skvae estimator to a model file that loads without pickle.

    The file holds data only: the parameters and fitted scalars as JSON and
    the weights and fitted arrays as ``.npy`` arrays, in a zip archive (see
    "Saving models" in the user guide). :func:`load` rebuilds the estimator
    from it. ``distribute_strategy`` is not saved (it loads as None), nor is
    the optimiser state: a continued fit after loading starts Adam afresh.

    Parameters
    ----------
    estimator : VariationalAutoencoder, VAEImputer or Pipeline
        A fitted estimator, or a fitted ``Pipeline`` of a ``StandardScaler``
        and one (``make_pipeline(StandardScaler(), VAEImputer())``, say):
        the scaler's fitted numbers are saved with it, as data too. The
        pipeline's own settings (``memory``, ``verbose``) are not saved.

    file : str, path-like or binary file object
        Where to write; a path is conventionally named ``*.skvae``.

    Raises
    ------
    TypeError
        If ``estimator`` is not a skvae estimator (or such a pipeline), or a
        parameter holds something other than plain data.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.

    See Also
    --------
    load : Read the file back.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> import skvae
    >>> X = np.random.default_rng(0).random((30, 3))
    >>> vae = skvae.VariationalAutoencoder(epochs=1, random_state=0).fit(X)
    >>> buffer = io.BytesIO()
    >>> skvae.save(vae, buffer)
    >>> loaded = skvae.load(io.BytesIO(buffer.getvalue()))
    >>> bool(np.array_equal(loaded.transform(X), vae.transform(X)))
    True
    """
    from sklearn.utils.validation import check_is_fitted

    step_names, scaler, estimator = _split_pipeline(estimator)
    name = type(estimator).__name__
    check_is_fitted(estimator)
    arrays = {}
    params = _dump_params(estimator, arrays)
    fitted = {}
    for key, value in fitted_values(estimator).items():
        fitted[key] = None if value is None else KINDS[key].dump(value, arrays)
    from . import __version__

    document = {
        "format": FORMAT_NAME,
        "format_version": ESTIMATOR_FORMAT_VERSION,
        "skvae_version": __version__,
        "estimator": name,
        "params": params,
        "fitted": fitted,
    }
    if _needs_wide_auto_layers(estimator):
        document["format_version"] = WIDE_AUTO_LAYERS_VERSION
    if estimator._layout.columns is not None:
        document["format_version"] = STANDARDIZED_COLUMNS_VERSION
    if scaler is not None:
        document["format_version"] = max(document["format_version"], SCALER_VERSION)
        document["scaler"] = _dump_scaler(step_names, scaler, estimator.n_features_in_, arrays)
    if estimator._layout.columns is not None and any(
        column.categories_dtype for column in estimator._layout.columns.columns
    ):
        document["format_version"] = max(document["format_version"], CATEGORIES_DTYPE_VERSION)
    output = _dump_output(estimator=estimator, scaler=scaler)
    if output:
        document["format_version"] = max(document["format_version"], OUTPUT_VERSION)
        document["output"] = output
    members = {member: _npy_bytes(array) for member, array in arrays.items()}
    checksums = {member: _sha256(content) for member, content in members.items()}
    checksums[METADATA_MEMBER] = _metadata_checksum(document)
    document["checksums"] = checksums
    metadata = json.dumps(document, indent=1, sort_keys=True).encode("utf-8")
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as stream:
            _write_archive(stream, metadata, members)
    else:
        _write_archive(file, metadata, members)


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _sha256(content):
    return hashlib.sha256(content).hexdigest()


def _metadata_checksum(document):
    """SHA-256 of the document without its checksums, in a canonical JSON form."""
    content = {key: value for key, value in document.items() if key != "checksums"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _sha256(canonical.encode("ascii"))


def _write_archive(stream, metadata, members):
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:
        _write_member(archive, METADATA_MEMBER, metadata)
        for member, content in members.items():
            _write_member(archive, member, content)


def _write_member(archive, name, data):
    # A fixed date and mode: the same model gives the same bytes.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    archive.writestr(info, data, compress_type=zipfile.ZIP_STORED)


# ---------------------------------------------------------------- loading


def load(file: str | os.PathLike | BinaryIO):
    """Load an estimator saved by :func:`save`, without unpickling anything.

    The file is read as data and checked before it is used: the archive's
    members and sizes, the JSON's types and the parameters (with the
    estimator's own validation), then the weights' shapes, dtypes and values
    against networks rebuilt by skvae from the saved parameters. Nothing
    read from the file is imported, called or unpickled, so a file from an
    untrusted source can be loaded (unlike a pickle or joblib file).

    Parameters
    ----------
    file : str, path-like or binary file object
        A file written by :func:`save`.

    Returns
    -------
    estimator : VariationalAutoencoder, VAEImputer or Pipeline
        The fitted estimator, with ``distribute_strategy=None``; a
        ``Pipeline`` of its ``StandardScaler`` and it when one was saved.

    Raises
    ------
    ValueError
        If the file is not a valid skvae model file: not a zip archive (a
        pickle or joblib file is named as one, and never unpickled),
        truncated or corrupted, of a newer format version, with missing,
        extra or oversized members, arrays of the wrong shape or dtype,
        non-finite weights, or parameters outside their constraints. The
        message names the problem.

    See Also
    --------
    save : Write the file.

    Examples
    --------
    >>> import io
    >>> import skvae
    >>> try:
    ...     skvae.load(io.BytesIO(b"not a model"))
    ... except ValueError as error:
    ...     print(error)
    cannot load a model from the file object: not a zip archive (no zip header at its start)
    """
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as stream:
            return _load_from(stream, repr(os.fspath(file)))
    if not hasattr(file, "read"):
        raise TypeError(f"file must be a path or a binary file object, got {type(file).__name__}")
    name = getattr(file, "name", None)
    description = repr(name) if isinstance(name, str) else "the file object"
    if not (hasattr(file, "seekable") and file.seekable()):
        file = io.BytesIO(file.read())  # a zip archive is read from its end
    return _load_from(file, description)


def _load_from(stream, description):
    try:
        with _open_archive(stream) as archive:
            return _ArchiveReader(archive).estimator()
    except _Refused as error:
        raise ValueError(f"cannot load a model from {description}: {error}") from None


# Errors that a damaged zip archive raises from zipfile and its decompressors.
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    struct.error,
    zlib.error,
    NotImplementedError,  # an unknown compression or zip version
    RuntimeError,  # an encrypted member
    OverflowError,
    ValueError,  # e.g. a negative seek from a corrupted offset
)


class _open_archive:  # a context manager, named as the function it stands for
    """The zip archive in ``stream``, its members checked before any is read."""

    def __init__(self, stream):
        stream.seek(0, os.SEEK_END)
        self._size = stream.tell()
        stream.seek(0)
        start = stream.read(len(ZIP_MAGIC))
        stream.seek(0)
        # zipfile finds an archive by its end, so without this a pickle that
        # ends with a zip (a joblib file of an estimator holds .keras
        # archives) would be read as the archive inside it.
        if is_pickle(start):
            raise _Refused(
                "not a zip archive but a pickle (a joblib or pickle file), which skvae.load "
                "never unpickles; unpickle it (joblib.load) only if you trust its source"
            )
        _check(
            len(start) < len(ZIP_MAGIC) or start == ZIP_MAGIC,
            "not a zip archive (no zip header at its start)",
        )
        try:
            self._archive = zipfile.ZipFile(stream)
        except _ARCHIVE_ERRORS as error:
            raise _Refused(f"not a zip archive ({error})") from None
        try:
            self._check_members()
        except BaseException:
            self._archive.close()
            raise

    def _check_members(self):
        infos = self._archive.infolist()
        _check(len(infos) <= MAX_MEMBERS, f"more than {MAX_MEMBERS} members")
        names = [info.filename for info in infos]
        _check(len(set(names)) == len(names), "a member name occurs twice")
        for info in infos:
            name = info.filename
            _check(
                not (name.startswith(("/", "\\")) or ".." in name.split("/") or "\\" in name)
                and ":" not in name,
                f"member name {name!r} points outside the archive (path traversal)",
            )
            _check(
                len(name) <= MAX_MEMBER_NAME_LENGTH and _MEMBER_NAME.fullmatch(name),
                f"unexpected member {name!r}",
            )
            _check(not info.flag_bits & 0x1, f"member {name!r} is encrypted")
            # Stored members only: a member can then hold no more bytes than
            # the archive, so no zip bomb can expand.
            _check(
                info.compress_type == zipfile.ZIP_STORED and info.compress_size == info.file_size,
                f"member {name!r} is compressed; model files store their members",
            )
            _check(
                info.header_offset + info.compress_size <= self._size,
                f"member {name!r} declares {info.file_size} bytes, beyond the end of the file",
            )
        _check(
            sum(info.compress_size for info in infos) <= self._size,
            "members declare more bytes than the file holds (overlapping members)",
        )

    def __enter__(self):
        return self._archive

    def __exit__(self, *exc_info):
        self._archive.close()


@dataclasses.dataclass
class _LoadContext:
    """What the fitted kinds read while loading (see :class:`Kind`)."""

    estimator_class: type
    params: dict
    read_array: Callable
    format_version: int
    fitted: dict = dataclasses.field(default_factory=dict)
    networks: dict = dataclasses.field(default_factory=dict)

    @property
    def n_features(self):
        return self.fitted["n_features_in"]

    @property
    def n_iter(self):
        return self.fitted["n_iter"]

    @property
    def likelihood(self):
        return self.fitted["layout"].likelihood

    @property
    def family(self):
        return self.fitted["layout"].family


class _ArchiveReader:
    """Reads one checked archive into an estimator; every read member is recorded."""

    def __init__(self, archive):
        self._archive = archive
        self._infos = {info.filename: info for info in archive.infolist()}
        self._read = set()
        self._checksums = {}

    def _read_member(self, name, limit):
        """The bytes of member ``name``, refused if it holds more than ``limit``."""
        info = self._infos.get(name)
        _check(info is not None, f"member {name!r} is missing")
        _check(info.file_size <= limit, f"member {name!r} declares {info.file_size} bytes")
        self._read.add(name)
        try:
            with self._archive.open(info) as member:
                return member.read(limit + 1)  # the cap holds whatever the headers say
        except _ARCHIVE_ERRORS as error:
            raise _Refused(f"member {name!r} is corrupted ({error})") from None

    def read_array(self, name, shape, dtype):
        """The array in ``.npy`` member ``name``, which must have this shape and dtype."""
        nbytes = math.prod(shape) * dtype.itemsize
        data = self._read_member(name, nbytes + MAX_NPY_HEADER_BYTES)
        stream = io.BytesIO(data)
        try:
            version = np.lib.format.read_magic(stream)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }[version]
            found_shape, fortran_order, found_dtype = read_header(
                stream, max_header_size=MAX_NPY_HEADER_BYTES
            )
        except (ValueError, KeyError, SyntaxError, RecursionError, TypeError, EOFError) as error:
            raise _Refused(f"member {name!r} is not a .npy array ({error})") from None
        _check(
            found_dtype == dtype and found_shape == shape and not fortran_order,
            f"member {name!r} holds a {found_shape} array of {found_dtype.str}"
            f"{' (Fortran order)' if fortran_order else ''}; expected {shape} of {dtype.str}",
        )
        _check(
            len(data) - stream.tell() == nbytes,
            f"member {name!r} holds {len(data) - stream.tell()} bytes of data, expected {nbytes}",
        )
        if dtype == np.dtype(bool):
            # Any byte but 0 or 1 is not a numpy boolean.
            raw = np.frombuffer(data, np.uint8, offset=stream.tell())
            _check(bool((raw <= 1).all()), f"member {name!r} holds bytes that are not booleans")
        # Damage, not malice: whoever can edit a member can also edit its checksum.
        _check(
            self._checksums.get(name) == _sha256(data),
            f"member {name!r} does not match its checksum (the file is damaged)",
        )
        return np.frombuffer(data, dtype, offset=stream.tell()).reshape(shape)

    def estimator(self):
        from ._backends import backend

        document = _parse_metadata(self._read_member(METADATA_MEMBER, MAX_METADATA_BYTES))
        _check(
            document.get("format") == FORMAT_NAME,
            f"{METADATA_MEMBER} does not say format {FORMAT_NAME!r}",
        )
        version = document.get("format_version")
        _check(_is_int(version) and version >= 1, f"format_version {version!r} is not valid")
        _check(
            version <= FORMAT_VERSION,
            f"it has format version {version}, newer than the version {FORMAT_VERSION} this "
            "skvae reads; upgrade skvae to load it",
        )
        top = {"format", "format_version", "skvae_version", "estimator", "params", "fitted"}
        top.add("checksums")
        if version >= SCALER_VERSION and "scaler" in document:
            top.add("scaler")
        if version >= OUTPUT_VERSION and "output" in document:
            top.add("output")
        _check(set(document) == top, f"{METADATA_MEMBER}: {_difference(document, top)}")
        checksums = document["checksums"]
        _check(
            isinstance(checksums, dict)
            and all(
                isinstance(value, str) and re.fullmatch("[0-9a-f]{64}", value)
                for value in checksums.values()
            ),
            "checksums must map member names to SHA-256 hex digests",
        )
        self._checksums = checksums
        name = document["estimator"]
        classes = _estimator_classes()
        _check(
            isinstance(name, str) and name in classes,
            f"estimator {name!r} is not one of {sorted(classes)}",
        )
        estimator_class = classes[name]
        params = _load_params(document["params"], estimator_class, self.read_array)
        estimator = _validated_estimator(estimator_class, params)

        fitted_json = document["fitted"]
        entries = FITTED_STATE[name]
        keys = {entry.key for entry in entries}
        _check(
            isinstance(fitted_json, dict) and set(fitted_json) == keys,
            f"fitted: {_difference(fitted_json if isinstance(fitted_json, dict) else {}, keys)}",
        )
        context = _LoadContext(estimator_class, params, self.read_array, version)
        backend.allow_gpu_memory_growth()
        for entry in entries:
            if entry.network and not context.networks:
                context.networks = self._rebuilt_networks(context)
            value = fitted_json[entry.key]
            if value is None and entry.optional:
                continue
            context.fitted[entry.key] = KINDS[entry.key].load(value, context)
            setattr(estimator, entry.attribute, context.fitted[entry.key])
        if _has_version_1_conv_network(context):
            # So that a repeated fit builds the network the file was trained with.
            estimator.hidden_layer_sizes = ()
        scaled = None
        scaler = None
        if "scaler" in document:
            step_names, scaler = _load_scaler(document["scaler"], context)
            scaled = list(zip(step_names, (scaler, estimator), strict=True))
        _load_output(document.get("output", {}), estimator=estimator, scaler=scaler)
        unread = sorted(set(self._infos) - self._read)
        _check(not unread, f"unexpected members {unread}")
        _check(set(checksums) == self._read, "checksums do not list exactly the members")
        # Last, so that the checks above also meet whatever a damaged file holds.
        _check(
            checksums[METADATA_MEMBER] == _metadata_checksum(document),
            f"{METADATA_MEMBER} does not match its checksum (the file is damaged)",
        )
        # As after unpickling: compiled functions are traced anew, and the
        # trainer (with the optimiser state) comes with the next continued fit.
        estimator._compiled = estimator._compile_inference()
        if scaled is not None:
            from sklearn.pipeline import Pipeline

            return Pipeline(scaled)
        return estimator

    def _rebuilt_networks(self, context):
        layout = context.fitted["layout"]
        structure = _network_structure(
            layout,
            context.fitted["network_parameters"],
            context.estimator_class,
            context.format_version,
        )
        # Weights are stored, so the members bound how large the networks can be.
        weight_bytes = sum(
            info.file_size for name, info in self._infos.items() if _WEIGHT_MEMBER.fullmatch(name)
        )
        import keras

        itemsize = np.dtype(keras.config.floatx()).itemsize
        _check(
            _weight_count_lower_bound(layout, structure) * itemsize <= weight_bytes,
            "the network parameters describe networks larger than the weights the file holds",
        )
        return rebuild_networks(layout, structure)
