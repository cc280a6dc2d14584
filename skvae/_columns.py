"""Mixed tables: each column's type, and a DataFrame to and from the network's features.

A pandas DataFrame with a non-numeric column (or a ``column_types``
parameter that names a column that is not real) is a *mixed table*. Its
columns are typed once, at the first ``fit``:

- a column of dtype ``category``, ``object``, ``string``, ``bool`` or
  ``boolean`` is **categorical**; its categories are the dtype's own for
  ``category`` (in their order, unobserved ones included), ``False, True``
  for booleans, and the sorted distinct values otherwise;
- an ordered ``category`` column is **ordinal**: its categories in their
  order, modelled by cumulative logits;
- a column of integer or float dtype is **real**, as in a numeric table:
  integers are never taken for counts or categories unless
  ``column_types`` says so;
- ``column_types`` (a dict from a column's name, or its integer position
  where ``X`` has no column of that name, to ``"real"``, ``"positive"``,
  ``"count"``, ``"categorical"`` or ``"ordinal"``) overrides the inferred
  type. A
  **positive** column (never inferred) holds values above 0, modelled on
  the log scale; a **count** column (never inferred) non-negative
  integers, modelled as Poisson.

The network sees the real columns first, in their order, then the positive
columns' logarithms, each standardized by its mean and standard deviation at
fit (so that columns in different units weigh alike), the count columns,
and each categorical, then each ordinal column's categories one-hot, in
column order; a missing entry (NaN, None, ``pd.NA``)
is NaN in each of its features. Decoding reverses this: the decoder's means
become the real columns, ``exp`` of the positive columns' locations, the
count columns' rates and each categorical or ordinal column's most probable
category, in a DataFrame with the fitted column order, names, dtypes and
categories. A number of an integer dtype is rounded to the nearest integer
the dtype holds (at least 1 in a positive column): a sample never wraps
around an unsigned dtype.

A DataFrame whose columns are all real (and every non-DataFrame) is not a
mixed table: it takes the numeric path, unchanged. pandas is imported only
when ``X`` is a DataFrame, so skvae still needs no pandas.
"""

import dataclasses

import numpy as np

from ._likelihoods import Categorical, MixedLikelihood, Ordinal, Poisson, Standardized

REAL, POSITIVE, COUNT = "real", "positive", "count"
CATEGORICAL, ORDINAL = "categorical", "ordinal"
#: The column types, in the order of their features in the network.
COLUMN_TYPES = (REAL, POSITIVE, COUNT, CATEGORICAL, ORDINAL)
#: The types whose column is one network feature holding its number.
NUMERIC_TYPES = (REAL, POSITIVE, COUNT)
#: The types whose column is one feature per category, one-hot.
CATEGORY_TYPES = (CATEGORICAL, ORDINAL)

#: Most categories a categorical column may have: beyond this a column is
#: more likely an identifier or free text than a category, and its one-hot
#: features would dominate the network.
MAX_CATEGORIES = 256

_CATEGORICAL_DTYPE_KINDS = "bOSU"

#: What a category unseen at fit can be read as (the ``handle_unknown``
#: parameter): an error naming column and value, or a missing entry.
HANDLE_UNKNOWN = ("error", "ignore")


@dataclasses.dataclass(frozen=True)
class Column:
    """One fitted column.

    Attributes:
        name: Its label in the training DataFrame.
        kind: One of :data:`COLUMN_TYPES`.
        dtype: Its pandas dtype's name at fit (``"category"`` for a categorical dtype).
        categories: The categories (plain Python values), or None for a real column.
        ordered: Whether its ``category`` dtype was ordered.
        categories_dtype: A ``category`` dtype's categories' dtype name, where
            pandas would not infer it from the values (``int32`` categories,
            ``object`` ones where it infers strings); else None.
        location, scale: For a real (positive) column, the mean and standard
            deviation of its (log) values at fit: the network reads
            ``(x - location) / scale`` (of ``log x``). 0 and 1 otherwise,
            and for a constant column's scale.
    """

    name: object
    kind: str
    dtype: str
    categories: tuple | None = None
    ordered: bool = False
    location: float = 0.0
    scale: float = 1.0
    categories_dtype: str | None = None

    @property
    def width(self):
        """How many network features the column takes."""
        return 1 if self.kind in NUMERIC_TYPES else len(self.categories)


