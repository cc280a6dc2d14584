"""Input checks: array dimensions, conversion errors, float32 range, image shapes.

Every message names the array or parameter and what was expected. Nothing
here imports TensorFlow, so ``skvae.plotting`` can use the same image-shape
rules without loading it.
"""

import contextlib
import math
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.utils.validation import check_array, validate_data

FLOAT_DTYPES = (np.float64, np.float32)


def output_dtype(X):
    """float32 for float32 input, float64 for everything else (uint8 included)."""
    return X.dtype if X.dtype in FLOAT_DTYPES else np.dtype(np.float64)


def as_positive_ints(value, name, length=None):
    """A tuple of positive ints from a sequence, or from an int when ``length`` is given.

    ``name`` is used in errors; with ``length``, an int is repeated that many
    times and a sequence must have that many entries (one per conv layer).
    """
    if isinstance(value, Integral):
        if length is None:
            raise TypeError(f"{name} must be a sequence of positive ints, got {value!r}.")
        value = (value,) * length
    try:
        values = tuple(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an int or a sequence of positive ints, got {value!r}."
        ) from None
    if not all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in values):
        raise ValueError(f"{name} must contain positive ints only, got {value!r}.")
    if length is not None and len(values) != length:
        raise ValueError(
            f"{name} has {len(values)} entries but conv_filters has {length}; "
            "give one kernel and one stride per conv layer."
        )
    return tuple(int(v) for v in values)


def normalize_image_shape(image_shape, n_features, name="X"):
    """``(height, width, channels)`` from a 2- or 3-entry ``image_shape``.

    The shape must hold exactly the ``n_features`` of each row of the array
    called ``name``; two entries mean one channel.
    """
    shape = as_positive_ints(image_shape, "image_shape")
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={tuple(image_shape)!r} does not fit {name} with {n_features} "
            "features: expected (height, width) or (height, width, channels) whose "
            f"product is {n_features}."
        )
    return shape


@contextlib.contextmanager
def named_conversion_errors(X, name):
    """Re-raise NumPy's and scikit-learn's conversion errors naming ``name``.

    ``could not convert string to float: 'x'`` names neither the array nor
    the column, and the complex-data error prints the whole array.
    """
    try:
        yield
    except (TypeError, ValueError) as error:
        message = str(error)
        if message.startswith("Complex data not supported"):
            raise ValueError(
                f"Complex data not supported: {name} has a complex dtype, but the "
                "autoencoder needs real numbers (take .real or np.abs first)."
            ) from None
        if "inhomogeneous" in message:
            raise ValueError(
                f"{name} is ragged: every row must have the same number of values. "
                f"NumPy said: {message}"
            ) from None
        if "convert string to float" not in message and "argument must be" not in message:
            raise
        columns = getattr(X, "columns", None)
        dtypes = getattr(X, "dtypes", None)
        culprits = ""
        if columns is not None and dtypes is not None:
            non_numeric = [
                str(column)
                for column, dtype in zip(columns, dtypes, strict=True)
                if getattr(dtype, "kind", "O") not in "biuf"
            ]
            culprits = f" (non-numeric columns: {', '.join(non_numeric)})"
        raise type(error)(
            f"{name} must contain real numbers only{culprits}; encode or drop "
            f"non-numeric values first. NumPy said: {message}"
        ) from error


def _nan_ignoring_range(X):
    """``(min, max)`` of ``X`` over its non-NaN entries; NaN when every entry is NaN.

    ``fmin``/``fmax`` skip NaN in the same single pass as ``min``/``max``,
    without ``nanmin``'s warning on an all-NaN array or a separate ``isnan`` pass.
    """
    return float(np.fmin.reduce(X, axis=None)), float(np.fmax.reduce(X, axis=None))


def check_float32_range(X, name):
    """Reject values that become inf in the float32 the network computes in."""
    if X.dtype != np.float64 or X.size == 0:
        return
    low, high = _nan_ignoring_range(X)
    largest = max(high, -low)  # NaN (nothing observed) compares False below
    if largest > float(np.finfo(np.float32).max):
        raise ValueError(
            f"{name} contains values of magnitude up to {largest:.3g}, beyond the float32 "
            f"range (about {np.finfo(np.float32).max:.3g}) the network computes in; "
            f"rescale {name}."
        )


