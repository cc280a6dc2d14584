"""The shared parameters: one constructor, one documentation, scikit-learn's conventions."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf
from numpydoc.docscrape import ClassDoc
from sklearn.base import clone
from sklearn.utils._testing import assert_docstring_consistency

from skvae import VAEImputer, VariationalAutoencoder
from skvae._base import BaseVAE, shared_parameters
from skvae._parameters import SHARED_ATTRIBUTE_DOCS, SHARED_PARAMETER_DOCS

ESTIMATORS = [VariationalAutoencoder, VAEImputer]
SHARED = list(inspect.signature(BaseVAE.__init__).parameters)[1:]
# Shared parameters whose default differs between the estimators, and so
# the "default=" written in their type line.
OWN_DEFAULTS = {
    VariationalAutoencoder: {"latent_dim": 2},
    VAEImputer: {
        "latent_dim": 16,
        "learning_rate": 1e-3,
        "n_training_draws": "auto",
        "n_importance_samples": 100,
    },
}


def test_shared_descriptions_agree_between_the_estimators():
    # The parameters whose defaults differ have other "default=" type lines;
    # their descriptions are checked against the one source below.
    assert_docstring_consistency(
        ESTIMATORS,
        include_params=True,
        exclude_params=list(OWN_DEFAULTS[VAEImputer]),
        include_attrs=True,
    )


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_every_parameter_is_documented_once_in_signature_order(estimator):
    documented = [entry.name for entry in ClassDoc(estimator)["Parameters"]]
    assert documented == list(inspect.signature(estimator).parameters)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_the_shared_docs_are_the_one_source(estimator):
    doc = ClassDoc(estimator)
    entries = {entry.name: entry for entry in [*doc["Parameters"], *doc["Attributes"]]}
    for name, (kind, text) in {**SHARED_PARAMETER_DOCS, **SHARED_ATTRIBUTE_DOCS}.items():
        assert entries[name].type.startswith(kind)
        assert " ".join(entries[name].desc) == " ".join(text.split())


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_each_estimator_has_every_shared_parameter_with_its_own_defaults(estimator):
    params = estimator().get_params()
    assert set(SHARED) <= set(params)
    base_defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(BaseVAE.__init__).parameters.items()
    }
    for name in SHARED:
        expected = OWN_DEFAULTS[estimator].get(name, base_defaults[name])
        assert params[name] == expected, name


def test_only_the_autoencoders_latent_dim_is_positional():
    assert VariationalAutoencoder(3).latent_dim == 3
    with pytest.raises(TypeError):
        VAEImputer(3)
    with pytest.raises(TypeError, match="unexpected keyword"):
        VariationalAutoencoder(dropout=0.5)


def test_an_explicit_shared_parameter_overrides_the_estimators_default():
    imputer = VAEImputer(alpha=10.0, epochs=3)
    assert (imputer.alpha, imputer.epochs, imputer.latent_dim) == (10.0, 3, 16)


def test_shared_defaults_must_name_shared_parameters():
    with pytest.raises(TypeError, match="dropout"):
        shared_parameters(dropout=0.1)


@pytest.mark.tensorflow_only
def test_clone_shares_the_distribute_strategy_instead_of_copying_it():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    vae = VariationalAutoencoder(distribute_strategy=strategy, latent_dim=3)
    cloned = clone(vae)
    assert cloned.distribute_strategy is strategy
    assert vae.distribute_strategy is strategy
    assert cloned.latent_dim == 3


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("random_state", [None, 0])
def test_seeded_fits_are_deterministic_so_the_tag_says_so(estimator, random_state):
    # non_deterministic means "not deterministic even when seeded", which an
    # int random_state rules out (tests/test_determinism.py).
    tags = estimator(random_state=random_state).__sklearn_tags__()
    assert tags.non_deterministic is False


def test_the_imputer_reaches_the_trainer_through_its_objective():
    X = np.random.default_rng(0).random((40, 3))
    X[::4, 0] = np.nan
    fast = dict(epochs=1, hidden_layer_sizes=(4,), n_importance_samples=2, random_state=0)
    for mask_augmentation in (True, False):
        imputer = VAEImputer(mask_augmentation=mask_augmentation, **fast).fit(X)
        assert imputer._trainer.mask_augmentation is mask_augmentation
    vae = VariationalAutoencoder(epochs=1, hidden_layer_sizes=(4,)).fit(np.nan_to_num(X))
    assert vae._trainer.mask_augmentation is False
    # "auto": off for a table, on for images.
    assert VAEImputer(**fast).fit(X)._trainer.mask_augmentation is False
    images = np.random.default_rng(0).random((40, 16))
    images[::4, :8] = np.nan
    conv = dict(image_shape=(4, 4), conv_filters=(2,), conv_strides=1)
    assert VAEImputer(**conv, **fast).fit(images)._trainer.mask_augmentation is True


def _hidden_widths(estimator):
    """Units of the encoder's Dense layers before ``mu`` and ``log_var``."""
    dense = [layer for layer in estimator.encoder_.layers if isinstance(layer, keras.layers.Dense)]
    return tuple(layer.units for layer in dense if not layer.name.startswith(("mu", "log_var")))


@pytest.mark.parametrize(
    "estimator, images, expected",
    [
        (VariationalAutoencoder, False, (64,)),
        (VariationalAutoencoder, True, ()),
        (VAEImputer, False, (128, 128)),
        (VAEImputer, True, ()),
    ],
)
def test_auto_hidden_layer_sizes_resolve_by_estimator_and_architecture(
    estimator, images, expected
):
    X = np.random.default_rng(0).random((20, 16))
    network = dict(image_shape=(4, 4), conv_filters=(2,), conv_strides=1) if images else {}
    fast = dict(epochs=1, n_importance_samples=2, random_state=0, **network)
    assert _hidden_widths(estimator(**fast).fit(X)) == expected
    # An explicit size applies to either architecture.
    assert _hidden_widths(estimator(hidden_layer_sizes=(3,), **fast).fit(X)) == (3,)