@dataclasses.dataclass(frozen=True)
class TableColumns:
    """The fitted columns of a mixed table, in the training DataFrame's order.

    Attributes:
        columns: The :class:`Column` of each column.
        handle_unknown: How :meth:`encode` reads a category not seen at fit
            (one of :data:`HANDLE_UNKNOWN`), fixed at fit like the columns.
    """

    columns: tuple
    handle_unknown: str = "error"

    @property
    def real(self):
        return [column for column in self.columns if column.kind == REAL]

    @property
    def positive(self):
        return [column for column in self.columns if column.kind == POSITIVE]

    @property
    def count(self):
        return [column for column in self.columns if column.kind == COUNT]

    @property
    def categorical(self):
        """The categorical and ordinal columns, in network order."""
        return [column for _, column in self.of_kind(*CATEGORY_TYPES)]

    @property
    def n_features(self):
        """The network's features: one per numeric column, one per category."""
        return sum(column.width for column in self.columns)

    @property
    def n_numeric(self):
        """The numeric (real, positive, count) columns: the network's first features."""
        return sum(column.kind in NUMERIC_TYPES for column in self.columns)

    def keep_observed(self, completed, X):
        """Decoded ``completed`` with ``X``'s dtypes and its observed numbers.

        Standardizing and back (and ``exp(log x)``) may change ``x`` in its
        last bits; an imputer returns observed entries unchanged. And each
        column takes its input's dtype, which may differ from the fitted
        one: pandas holds no NaN in an ``int64`` column, so rows to impute
        often come as floats where the fitted column was integers (the
        imputed entries are then the nearest integers where the input's
        dtype is an integer one), and a categorical column may come as
        strings, or in another ``category`` dtype.
        """
        import pandas as pd

        for position, column in enumerate(self.columns):
            original = X.iloc[:, position]
            decoded = completed.iloc[:, position]
            if column.kind in NUMERIC_TYPES:
                values = _numbers_as(original, decoded, column)
            elif decoded.dtype != original.dtype:
                values = _categories_as(original, decoded, pd)
            else:
                continue
            completed.isetitem(position, values.set_axis(completed.index))
        return completed

    def family(self, real_family):
        """The columns' :class:`~skvae._likelihoods.MixedLikelihood`, ``real_family`` for reals."""
        parts, start = [], 0
        for family, n in (
            (_standardized(real_family, self.real), len(self.real)),
            (_standardized(real_family, self.positive, log=True), len(self.positive)),
            (_POISSON, len(self.count)),
        ):
            if n:
                parts.append((start, start + n, family))
            start += n
        for column in self.categorical:
            family = _ORDINAL if column.kind == ORDINAL else _CATEGORICAL
            parts.append((start, start + column.width, family))
            start += column.width
        return MixedLikelihood(parts)

    def encode(self, X, *, allow_missing, name="X"):
        """The network's float64 features of DataFrame ``X``, NaN where an entry is missing.

        A category not seen at fit is, with ``handle_unknown="ignore"``, a
        missing entry of its column: NaN features where ``allow_missing``
        (the imputer fills it), else all zeros, how the encoder reads a
        missing category (its one-hot has no 1, so the column adds nothing
        to a log-likelihood).

        Raises:
            ValueError: If ``X`` is not a DataFrame, a real column is not
                numeric, a category was not seen at fit (naming column and
                value) and ``handle_unknown`` is ``"error"``, or an entry is
                missing and ``allow_missing`` is False.
        """
        pd = self.pandas_of_frame(X, name)
        # scikit-learn checks string names only; the columns are read by position.
        fitted_names = [column.name for column in self.columns]
        if list(X.columns) != fitted_names:
            raise ValueError(
                f"{name} has the columns {list(X.columns)}, but this estimator was fitted "
                f"on {fitted_names}; pass those columns, in that order."
            )
        features = np.empty((len(X), self.n_features), dtype=np.float64)
        for j, (position, column) in enumerate(self.of_kind(*NUMERIC_TYPES)):
            values = _real_values(X.iloc[:, position], column, pd, name)
            features[:, j] = (values - column.location) / column.scale
        start = self.n_numeric
        for position, column in self.of_kind(*CATEGORY_TYPES):
            series = X.iloc[:, position]
            codes = _category_codes(series, column, pd, name, self.handle_unknown)
            block = np.zeros((len(X), column.width))
            observed = codes >= 0
            block[np.flatnonzero(observed), codes[observed]] = 1.0
            block[codes == _MISSING] = np.nan
            if allow_missing:
                block[codes == _UNKNOWN] = np.nan
            features[:, start : start + column.width] = block
            start += column.width
        if not allow_missing and np.isnan(features).any():
            missing = [
                str(column.name)
                for position, column in enumerate(self.columns)
                if X.iloc[:, position].isna().any()
            ]
            raise ValueError(
                f"{name} has missing entries (in columns {', '.join(missing)}); this "
                "estimator needs complete rows. VAEImputer fills missing entries."
            )
        return features

    @staticmethod
    def pandas_of_frame(X, name="X"):
        """The pandas module, if ``X`` is a DataFrame.

        Raises:
            ValueError: If it is not.
        """
        pd = _pandas_of(X)
        if pd is None:
            raise ValueError(
                f"This estimator was fitted on a DataFrame with categorical columns; "
                f"{name} must be a DataFrame with the same columns, got {type(X).__name__}."
            )
        return pd

    def decode(self, means):
        """A DataFrame of the fitted columns from the network's means (real values, probabilities).

        A categorical column gets its most probable category.
        """
        import pandas as pd

        means = np.asarray(means)
        values, start = {}, self.n_numeric
        for j, (position, column) in enumerate(self.of_kind(*NUMERIC_TYPES)):
            dtype = pd.api.types.pandas_dtype(column.dtype)
            # A count column's feature is its rate (location 0, scale 1).
            number = means[:, j].astype(np.float64) * column.scale + column.location
            if column.kind == POSITIVE:
                # The network's feature is log x: its location decodes to the median.
                number = np.exp(number)
            values[position] = _numbers_in(dtype, number, column.kind)
        for position, column in self.of_kind(*CATEGORY_TYPES):
            codes = np.argmax(means[:, start : start + column.width], axis=1)
            values[position] = _from_codes(codes, column, pd)
            start += column.width
        # By position, so that a DataFrame with repeated column names comes back too.
        frame = pd.DataFrame({i: values[i] for i in range(len(self.columns))})
        frame.columns = [column.name for column in self.columns]
        return frame

    def of_kind(self, *kinds):
        """``(position, column)`` of the columns of ``kinds``, in network order.

        Network order is that of :data:`COLUMN_TYPES`, then column order.
        """
        return [
            (i, column)
            for kind in kinds
            for i, column in enumerate(self.columns)
            if column.kind == kind
        ]