def _n_dims(X):
    return 0 if sparse.issparse(X) else len(getattr(X, "shape", ()))


def validate_samples(estimator, X, *, reset, fitted_image_shape=None, allow_nan=False):
    """Validated 2-D ``X`` and the image shape of 4-D input (else None).

    ``validate_data`` sets or checks ``n_features_in_`` on ``estimator``.
    With ``reset=False``, 4-D input must have the ``fitted_image_shape``.
    uint8 stays uint8 (the model scales it batch by batch) so a large array
    or memmap is never copied whole; other types become float. NaN is
    rejected unless ``allow_nan`` (missing values, for the imputer); inf
    always is.
    """
    input_image_shape = None
    n_dims = _n_dims(X)
    if n_dims == 3 or n_dims > 4:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features) or 4-D (n_samples, height, width, "
            f"channels), got a {n_dims}-D array of shape {tuple(X.shape)}."
        )
    if n_dims == 4:
        input_image_shape = tuple(int(d) for d in X.shape[1:])
        if not reset:
            # Before validate_data, whose feature-count error hides the image shape.
            _check_image_input(input_image_shape, fitted_image_shape, estimator)
        X = np.reshape(np.asarray(X), (X.shape[0], math.prod(input_image_shape)))
    keep_uint8 = getattr(X, "dtype", None) == np.uint8
    with named_conversion_errors(X, "X"):
        X = validate_data(
            estimator,
            X,
            reset=reset,
            dtype=None if keep_uint8 else FLOAT_DTYPES,
            ensure_all_finite="allow-nan" if allow_nan else True,
        )
    check_float32_range(X, "X")
    return X, input_image_shape


def _check_image_input(input_image_shape, fitted_image_shape, estimator):
    name = type(estimator).__name__
    if fitted_image_shape is None:
        raise ValueError(
            f"X holds images of shape {input_image_shape}, but {name} was fitted on 2-D "
            f"data; pass X of shape (n_samples, {estimator.n_features_in_})."
        )
    if input_image_shape != fitted_image_shape:
        raise ValueError(
            f"X holds images of shape {input_image_shape}, but {name} was fitted on "
            f"images of shape {fitted_image_shape} (height, width, channels)."
        )


def validate_latent_points(X, latent_dim):
    """``X`` as a float array of ``latent_dim`` columns, for ``inverse_transform``."""
    n_dims = _n_dims(X)
    if n_dims > 2:
        raise ValueError(
            f"X must be 2-D (n_samples, latent_dim={latent_dim}), got a "
            f"{n_dims}-D array of shape {tuple(X.shape)}."
        )
    with named_conversion_errors(X, "X"):
        Z = check_array(X, dtype=FLOAT_DTYPES, input_name="X")
    check_float32_range(Z, "X")
    if Z.shape[1] != latent_dim:
        raise ValueError(
            f"X has {Z.shape[1]} features, but inverse_transform expects "
            f"latent_dim={latent_dim} columns (the output of transform)."
        )
    return Z


def as_one_sample(x, name, n_features, image_shape):
    """``x`` as a batch of one row; ``name`` for errors.

    Accepts a row, a one-row batch, one image of ``image_shape`` (without
    its channel axis when it has one channel) or a one-image batch.
    """
    if getattr(x, "ndim", None) == 1 and hasattr(x, "to_frame"):
        # A DataFrame's row (df.iloc[0]) as a one-row DataFrame: its column
        # names, and its values' dtypes (a mixed table's row holds objects).
        x = x.to_frame().T.infer_objects()
    if getattr(x, "ndim", None) == 2 and hasattr(x, "columns") and len(x) == 1:
        return x  # a one-row DataFrame keeps its feature names
    array = np.asarray(x)
    accepted = {(n_features,), (1, n_features)}
    if image_shape is not None:
        accepted |= {image_shape, (1, *image_shape)}
        if image_shape[2] == 1:
            accepted.add(image_shape[:2])
    if array.shape not in accepted:
        raise ValueError(
            f"{name} must be one sample: a row of {n_features} features"
            + (f" or an image of shape {image_shape}" if image_shape else "")
            + f", got an array of shape {array.shape}."
        )
    return array.reshape(1, n_features)


