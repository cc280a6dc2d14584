"""skvae.plotting displays, drawn with matplotlib's Agg backend."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import skvae  # noqa: E402
from skvae import VariationalAutoencoder  # noqa: E402
from skvae.plotting import (  # noqa: E402
    InterpolationDisplay,
    LatentSpaceDisplay,
    LossCurveDisplay,
    ReconstructionDisplay,
    SamplesDisplay,
)

TINY = dict(epochs=2, batch_size=16, conv_filters=(4, 8), conv_strides=(1, 2), random_state=0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def digits_vae(digits):
    X, y = digits
    vae = VariationalAutoencoder(image_shape=(8, 8), **TINY).fit(X[:150])
    return vae, X[:150], y[:150]


@pytest.fixture(scope="module")
def colour_vae():
    images = np.random.default_rng(0).random((40, 8, 8, 3)).astype(np.float32)
    return VariationalAutoencoder(**TINY).fit(images), images


def run_python(code):
    """Standard output of ``code`` run in a fresh interpreter."""
    # The child imports the same skvae as these tests (checkout or installed).
    env = {**os.environ, "PYTHONPATH": str(Path(skvae.__file__).parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return result.stdout


def test_skvae_works_without_matplotlib_and_plotting_says_what_is_missing():
    # TensorFlow itself imports matplotlib when it is installed, so the test
    # hides it (a None entry in sys.modules makes every import of it fail).
    code = """
import sys
sys.modules["matplotlib"] = None
import numpy as np
import skvae, skvae.plotting
X = np.random.default_rng(0).random((20, 16))
vae = skvae.VariationalAutoencoder(
    image_shape=(4, 4), epochs=1, batch_size=8, random_state=0
).fit(X)
try:
    skvae.plotting.SamplesDisplay.from_estimator(vae, 4)
except ImportError as error:
    print(error)
"""
    assert "skvae.plotting needs matplotlib" in run_python(code)


def test_importing_plotting_loads_neither_tensorflow_nor_matplotlib():
    # The displays share their input checks with the estimator through
    # skvae._validation, which must stay free of TensorFlow for this to hold.
    code = """