def _standardization(values):
    """``(location, scale)`` of a column's observed (NaN-free) values: their mean and deviation.

    A column with one distinct value keeps scale 1: its features are then
    ``x - location``, 0 at fit.
    """
    observed = values[~np.isnan(values)]
    if not observed.size:  # refused later, by the estimator that needs observed values
        return 0.0, 1.0
    location = float(observed.mean())
    scale = float(observed.std())
    return location, scale if np.isfinite(scale) and scale > 0 else 1.0


def _standardized(real_family, columns, *, log=False):
    """The :class:`~skvae._likelihoods.Standardized` family of ``columns``."""
    location = [column.location for column in columns]
    scale = [column.scale for column in columns]
    return Standardized(real_family, location, scale, log=log)


_CATEGORICAL = Categorical()
_ORDINAL = Ordinal()
_POISSON = Poisson()


def _pandas_of(X):
    """The pandas module if ``X`` is a DataFrame, else None (without importing pandas)."""
    module = type(X).__module__
    if not module.startswith("pandas"):
        return None
    import pandas as pd

    return pd if isinstance(X, pd.DataFrame) else None


def infer_columns(X, column_types, handle_unknown="error"):
    """The :class:`TableColumns` of training data ``X``, or None for a numeric table.

    ``column_types`` and ``handle_unknown`` are the estimator's parameters
    (None or a dict; one of :data:`HANDLE_UNKNOWN`).

    Raises:
        ValueError: For ``column_types`` on data that is not a DataFrame, a
            key that names no column, a type that is not ``"real"`` or
            ``"categorical"``, a column of a dtype that has no type (dates,
            complex numbers), or a categorical column with fewer than two
            or more than :data:`MAX_CATEGORIES` categories, or with values
            of more than one Python type.
        TypeError: For a categorical column of values that cannot be
            categories (lists, dicts).
    """
    kinds = _column_kinds(X, column_types)
    if kinds is None:
        return None
    pd = _pandas_of(X)
    columns = []
    for i, kind in enumerate(kinds):
        series = X.iloc[:, i]
        name = X.columns[i]
        dtype = _dtype_name(series, pd)
        if kind in NUMERIC_TYPES:
            values = _real_values(series, Column(name, kind, dtype), pd, "X")
            location, scale = _standardization(values) if kind != COUNT else (0.0, 1.0)
            columns.append(Column(name, kind, dtype, location=location, scale=scale))
            continue
        categories, ordered, categories_dtype = _fitted_categories(series, name, pd)
        column = Column(name, kind, dtype, categories, ordered, categories_dtype=categories_dtype)
        columns.append(column)
    return TableColumns(tuple(columns), handle_unknown)


