"""Behaviour of VariationalAutoencoder beyond scikit-learn's common checks."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from tensorflow.python.framework import config as tf_config

from skvae import VariationalAutoencoder

FAST = dict(epochs=2, batch_size=16, random_state=0)


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (8, 8, 1), (16, 16, 3), (5, 7, 1)])
def test_image_input_round_trips_in_its_own_layout(image_shape):
    rng = np.random.default_rng(0)
    images = rng.random((24, *image_shape)).astype(np.float32)
    vae = VariationalAutoencoder(latent_dim=3, **FAST).fit(images)

    assert vae.architecture_ == "conv"
    assert vae.image_shape_ == image_shape
    assert vae.n_features_in_ == np.prod(image_shape)
    assert vae.output_activation_ == "sigmoid"
    latent = vae.transform(images)
    assert latent.shape == (24, 3)
    assert vae.inverse_transform(latent).shape == (24, *image_shape)
    assert vae.sample(5, random_state=0).shape == (5, *image_shape)
    # The same images as flat rows are accepted and decoded back to rows.
    flat = images.reshape(24, -1)
    np.testing.assert_array_equal(vae.transform(flat), latent)


def test_flat_rows_are_read_with_image_shape():
    rows = np.random.default_rng(0).random((20, 35))
    vae = VariationalAutoencoder(image_shape=(5, 7), **FAST).fit(rows)
    assert vae.image_shape_ == (5, 7, 1)
    assert vae.architecture_ == "conv"
    assert vae.inverse_transform(vae.transform(rows)).shape == (20, 35)


@pytest.mark.parametrize("n_features", [1, 2, 5, 9, 10])
def test_tabular_data_gets_the_dense_network(n_features):
    X = np.random.default_rng(0).normal(size=(30, n_features))
    vae = VariationalAutoencoder(**FAST).fit(X)
    assert vae.architecture_ == "dense"
    assert vae.image_shape_ is None
    assert vae.output_activation_ == "linear"
    assert vae.inverse_transform(vae.transform(X)).shape == X.shape


def test_rows_are_images_only_when_image_shape_says_so(digits):
    vae = VariationalAutoencoder(image_shape=(8, 8), **FAST).fit(digits[0][:100])
    assert (vae.architecture_, vae.image_shape_) == ("conv", (8, 8, 1))


@pytest.mark.parametrize("n_columns", [16, 36, 64])
def test_a_table_with_a_square_column_count_gets_a_dense_network(n_columns):
    X = np.random.default_rng(0).normal(size=(40, n_columns))
    vae = VariationalAutoencoder(**FAST).fit(X)
    assert (vae.architecture_, vae.image_shape_) == ("dense", None)


def test_dense_architecture_accepts_images():
    images = np.random.default_rng(0).random((20, 6, 6, 2))
    vae = VariationalAutoencoder(architecture="dense", **FAST).fit(images)
    assert vae.architecture_ == "dense"
    assert vae.inverse_transform(vae.transform(images)).shape == images.shape


def test_same_random_state_gives_identical_models(digits):
    X = digits[0][:200]
    first = VariationalAutoencoder(**FAST).fit(X)
    second = VariationalAutoencoder(**FAST).fit(X)
    np.testing.assert_array_equal(first.transform(X), second.transform(X))
    np.testing.assert_array_equal(first.score_samples(X), second.score_samples(X))
    np.testing.assert_array_equal(
        first.sample(4, random_state=1), second.sample(4, random_state=1)
    )
    other = VariationalAutoencoder(**{**FAST, "random_state": 1}).fit(X)
    assert not np.array_equal(first.transform(X), other.transform(X))


def test_fit_restores_op_determinism_setting(digits):
    assert not tf_config.is_op_determinism_enabled()
    VariationalAutoencoder(**FAST).fit(digits[0][:50])
    assert not tf_config.is_op_determinism_enabled()


@pytest.fixture(scope="module")
def trained_on_digits(digits):
    """The default network trained for 15 epochs on 80% of the digits, and the split."""
    X_train, X_test = train_test_split(digits[0], test_size=0.2, random_state=0)
    return VariationalAutoencoder(epochs=15, random_state=0).fit(X_train), X_train, X_test


def test_score_prefers_data_like_the_training_data(trained_on_digits):
    vae, _, X_test = trained_on_digits
    noise = np.random.default_rng(0).random(X_test.shape).astype(np.float32)
    assert vae.score(X_test) > vae.score(noise) + 10


def test_training_improves_reconstruction(trained_on_digits):
    trained, X_train, X_test = trained_on_digits

    def held_out_mse(vae):
        return np.mean((vae.inverse_transform(vae.transform(X_test)) - X_test) ** 2)

    # An untrained sigmoid decoder starts at the training data's mean, the
    # best model that ignores its input; training must beat it by a margin.
    mean_image_mse = np.mean((X_test - X_train.mean(axis=0)) ** 2)
    untrained = VariationalAutoencoder(epochs=1, learning_rate=1e-12, random_state=0)
    assert held_out_mse(untrained.fit(X_train)) == pytest.approx(mean_image_mse, rel=0.02)
    assert held_out_mse(trained) < 0.75 * mean_image_mse


def test_history_records_every_epoch(digits):
    vae = VariationalAutoencoder(alpha=5000, epochs=3, early_stopping=False, random_state=0)
    vae.fit(digits[0][:200])
    assert vae.n_iter_ == 3
    for name in ("loss", "reconstruction_loss", "kl_loss"):
        assert len(vae.history_[name]) == 3
        assert len(vae.history_["val_" + name]) == 3
    # The training loss is alpha * reconstruction + KL, epoch by epoch.
    np.testing.assert_allclose(
        vae.history_["loss"],
        vae.alpha * np.array(vae.history_["reconstruction_loss"])
        + np.array(vae.history_["kl_loss"]),
        rtol=1e-4,
    )


def test_no_validation_split_without_validation_fraction(digits):
    vae = VariationalAutoencoder(validation_fraction=0.0, **FAST).fit(digits[0][:50])
    assert set(vae.history_) == {"loss", "reconstruction_loss", "kl_loss"}


def test_early_stopping_stops_before_epochs():
    # A learning rate this small makes no progress, so patience runs out.
    X = np.random.default_rng(0).random((64, 3))
    vae = VariationalAutoencoder(
        epochs=30, n_iter_no_change=2, learning_rate=1e-9, random_state=0
    ).fit(X)
    assert vae.n_iter_ < 30


def test_output_dtype_follows_input(fitted_on_40_digits, digits):
    X, vae = digits[0][:40], fitted_on_40_digits
    assert vae.transform(X).dtype == np.float32
    assert vae.transform(X.astype(np.float64)).dtype == np.float64
    assert vae.inverse_transform(np.zeros((2, 2), np.float32)).dtype == np.float32
    assert vae.score_samples(X).dtype == np.float64


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(architecture="conv"), "not a square number"),
        (dict(image_shape=(4, 4)), "does not fit X with 10 features"),
    ],
)
def test_layout_errors_name_the_parameter(params, message):
    X = np.random.default_rng(0).random((20, 10))
    with pytest.raises(ValueError, match=message):
        VariationalAutoencoder(**params, **FAST).fit(X)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(conv_strides=(1, 2)), "conv_strides has 2 entries but conv_filters has 4"),
        (dict(conv_kernels=(3, 3, 3)), "conv_kernels has 3 entries"),
        (dict(conv_strides=(2, 2, 2, 2)), "downsample by 16"),
        (dict(conv_filters=()), "at least one conv layer"),
        (dict(conv_filters=(8, -1)), "positive ints"),
    ],
)
def test_conv_parameter_errors(params, message):
    images = np.random.default_rng(0).random((20, 8, 8, 1))
    with pytest.raises(ValueError, match=message):
        VariationalAutoencoder(**params, **FAST).fit(images)


def test_images_of_another_shape_are_rejected():
    vae = VariationalAutoencoder(**FAST).fit(np.random.default_rng(0).random((20, 4, 6, 1)))
    with pytest.raises(ValueError, match=r"images of shape \(6, 4, 1\).*fitted on.*\(4, 6, 1\)"):
        vae.transform(np.zeros((2, 6, 4, 1)))


@pytest.fixture(scope="module")
def fitted_on_40_digits(digits):
    """For tests that only call a fitted model's methods (and change nothing)."""
    return VariationalAutoencoder(**FAST).fit(digits[0][:40])