def is_nan(value):
    """Whether ``value`` is a NaN number."""
    return isinstance(value, Real) and math.isnan(value)


def missing_as_nan(X, missing_values):
    """Validated ``X`` as floats with NaN wherever ``missing_values`` is.

    ``X`` is copied when a marker other than NaN is replaced (or when it is
    not float); NaN in ``X`` is then an error rather than a second marker.
    """
    X = X if X.dtype in FLOAT_DTYPES else X.astype(np.float64)
    if is_nan(missing_values):
        return X
    if np.isnan(X).any():
        raise ValueError(
            f"X contains NaN, but missing_values={missing_values!r} marks the missing "
            "entries; mark them all one way (missing_values=np.nan for NaN)."
        )
    X = X.copy()
    X[X == missing_values] = np.nan
    return X


def check_unit_interval(X, name):
    """Reject data outside [0, 1], the support of a Bernoulli decoder.

    8-bit data pass: the model sees them divided by 255.
    """
    if X.dtype == np.uint8 or X.size == 0:
        return
    low, high = _nan_ignoring_range(X)  # NaN (nothing observed) compares False below
    if low < 0 or high > 1:
        raise ValueError(
            f"likelihood='bernoulli' needs {name} in [0, 1], but {name} ranges from "
            f"{low:.4g} to {high:.4g}; rescale {name} (8-bit images: pass them as uint8 "
            "or divide by 255) or use likelihood='gaussian'."
        )


def check_likelihood_settings(
    X, family, noise_scale, decoder_variance, alpha, *, continuing=False
):
    """What the parameter constraints cannot say about the likelihood settings.

    Training data ``X`` must lie in the support of the likelihood ``family``
    (Bernoulli: [0, 1]), a variance per feature needs a family with a
    variance, a learned noise (a family that cannot fit its noise to each
    batch, or a variance per feature) needs the ELBO (``alpha="auto"``), and
    ``decoder_variance="alpha"`` a numeric ``alpha``. ``family`` and
    ``noise_scale`` are the fitted layout's (resolved from ``"auto"``); a
    ``continuing`` fit keeps them.
    """
    likelihood = family.name
    family.check_data(X, "X")
    if noise_scale == "feature" and not family.has_variance:
        raise ValueError(
            f"noise_scale='feature' learns a noise variance per feature, which a "
            f"{type(family).__name__} decoder (likelihood={likelihood!r}) does not have; "
            "use noise_scale='shared'."
        )
    learned = not family.calibrates_on_batch or noise_scale == "feature"
    if learned and alpha != "auto":
        if continuing:
            raise ValueError(
                f"This model learned its decoder's noise on the ELBO (fitted with "
                f"likelihood={likelihood!r}, noise_scale={noise_scale!r}); a continued fit "
                f"(warm_start=True or partial_fit) keeps that noise model, so it cannot train "
                f"on alpha={alpha!r}. Keep alpha='auto', or fit from scratch "
                "(warm_start=False) to train on a numeric alpha with one Gaussian variance."
            )
        raise ValueError(
            f"likelihood={likelihood!r} with noise_scale={noise_scale!r} learns the decoder's "
            f"noise on the ELBO, but alpha={alpha!r} weighs a mean squared error instead; use "
            "alpha='auto', or likelihood='gaussian' with noise_scale='shared'."
        )
    if decoder_variance == "alpha" and alpha == "auto":
        raise ValueError(
            "decoder_variance='alpha' reads the variance off a numeric alpha, but "
            "alpha='auto'; use decoder_variance='fitted' (the same variance that "
            "alpha='auto' trains with) or a number."
        )
