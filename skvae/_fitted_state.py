"""The fitted state of both estimators, described once.

What ``fit`` leaves on an estimator, beyond its parameters, is listed here
and nowhere else. Pickling (``_persistence``: which attributes are Keras
networks, which are rebuilt rather than kept), the model file
(``_model_file``: each attribute's entry, in this order) and ONNX export
(``_onnx``: the networks and the layout the graphs are built from) all
read this description; a new fitted attribute is one entry here (and, for
the model file, how its value is written, in ``_model_file.KINDS``).

A mixed table's columns live in the layout (``_layout.Layout.columns``, a
``_columns.TableColumns``): each column's name, type, dtype, categories,
whether they are ordered and, for a real or positive column, the location
and scale it is standardized by, and how an unknown category is read
(``handle_unknown``). They are part of the ``layout`` entry, so every
reader of the state gets them with it.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class FittedAttribute:
    """One fitted attribute of an estimator.

    Attributes:
        key: Its name in a model file and in :func:`fitted_values`.
        attribute: Its name on the estimator.
        network: Whether it holds a Keras model (pickled as ``.keras``
            bytes, saved in a model file as its weights).
        optional: Whether a fitted estimator may lack it (a model file
            holds null, and loading leaves it unset).
    """

    key: str
    attribute: str
    network: bool = False
    optional: bool = False


#: The fitted state of a ``VariationalAutoencoder``, in the order a model
#: file is read (later entries need earlier ones: shapes need
#: ``n_features_in``, the networks the layout and network parameters).
ESTIMATOR_STATE = (
    FittedAttribute("n_features_in", "n_features_in_"),
    FittedAttribute("feature_names_in", "feature_names_in_", optional=True),
    # How the model reads and writes samples; a mixed table's columns with it.
    FittedAttribute("layout", "_layout"),
    # The network parameters the networks were built with (warm_start checks them).
    FittedAttribute("network_parameters", "_network_parameters"),
    FittedAttribute("inference_seed", "_inference_seed"),
    FittedAttribute("n_iter", "n_iter_"),
    FittedAttribute("history", "history_"),
    FittedAttribute("decoder_variance", "decoder_variance_"),
    FittedAttribute("decoder_df", "decoder_df_"),
    FittedAttribute("noise_floor", "_noise_floor"),
    FittedAttribute("encoder", "encoder_", network=True),
    FittedAttribute("decoder", "decoder_", network=True),
)

#: A ``VAEImputer``'s: the autoencoder's, then its missing-value handling.
IMPUTER_STATE = (
    *ESTIMATOR_STATE,
    FittedAttribute("missing_values", "_missing_values"),
    FittedAttribute("keep_empty_features", "_keep_empty_features"),
    FittedAttribute("empty_features", "_empty_features"),
    FittedAttribute("indicator", "indicator_"),
)

#: Each estimator's fitted state, by class name.
FITTED_STATE = {"VariationalAutoencoder": ESTIMATOR_STATE, "VAEImputer": IMPUTER_STATE}

#: The attributes holding Keras networks.
NETWORK_ATTRIBUTES = tuple(entry.attribute for entry in ESTIMATOR_STATE if entry.network)

#: Attributes a fit also sets that are rebuilt rather than kept: the compiled
#: inference functions (traced again after pickling or loading) and the
#: trainer (whose optimiser state a continued fit starts afresh).
TRANSIENT_ATTRIBUTES = ("_compiled", "_trainer")


def fitted_state(estimator):
    """The :class:`FittedAttribute` entries of ``estimator``'s skvae class."""
    for cls in type(estimator).__mro__:
        if cls.__module__.startswith("skvae.") and cls.__name__ in FITTED_STATE:
            return FITTED_STATE[cls.__name__]
    raise TypeError(f"{type(estimator).__name__} is not a skvae estimator.")


def fitted_values(estimator):
    """``{key: value}`` of ``estimator``'s fitted state (None for an unset optional one)."""
    return {
        entry.key: getattr(estimator, entry.attribute, None) for entry in fitted_state(estimator)
    }
