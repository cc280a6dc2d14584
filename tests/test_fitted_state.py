"""A fitted estimator is defined by its fitted state, not by its live parameters.

``set_params`` changes what the *next* fit does. Until then, a fitted model
behaves exactly as fitted (as ``PCA`` keeps ``n_components_`` and
``KernelDensity`` keeps ``bandwidth_``), and a continued fit (``warm_start``,
``partial_fit``) trains on the parameters it is given.
"""

from pathlib import Path

import numpy as np
import pytest

from skvae import VAEImputer, VariationalAutoencoder
from skvae._fitted_state import FITTED_STATE, TRANSIENT_ATTRIBUTES, fitted_state
from skvae._model_file import KINDS

DATA = Path(__file__).resolve().parent / "data"

FAST = dict(epochs=2, batch_size=16, random_state=0, validation_fraction=0.0)


@pytest.fixture
def rows():
    return np.random.default_rng(0).random((64, 5))


def _loss_matches_alpha(vae, alpha):
    """Whether the last reported loss is ``alpha * reconstruction + KL``."""
    history = vae.history_
    expected = alpha * history["reconstruction_loss"][-1] + history["kl_loss"][-1]
    return history["loss"][-1] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("continue_with", ["warm_start", "partial_fit"])
def test_continued_training_uses_the_new_alpha(rows, continue_with):
    vae = VariationalAutoencoder(alpha=5000.0, warm_start=True, **FAST).fit(rows)
    assert _loss_matches_alpha(vae, 5000.0)

    vae.set_params(alpha=1.0, epochs=1)
    if continue_with == "warm_start":
        vae.fit(rows)
    else:
        vae.partial_fit(rows)

    assert vae.n_iter_ == 3
    assert _loss_matches_alpha(vae, 1.0)
    assert vae.history_["loss"][-1] < 10  # not 5000 * reconstruction + KL


