"""The fitted layout: how the model reads samples and writes outputs.

Resolved once, in the first ``fit``, from the training data and the
``image_shape``, ``architecture`` and ``output_activation`` parameters;
everything after that (continued training, inference, pickling) reads this
frozen object, never the live parameters.
"""

import dataclasses
import math

import numpy as np

from ._columns import TableColumns
from ._data import iter_batches
from ._inference import INFERENCE_BATCH_SIZE
from ._likelihoods import likelihood_family
from ._model import NetworkStructure
from ._validation import as_positive_ints, normalize_image_shape

#: A dense network's input of at most this many features (a table's columns)
#: keeps the estimator's fixed ``hidden_layer_sizes="auto"``, the widths
#: measured on tables of 10 to 36 columns; a wider input gets wider, deeper
#: layers (:func:`wide_hidden_layer_sizes`), and a wide table one noise scale
#: (see :func:`resolve_layout`).
WIDE_TABLE_FEATURES = 128

#: The widest first hidden layer that ``hidden_layer_sizes="auto"`` gives.
MAX_AUTO_WIDTH = 512

# uint8 input is read as 8-bit intensities: the model sees it divided by this,
# and decoded outputs are multiplied back.
UINT8_SCALE = 255.0


def input_scale(X):
    """What the model divides ``X`` by: 255 for 8-bit data, else 1."""
    return UINT8_SCALE if X.dtype == np.uint8 else 1.0


@dataclasses.dataclass(frozen=True)
class Layout:
    """How a fitted model sees its data.

    Attributes:
        n_features: Features per sample (pixels times channels).
        image_shape: ``(height, width, channels)`` when rows are images, else None.
        outputs_images: Whether outputs are 4-D (``fit`` got 4-D input).
        architecture: ``"conv"`` or ``"dense"``.
        output_activation: ``"sigmoid"`` or ``"linear"``.
        input_scale: The model sees ``X / input_scale``.
        missing_entries: None for complete data; for data with missing
            (NaN) entries, how the encoder reads them (``"zero"`` or
            ``"zero_and_mask"``, see ``_model.FillMissing``).
        likelihood: The decoder's distribution: a registered likelihood's
            name (see :attr:`family`).
        noise_scale: ``"shared"`` (one noise scale) or ``"feature"`` (one
            per feature).
        columns: For a mixed table (a DataFrame with categorical columns),
            its :class:`~skvae._columns.TableColumns`; :attr:`likelihood` is
            then its real columns' family. None for numeric data.
    """

    n_features: int
    image_shape: tuple | None
    outputs_images: bool
    architecture: str
    output_activation: str
    input_scale: float
    missing_entries: str | None = None
    likelihood: str = "gaussian"
    noise_scale: str = "shared"
    columns: TableColumns | None = None

    @property
    def family(self):
        """The :class:`~skvae._likelihoods.Likelihood` registered as :attr:`likelihood`.

        For a mixed table, the :class:`~skvae._likelihoods.MixedLikelihood`
        of that family on the real columns and a categorical per categorical column.
        """
        family = likelihood_family(self.likelihood)
        return family if self.columns is None else self.columns.family(family)

    @property
    def is_table(self):
        """Whether the rows are a table's (not images): what the ``"auto"`` defaults read."""
        return self.image_shape is None

    @property
    def sample_shape(self):
        """Shape of one sample as the network takes it."""
        return self.image_shape if self.image_shape is not None else (self.n_features,)

    def batches(self, X, batch_size=INFERENCE_BATCH_SIZE, rows=None):
        """Consecutive float32 network batches of the rows (or ``rows``) of 2-D ``X``."""
        return iter_batches(X, batch_size, self.sample_shape, self.input_scale, rows)

    def to_output(self, decoded):
        """The decoder's raw outputs as the user sees them: see :meth:`values_to_output`."""
        return self.values_to_output(np.asarray(self.family.mean(decoded)))

    def values_to_output(self, values):
        """Values in the network's space (means or draws) rescaled, in the layout fit received.

        A mixed table's are a DataFrame of its columns (see ``_columns``).
        """
        if self.columns is not None:
            return self.columns.decode(values)
        shape = self.image_shape if self.outputs_images else (self.n_features,)
        return (values * self.input_scale).reshape((-1, *shape))