def check_columns_unchanged(columns, X, column_types, handle_unknown):
    """Refuse a continued fit whose ``column_types`` or ``handle_unknown`` changed.

    ``columns`` are the fitted :class:`TableColumns` (None for a numeric
    table), ``X`` the new training data. A continued fit trains the fitted
    network, whose features and likelihood the columns' types decide, so
    these parameters, like the network's, wait for a fresh fit.
    """
    fitted = [column.kind for column in columns.columns] if columns else None
    kinds = _column_kinds(X, column_types)
    if kinds != fitted:
        change = (
            f"column_types={column_types!r} gives the columns the types "
            f"{kinds or 'real'}, but the network was built for {fitted or 'real'}"
        )
    elif columns and handle_unknown != columns.handle_unknown:
        change = (
            f"handle_unknown changed from {columns.handle_unknown!r} to "
            f"{handle_unknown!r} since the network was built"
        )
    else:
        return
    raise ValueError(
        f"{change}; a continued fit (warm_start=True or partial_fit) trains the fitted "
        "network, so set it back, or refit from scratch with warm_start=False (fit) or "
        "a fresh estimator (partial_fit)."
    )


def _column_kinds(X, column_types):
    """Each column's type (its ``column_types`` entry, else its dtype's), or None if all real.

    None for data that is not a DataFrame too: a numeric table.
    """
    pd = _pandas_of(X)
    if pd is None:
        if column_types:
            raise ValueError(
                f"column_types={column_types!r} types the columns of a pandas DataFrame, "
                f"but X is a {type(X).__name__}; pass a DataFrame."
            )
        return None
    overrides = _overrides_by_position(X, column_types or {})
    kinds = [overrides.get(i, _inferred_kind(X.iloc[:, i], pd)) for i in range(X.shape[1])]
    return None if all(kind == REAL for kind in kinds) else kinds