def test_continued_training_uses_the_new_learning_rate(rows):
    vae = VariationalAutoencoder(warm_start=True, **FAST).fit(rows)
    weights = [w.copy() for w in vae.encoder_.get_weights()]
    vae.set_params(learning_rate=1e-30, epochs=1).fit(rows)
    for before, after in zip(weights, vae.encoder_.get_weights(), strict=True):
        np.testing.assert_allclose(after, before, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "change",
    [
        {"latent_dim": 4},
        {"architecture": "conv", "image_shape": None},
        {"hidden_layer_sizes": (8,)},
        {"batch_norm": True},
        {"output_activation": "sigmoid"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_warm_start_refuses_a_changed_network(rows, change):
    vae = VariationalAutoencoder(warm_start=True, **FAST).fit(rows)
    before = vae.transform(rows)
    with pytest.raises(ValueError, match=f"{next(iter(change))}.*warm_start=False"):
        vae.set_params(**change).fit(rows)
    np.testing.assert_array_equal(vae.transform(rows), before)


def test_partial_fit_refuses_a_changed_network(rows):
    vae = VariationalAutoencoder(**FAST).partial_fit(rows)
    with pytest.raises(ValueError, match="latent_dim changed from 2 to 3"):
        vae.set_params(latent_dim=3).partial_fit(rows)


def _outputs(vae, X):
    Z = vae.transform(X)
    return {
        "transform": Z,
        "inverse_transform": vae.inverse_transform(Z),
        "sample": vae.sample(3, random_state=0),
        "score_samples": vae.score_samples(X),
        "decoder_variance_": vae.decoder_variance_,
        "interpolate": vae.interpolate(X[0], X[1], n_steps=3),
        "feature_names_out": vae.get_feature_names_out(),
    }


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(lambda rng: rng.random((40, 5)), id="table"),
        pytest.param(lambda rng: rng.random((40, 6, 6, 1)), id="images"),
        pytest.param(lambda rng: (rng.random((40, 16)) * 255).astype(np.uint8), id="uint8"),
    ],
)
def test_fitted_model_ignores_later_set_params(data):
    X = data(np.random.default_rng(0))
    vae = VariationalAutoencoder(**FAST).fit(X)
    before = _outputs(vae, X)

    vae.set_params(
        latent_dim=7,
        alpha=1.0,
        image_shape=(2, 2),
        architecture="dense",
        conv_filters=(3,),
        hidden_layer_sizes=(3,),
        output_activation="linear",
        batch_norm=True,
    )
    after = _outputs(vae, X)

    assert before.keys() == after.keys()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


def test_partial_fit_after_fit_keeps_every_curve_per_epoch(rows):
    vae = VariationalAutoencoder(**{**FAST, "validation_fraction": 0.25}).fit(rows)
    assert {"val_loss", "val_kl_loss", "val_reconstruction_loss"} <= vae.history_.keys()

    vae.partial_fit(rows)

    assert vae.n_iter_ == 3
    for name, curve in vae.history_.items():
        assert len(curve) == vae.n_iter_, name
    assert np.all(np.isfinite(vae.history_["val_loss"][:2]))
    assert np.isnan(vae.history_["val_loss"][2])  # partial_fit holds nothing out
    assert np.isfinite(vae.history_["loss"][2])


def test_fit_after_partial_fit_pads_validation_curves_with_nan(rows):
    vae = VariationalAutoencoder(**{**FAST, "validation_fraction": 0.25, "warm_start": True})
    vae.partial_fit(rows).set_params(epochs=1).fit(rows)
    assert vae.n_iter_ == 2
    assert np.isnan(vae.history_["val_loss"][0])
    assert np.isfinite(vae.history_["val_loss"][1])
    for name, curve in vae.history_.items():
        assert len(curve) == vae.n_iter_, name


# ------------------------------------------- one description of the fitted state


def _fitted_cases():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    rows = rng.random((40, 4))
    holes = rows.copy()
    holes[::5, 1] = np.nan
    table = pd.DataFrame(
        {"x": rng.normal(size=40), "c": pd.Categorical(rng.choice(["a", "b", "c"], 40))}
    )
    return {
        "vae-array": (VariationalAutoencoder(**FAST), rows),
        "vae-mixed-frame": (VariationalAutoencoder(**FAST), table),
        "imputer-indicator": (VAEImputer(add_indicator=True, **FAST), holes),
        "imputer-mixed-frame": (VAEImputer(**FAST), table),
    }


@pytest.mark.parametrize(
    "case", ["vae-array", "vae-mixed-frame", "imputer-indicator", "imputer-mixed-frame"]
)
def test_the_description_lists_every_fitted_attribute(case):
    """A fitted attribute missing from ``_fitted_state`` would be lost by the model file."""
    estimator, X = _fitted_cases()[case]
    before = set(vars(estimator))
    estimator.fit(X)
    fitted = set(vars(estimator)) - before - set(TRANSIENT_ATTRIBUTES)
    described = {entry.attribute for entry in fitted_state(estimator)}
    optional = {entry.attribute for entry in fitted_state(estimator) if entry.optional}
    assert fitted - described == set(), "fitted but not described in skvae._fitted_state"
    assert described - fitted <= optional


def test_the_model_file_writes_every_described_attribute():
    keys = {entry.key for state in FITTED_STATE.values() for entry in state}
    assert set(KINDS) == keys


def test_a_model_file_written_before_the_description_loads():
    """``tests/data/mixed_imputer_8e6db26.skvae`` was written by skvae at commit 8e6db26.

    A ``VAEImputer(hidden_layer_sizes=(4,), epochs=1, batch_size=16,
    random_state=0)`` fitted on :func:`_old_table`; the ``.npy`` holds its
    ``transform(table)["x"]`` then.
    """
    import skvae

    loaded = skvae.load(DATA / "mixed_imputer_8e6db26.skvae")
    table = _old_table()
    completed = loaded.transform(table)
    np.testing.assert_allclose(
        completed["x"].to_numpy(), np.load(DATA / "mixed_imputer_8e6db26_x.npy"), rtol=1e-5
    )
    columns = loaded._layout.columns.columns
    assert [(c.name, c.kind, c.categories) for c in columns] == [
        ("x", "real", None),
        ("c", "categorical", ("a", "b", "c")),
        ("s", "categorical", ("u", "v")),
    ]
    assert completed["c"].notna().all()
    # Written before handle_unknown: an unknown category is still an error.
    assert loaded._layout.columns.handle_unknown == loaded.handle_unknown == "error"


def _old_table():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "x": rng.normal(size=24),
            "c": pd.Categorical(rng.choice(["a", "b", "c"], 24)),
            "s": rng.choice(["u", "v"], 24),
        }
    )
    table.loc[::5, "x"] = np.nan
    table.loc[1::4, "c"] = np.nan
    return table