import sys
import skvae.plotting
print(sorted({"tensorflow", "keras", "matplotlib"} & set(sys.modules)))
"""
    assert run_python(code).strip() == "[]"


def test_latent_space_plots_the_latent_means_coloured_by_label(digits_vae):
    vae, X, y = digits_vae
    display = LatentSpaceDisplay.from_estimator(vae, X, y)

    np.testing.assert_allclose(display.scatter_.get_offsets(), vae.transform(X), rtol=1e-6)
    np.testing.assert_array_equal(display.scatter_.get_array(), y)
    assert display.colorbar_ is not None
    assert display.ax_.get_xlabel() == "z[0]"
    assert display.figure_ is display.ax_.figure


def test_latent_space_draws_on_the_given_axes_and_picks_dims():
    latent = np.arange(12.0).reshape(4, 3)
    figure, ax = plt.subplots()
    display = LatentSpaceDisplay(latent).plot(ax=ax, dims=(2, 0))
    assert display.ax_ is ax and display.figure_ is figure
    np.testing.assert_array_equal(display.scatter_.get_offsets(), latent[:, [2, 0]])
    assert display.colorbar_ is None
    with pytest.raises(ValueError, match="dims"):
        LatentSpaceDisplay(latent).plot(dims=(0, 3))
    with pytest.raises(ValueError, match="labels must have shape"):
        LatentSpaceDisplay(latent, labels=[1, 2]).plot()


def test_reconstruction_grid_holds_originals_above_reconstructions(digits_vae):
    vae, X, _ = digits_vae
    display = ReconstructionDisplay.from_estimator(vae, X, n_images=5)

    mosaic = display.image_.get_array()
    assert mosaic.shape == (2 * 8 + 1, 5 * 8 + 4)
    np.testing.assert_allclose(mosaic[:8, :8], X[0].reshape(8, 8))
    reconstruction = vae.inverse_transform(vae.transform(X[:1]))[0].reshape(8, 8)
    np.testing.assert_allclose(mosaic[9:17, :8], reconstruction, rtol=1e-5)
    assert mosaic.mask[8].all(), "the gap between rows is left blank"
    labels = [label.get_text() for label in display.ax_.get_yticklabels()]
    assert labels == ["original", "reconstruction"]


def test_denoising_grid_encodes_the_corrupted_input(digits_vae):
    vae, X, _ = digits_vae
    noisy = np.clip(X + 0.3, 0, 1)
    display = ReconstructionDisplay.from_estimator(vae, X, X_corrupted=noisy, n_images=3)

    mosaic = display.image_.get_array()
    assert mosaic.shape == (3 * 8 + 2, 3 * 8 + 2)
    np.testing.assert_allclose(mosaic[9:17, :8], noisy[0].reshape(8, 8))
    denoised = vae.inverse_transform(vae.transform(noisy[:1]))[0].reshape(8, 8)
    np.testing.assert_allclose(mosaic[18:26, :8], denoised, rtol=1e-5)
    labels = [label.get_text() for label in display.ax_.get_yticklabels()]
    assert labels == ["original", "corrupted", "reconstruction"]


def test_three_channel_images_are_drawn_as_rgb(colour_vae):
    vae, images = colour_vae
    display = ReconstructionDisplay.from_estimator(vae, images, n_images=2)
    rgba = display.image_.get_array()
    assert rgba.shape == (17, 17, 4)
    np.testing.assert_allclose(rgba[:8, :8, :3], images[0])
    assert rgba[8, :, 3].max() == 0, "the gap between rows is transparent"

    samples = SamplesDisplay.from_estimator(vae, 4, random_state=0)
    assert samples.image_.get_array().shape == (17, 17, 4)
    strip = InterpolationDisplay.from_estimator(vae, images[0], images[1], n_steps=3)
    assert strip.image_.get_array().shape == (8, 26, 4)


def test_rgb_outside_the_unit_interval_is_rescaled_not_clipped():
    images = np.stack([np.full((2, 2, 3), -1.0), np.full((2, 2, 3), 3.0)])
    rgba = SamplesDisplay(images).plot(n_cols=2).image_.get_array()
    assert rgba[0, 0, 0] == 0.0 and rgba[0, 3, 0] == 1.0


def test_samples_grid_matches_sample(digits_vae):
    vae, _, _ = digits_vae
    display = SamplesDisplay.from_estimator(vae, 6, random_state=0, n_cols=3)
    mosaic = display.image_.get_array()
    assert mosaic.shape == (2 * 8 + 1, 3 * 8 + 2)
    expected = vae.sample(6, random_state=0)
    np.testing.assert_allclose(mosaic[9:17, 18:26], expected[5].reshape(8, 8), rtol=1e-5)


def test_interpolation_draws_one_strip_per_pair(digits_vae):
    vae, X, _ = digits_vae
    display = InterpolationDisplay.from_estimator(vae, X[:3], X[3:6], n_steps=4)
    mosaic = display.image_.get_array()
    assert mosaic.shape == (3 * 8 + 2, 4 * 8 + 3)
    path = vae.interpolate(X[1], X[4], n_steps=4)
    np.testing.assert_allclose(mosaic[9:17, 27:35], path[3].reshape(8, 8), rtol=1e-5)

    single = InterpolationDisplay.from_estimator(vae, X[0].reshape(8, 8), X[1], n_steps=4)
    assert single.image_.get_array().shape == (8, 35)
    with pytest.raises(ValueError, match="as many samples"):
        InterpolationDisplay.from_estimator(vae, X[:2], X[2:5])


def test_loss_curves_follow_history(digits_vae):
    vae, _, _ = digits_vae
    _, ax = plt.subplots()
    display = LossCurveDisplay.from_estimator(vae, ax=ax)

    assert display.ax_ is ax
    assert set(display.lines_) == {"loss", "val_loss"}
    np.testing.assert_allclose(display.lines_["loss"].get_ydata(), vae.history_["loss"])
    np.testing.assert_array_equal(display.lines_["loss"].get_xdata(), [1, 2])
    kl = LossCurveDisplay(vae.history_).plot(keys=("kl_loss",), logy=True)
    assert list(kl.lines_) == ["kl_loss"] and kl.ax_.get_yscale() == "log"


def test_loss_curves_skip_missing_validation_but_not_other_keys():
    display = LossCurveDisplay({"loss": [2.0, 1.0]}).plot()
    assert list(display.lines_) == ["loss"]
    with pytest.raises(ValueError, match="history has no \\['kl_loss'\\]"):
        LossCurveDisplay({"loss": [2.0, 1.0]}).plot(keys=("kl_loss",))
    with pytest.raises(TypeError, match="history must be a dict"):
        LossCurveDisplay([1.0, 2.0]).plot()


def test_image_displays_refuse_tabular_models():
    X = np.random.default_rng(0).random((30, 5))
    vae = VariationalAutoencoder(epochs=1, batch_size=8, random_state=0).fit(X)
    with pytest.raises(ValueError, match="no image shape is known"):
        SamplesDisplay.from_estimator(vae, 4)
    mismatch = r"image_shape=\(2, 2\) does not fit images with 5 features"
    with pytest.raises(ValueError, match=mismatch):
        SamplesDisplay(X[:4], image_shape=(2, 2)).plot()


@pytest.mark.parametrize("shape", [(3, 4, 4, 2), (3, 4, 4, 4), (3, 2, 2, 2, 1)])
def test_only_one_or_three_channel_images_are_drawn(shape):
    with pytest.raises(ValueError, match="one- or three-channel images"):
        SamplesDisplay(np.zeros(shape)).plot()


def test_displays_need_a_fitted_estimator():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SamplesDisplay.from_estimator(VariationalAutoencoder())
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(VariationalAutoencoder())