def _overrides_by_position(X, column_types):
    names = list(X.columns)
    overrides = {}
    for key, kind in column_types.items():
        if kind not in COLUMN_TYPES:
            raise ValueError(
                f"column_types[{key!r}] must be one of {list(COLUMN_TYPES)}, got {kind!r}."
            )
        if key in names:
            position = names.index(key)
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not -len(names) <= key < len(names):
                raise ValueError(
                    f"column_types names column position {key}, but X has {len(names)} columns."
                )
            position = int(key) % len(names)
        else:
            raise ValueError(
                f"column_types names column {key!r}, which X does not have (its columns: {names})."
            )
        if position in overrides:
            raise ValueError(f"column_types names column {names[position]!r} twice.")
        overrides[position] = kind
    return overrides


def _dtype_name(series, pd):
    return "category" if isinstance(series.dtype, pd.CategoricalDtype) else str(series.dtype)


def _inferred_kind(series, pd):
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
        return ORDINAL
    if isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype, pd.BooleanDtype)):
        return CATEGORICAL
    kind = getattr(dtype, "kind", None)
    if kind in _CATEGORICAL_DTYPE_KINDS:
        return CATEGORICAL
    if kind in "iuf":
        return REAL
    raise ValueError(
        f"column {series.name!r} has dtype {dtype}, which has no column type; convert "
        "it to numbers or categories, or drop it."
    )


def _real_values(series, column, pd, name):
    """A real or count column's float64 values, NaN where missing."""
    kind = getattr(series.dtype, "kind", None)
    if kind not in "iuf" or isinstance(series.dtype, pd.CategoricalDtype):
        raise ValueError(
            f"column {column.name!r} of {name} must be numeric (it is {column.kind}), but has "
            f"dtype {series.dtype}; pass the column with numbers, as at fit."
        )
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise ValueError(f"column {column.name!r} of {name} contains infinity.")
    if column.kind == POSITIVE:
        observed = values[~np.isnan(values)]
        if (observed <= 0).any():
            raise ValueError(
                f"column {column.name!r} of {name} is a positive column, but holds "
                f"{float(observed[observed <= 0][0])!r}; its values must be above 0."
            )
        return np.log(values)
    if column.kind == COUNT:
        observed = values[~np.isnan(values)]
        bad = observed[(observed < 0) | (observed != np.round(observed))]
        if bad.size:
            raise ValueError(
                f"column {column.name!r} of {name} is a count column, but holds "
                f"{float(bad[0])!r}; counts are non-negative integers."
            )
    return values


def _fitted_categories(series, name, pd):
    """``(categories, ordered, categories_dtype)`` of a categorical column (:class:`Column`)."""
    if series.dtype.kind == "b" or isinstance(series.dtype, pd.BooleanDtype):
        return (False, True), False, None
    is_category = isinstance(series.dtype, pd.CategoricalDtype)
    values = series.cat.categories.tolist() if is_category else series[series.notna()].tolist()
    types = sorted({type(value).__name__ for value in values})
    if len(types) > 1:
        raise ValueError(
            f"column {name!r} mixes Python types ({', '.join(types)}); a categorical "
            "column needs values of one type. Convert them (e.g. .astype(str)) first."
        )
    ordered, categories_dtype = False, None
    if is_category:
        categories, ordered = tuple(values), bool(series.dtype.ordered)
        fitted_dtype = series.cat.categories.dtype
        if pd.Index(values).dtype != fitted_dtype:  # kept only where not inferred
            categories_dtype = str(fitted_dtype)
    else:
        try:
            categories = tuple(sorted(set(values)))
        except TypeError:  # unhashable (lists, dicts) or unordered (tuples of mixed types)
            raise TypeError(
                f"column {name!r} holds {types[0]} values, which cannot be categories: a "
                "categorical column needs values such as strings or numbers. Convert them "
                "(e.g. .astype(str)) or drop the column."
            ) from None
    n_observed = series.nunique(dropna=True)
    if n_observed < 2:
        raise ValueError(
            f"categorical column {name!r} has {n_observed} distinct value(s) in the training "
            "data; it carries no information to model. Drop it."
        )
    if len(categories) > MAX_CATEGORIES:
        raise ValueError(
            f"categorical column {name!r} has {len(categories)} categories, more than "
            f"{MAX_CATEGORIES}; it looks like an identifier or free text. Drop it, or "
            "group rare categories first."
        )
    return categories, ordered, categories_dtype