def resolve_layout(
    X,
    input_image_shape,
    *,
    image_shape,
    architecture,
    output_activation,
    likelihood,
    noise_scale,
    alpha,
    missing_entries=None,
    columns=None,
):
    """The :class:`Layout` for training data ``X`` (2-D, validated, NaN where missing).

    ``input_image_shape`` is the image shape of 4-D input (else None); the
    keyword arguments are the estimator's parameters of the same names, and
    ``missing_entries`` the :class:`Layout` field. A family with an output
    activation of its own (Bernoulli's sigmoid, for probabilities) gets it.

    Rows are images only when the input or the user says so: 4-D input,
    ``image_shape``, or ``architecture="conv"`` (which reads a square
    feature count as a square one-channel image). A table whose column
    count happens to be a square is still a table.

    A mixed table (``columns``, the encoded DataFrame's
    :class:`~skvae._columns.TableColumns`) is a table with a linear output:
    its categorical columns' outputs are logits, which their family turns
    into probabilities; ``likelihood`` names its real columns' family.

    ``likelihood="auto"`` and ``noise_scale="auto"`` resolve by what the
    rows are: a table trained on the ELBO (``alpha="auto"``) gets Student's t
    with a scale per feature, since its columns differ in how well the others
    predict them and in their tails, as factor analysis assumes; images (and
    any numeric ``alpha``) get one Gaussian noise scale, since a scale per
    pixel lets the constant border pixels dominate the likelihood. So does a
    numeric table of more than ``WIDE_TABLE_FEATURES`` columns, whose
    near-constant columns would do the same (flat MNIST rows); a mixed
    table keeps its learned noise.
    """
    if columns is not None and (image_shape is not None or architecture == "conv"):
        raise ValueError(
            "A DataFrame with categorical columns is a table, not images; leave "
            "image_shape=None and architecture='auto' or 'dense'."
        )
    n_features = X.shape[1]
    resolved_shape = input_image_shape
    if resolved_shape is None and image_shape is not None:
        resolved_shape = normalize_image_shape(image_shape, n_features)
    side = math.isqrt(n_features)
    if resolved_shape is None and architecture == "conv" and side * side == n_features:
        resolved_shape = (side, side, 1)
    if architecture == "conv" and resolved_shape is None:
        raise ValueError(
            f"architecture='conv' needs images, but X has {n_features} features, "
            "which is not a square number; pass image_shape=(height, width[, "
            "channels]), 4-D input, or use architecture='dense'."
        )
    # A wide numeric table is modelled as images are: one Gaussian variance,
    # so that its near-constant columns cannot each buy the density of the
    # noise floor (benchmarks/README.md, "Wide tables").
    wide = resolved_shape is None and columns is None and n_features > WIDE_TABLE_FEATURES
    learns_table_noise = resolved_shape is None and alpha == "auto" and not wide
    if likelihood == "auto":
        likelihood = "student_t" if learns_table_noise else "gaussian"
    family = likelihood_family(likelihood)
    if columns is not None:
        if family.output_activation is not None:
            raise ValueError(
                f"likelihood={likelihood!r} is for data in [0, 1]; the real columns of a "
                "table with categorical columns take 'auto', 'gaussian' or 'student_t'."
            )
        if output_activation not in ("auto", "linear"):
            raise ValueError(
                f"output_activation={output_activation!r}: a table with categorical columns "
                "needs a linear output (its categories' logits); use 'auto' or 'linear'."
            )
        output_activation = "linear"
        family = columns.family(family)
    if family.output_activation is not None:
        if output_activation not in ("auto", family.output_activation):
            raise ValueError(
                f"likelihood={likelihood!r} needs output_activation="
                f"{family.output_activation!r} (or 'auto'): the decoder outputs the "
                "distribution's parameters."
            )
        output_activation = family.output_activation
    if output_activation == "auto":
        in_unit_range = X.dtype == np.uint8 or (np.nanmin(X) >= 0 and np.nanmax(X) <= 1)
        output_activation = "sigmoid" if in_unit_range else "linear"
    if noise_scale == "auto":
        per_feature = learns_table_noise and family.has_variance
        noise_scale = "feature" if per_feature else "shared"
    return Layout(
        n_features=n_features,
        image_shape=resolved_shape,
        outputs_images=input_image_shape is not None,
        architecture="dense" if resolved_shape is None or architecture == "dense" else "conv",
        output_activation=output_activation,
        input_scale=input_scale(X),
        missing_entries=missing_entries,
        likelihood=likelihood,
        noise_scale=noise_scale,
        columns=columns,
    )