def test_inverse_transform_checks_latent_width(fitted_on_40_digits):
    with pytest.raises(ValueError, match="latent_dim=2"):
        fitted_on_40_digits.inverse_transform(np.zeros((3, 5)))


@pytest.mark.parametrize("n_samples, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError)])
def test_sample_checks_n_samples(fitted_on_40_digits, n_samples, error):
    with pytest.raises(error, match="n_samples"):
        fitted_on_40_digits.sample(n_samples)


@pytest.mark.parametrize("noise", ["yes", None, 1])
def test_sample_checks_noise(fitted_on_40_digits, noise):
    with pytest.raises(ValueError, match="noise"):
        fitted_on_40_digits.sample(2, noise=noise)


def test_sample_with_noise_adds_the_decoders_noise_to_its_mean(fitted_on_40_digits):
    vae = fitted_on_40_digits
    means = vae.sample(400, random_state=0)
    # Numeric data keep the decoder's mean by default, as inverse_transform decodes.
    np.testing.assert_array_equal(means, vae.sample(400, random_state=0, noise=False))
    Z = np.random.RandomState(0).standard_normal((400, vae.latent_dim))
    np.testing.assert_allclose(means, vae.inverse_transform(Z), rtol=1e-6)
    drawn = vae.sample(400, random_state=0, noise=True)
    # Same latent draws, then the decoder's noise on every entry: a table's
    # is Student's t, with scale**2 decoder_variance_ and df decoder_df_.
    assert vae.likelihood_ == "student_t"
    df = vae.decoder_df_
    residual = (drawn - means) / np.sqrt(vae.decoder_variance_ * df / (df - 2))
    assert abs(residual.mean()) < 0.05 and abs(residual.std() - 1.0) < 0.05


def test_divergence_raises_and_keeps_the_previous_model(digits, capsys):
    X = digits[0][:100]
    vae = VariationalAutoencoder(**FAST).fit(X)
    before = vae.transform(X)
    vae.set_params(learning_rate=1e12, alpha=1e12)
    capsys.readouterr()
    with pytest.raises(ValueError, match=r"diverged.*Lower learning_rate"):
        vae.fit(X)
    # The error says it all; a quiet fit (verbose=0) prints nothing besides.
    assert capsys.readouterr().out == ""
    assert vae.learning_rate == 1e12
    np.testing.assert_array_equal(vae.transform(X), before)
    assert np.isfinite(vae.score(X))


def test_failed_fit_on_bad_input_keeps_the_previous_model(digits):
    X = digits[0][:100]
    vae = VariationalAutoencoder(**FAST).fit(X)
    before = vae.transform(X)
    with pytest.raises(ValueError):
        vae.fit(np.full((10, 3), np.nan))
    assert vae.n_features_in_ == 64
    np.testing.assert_array_equal(vae.transform(X), before)


def test_pandas_input_records_feature_names():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(np.random.default_rng(0).random((30, 3)), columns=["a", "b", "c"])
    vae = VariationalAutoencoder(**FAST).fit(frame)
    np.testing.assert_array_equal(vae.feature_names_in_, ["a", "b", "c"])
    np.testing.assert_array_equal(
        vae.get_feature_names_out(), ["variationalautoencoder0", "variationalautoencoder1"]
    )
    out = vae.set_output(transform="pandas").transform(frame)
    assert list(out.columns) == ["variationalautoencoder0", "variationalautoencoder1"]


def test_refitting_equals_fitting_afresh(digits):
    X = digits[0][:120]
    refitted = VariationalAutoencoder(**FAST).fit(X[:60]).fit(X)
    fresh = VariationalAutoencoder(**FAST).fit(X)
    np.testing.assert_array_equal(refitted.transform(X), fresh.transform(X))