#: :func:`_category_codes` of a missing entry, and of an unknown category that is ignored.
_MISSING, _UNKNOWN = -1, -2


def _category_codes(series, column, pd, name, handle_unknown):
    """Each entry's index among the column's categories, or :data:`_MISSING` / :data:`_UNKNOWN`."""
    missing = series.isna().to_numpy()
    codes = np.full(len(series), _MISSING, dtype=np.intp)
    observed = series.to_numpy(dtype=object)[~missing]
    categories = pd.Index(list(column.categories), dtype=object)
    try:
        codes[~missing] = categories.get_indexer(observed)
    except TypeError:  # an unhashable value (a list, a dict) is no category: unknown
        codes[~missing] = [
            categories.get_indexer([value])[0] if pd.api.types.is_hashable(value) else -1
            for value in observed
        ]
    unknown = (codes < 0) & ~missing
    if handle_unknown == "ignore":
        codes[unknown] = _UNKNOWN
    elif unknown.any():
        value = series[unknown].iloc[0]
        raise ValueError(
            f"column {column.name!r} of {name} has the category {value!r}, which was not "
            f"seen at fit (categories: {list(column.categories)}); pass "
            "handle_unknown='ignore' at fit to read unseen categories as missing entries."
        )
    return codes


def _numbers_in(dtype, numbers, kind):
    """Float ``numbers`` of a ``kind`` column as a Series of ``dtype``.

    An integer dtype gets the nearest integers it holds (a positive
    column's smallest is 1); a float dtype is cast through a Series, which
    casts to pandas' own Float64 too.
    """
    import pandas as pd

    if dtype.kind in "iu":
        return _nearest_integers(numbers, dtype, low=1 if kind == POSITIVE else None)
    return pd.Series(numbers).astype(dtype)


def _numbers_as(original, decoded, column):
    """A decoded numeric column in ``original``'s dtype, with its observed entries."""
    numbers = decoded.to_numpy(dtype=np.float64, na_value=np.nan)
    values = _numbers_in(original.dtype, numbers, column.kind)
    kept = original.notna().to_numpy()
    values[kept] = original.to_numpy()[kept]
    return values


def _categories_as(original, decoded, pd):
    """A decoded categorical column in ``original``'s dtype, where that holds its values.

    A ``category`` dtype that lacks an imputed category gains it (last). A
    dtype that cannot hold the categories (a column of NaN alone is
    float64) leaves ``decoded`` in the fitted dtype.
    """
    values = decoded.astype(object)
    dtype = original.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        lacking = [value for value in values.unique() if value not in dtype.categories]
        if lacking:
            categories = dtype.categories.append(pd.Index(lacking))
            dtype = pd.CategoricalDtype(categories, ordered=dtype.ordered)
    try:
        cast = values.astype(dtype)
    except (TypeError, ValueError):
        return decoded
    return cast if (cast.astype(object) == values).all() else decoded


def _nearest_integers(values, dtype, *, low=None):
    """``values`` as ``dtype``'s nearest integers, clipped to what it holds (and ``low``)."""
    import pandas as pd

    limits = np.iinfo(getattr(dtype, "numpy_dtype", dtype))
    # The largest float64 the dtype holds: 2**63 - 1 is no float64, and a
    # float above a dtype's maximum would wrap around when cast.
    high = float(limits.max)
    if high > limits.max:
        high = np.nextafter(high, 0.0)
    low = limits.min if low is None else max(low, limits.min)
    return pd.Series(np.clip(np.rint(values), low, high)).astype(dtype)


def _from_codes(codes, column, pd):
    if column.dtype == "category":
        categories = pd.Index(list(column.categories), dtype=column.categories_dtype)
        return pd.Categorical.from_codes(
            codes, dtype=pd.CategoricalDtype(categories, ordered=column.ordered)
        )
    values = np.empty(len(codes), dtype=object)
    values[:] = [column.categories[code] for code in codes]
    return pd.Series(values).astype(column.dtype)