def wide_hidden_layer_sizes(n_features):
    """``hidden_layer_sizes="auto"`` of a dense network on a wide input.

    A wide input has more than ``WIDE_TABLE_FEATURES`` features.

    Two layers: the smallest power of two at or above a quarter of the
    features (at most ``MAX_AUTO_WIDTH``), then half of that: ``(64, 32)``
    for 129 to 256 features, ``(128, 64)`` to 512, ``(256, 128)`` to 1,024
    (flat MNIST rows), ``(512, 256)`` beyond.
    """
    first = min(MAX_AUTO_WIDTH, 1 << max(0, math.ceil(n_features / 4) - 1).bit_length())
    return (first, first // 2)


def auto_hidden_layer_sizes(layout, fixed, *, widens=True):
    """What ``hidden_layer_sizes="auto"`` means for the networks of ``layout``.

    ``fixed``: the estimator's widths per architecture. ``widens``: whether a
    dense network on more than ``WIDE_TABLE_FEATURES`` features gets
    :func:`wide_hidden_layer_sizes` instead (False: the fixed widths
    whatever the input, as model files before format version 4 were built).
    """
    if widens and layout.architecture == "dense" and layout.n_features > WIDE_TABLE_FEATURES:
        return wide_hidden_layer_sizes(layout.n_features)
    return fixed[layout.architecture]


def network_structure(
    layout,
    *,
    auto_hidden_layer_sizes,
    conv_filters,
    conv_kernels,
    conv_strides,
    hidden_layer_sizes,
    **parameters,
):
    """The validated :class:`~skvae._model.NetworkStructure` of the networks for ``layout``.

    The keyword arguments are the estimator parameters that the structure
    holds (``NetworkStructure.parameter_names()``), and the estimator's
    ``auto_hidden_layer_sizes``: what ``hidden_layer_sizes="auto"`` means
    for this layout (see :func:`auto_hidden_layer_sizes`). Conv parameters
    are checked against the image only for a conv network; a dense network
    ignores them.
    """
    if isinstance(hidden_layer_sizes, str) and hidden_layer_sizes == "auto":
        hidden_layer_sizes = auto_hidden_layer_sizes
    structure = NetworkStructure(
        architecture=layout.architecture,
        hidden_layer_sizes=as_positive_ints(hidden_layer_sizes, "hidden_layer_sizes"),
        **parameters,
    )
    if layout.architecture != "conv":
        return structure
    filters = as_positive_ints(conv_filters, "conv_filters")
    if not filters:
        raise ValueError("conv_filters must name at least one conv layer, got ().")
    kernels = as_positive_ints(conv_kernels, "conv_kernels", len(filters))
    strides = as_positive_ints(conv_strides, "conv_strides", len(filters))
    height, width, _ = layout.image_shape
    if math.prod(strides) > min(height, width):
        raise ValueError(
            f"conv_strides={conv_strides!r} downsample by {math.prod(strides)}, "
            f"more than the smaller side of the {height}x{width} images; use "
            "fewer or smaller strides."
        )
    return dataclasses.replace(
        structure, conv_filters=filters, conv_kernels=kernels, conv_strides=strides
    )
