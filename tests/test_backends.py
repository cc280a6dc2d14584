"""skvae on each Keras backend: JAX without TensorFlow, model files across backends.

The tests that need another backend than the one this process runs on start
a fresh interpreter with ``KERAS_BACKEND`` set, since Keras picks its
backend once per process. Those on JAX are skipped when JAX is not installed
(the ``jax`` extra).
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from skvae import VariationalAutoencoder, _backends
from skvae._backends import backend

needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="JAX is not installed (pip install 'skvae[jax]')",
)


def _run(code, keras_backend, *args):
    """Run ``code`` in a fresh interpreter on ``keras_backend``; return its last stdout line."""
    environment = {**os.environ, "KERAS_BACKEND": keras_backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout.strip().splitlines()[-1]


# Fits, transforms, scores, samples, imputes, saves and loads on one backend;
# prints what TensorFlow left in sys.modules and the outputs' dtypes.
_EVERYTHING_ON_ONE_BACKEND = """
    import json, os, sys, tempfile
    import numpy as np
    import skvae
    from skvae import VAEImputer, VariationalAutoencoder

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    vae = VariationalAutoencoder(epochs=2, batch_size=16, random_state=0).fit(X)
    images = rng.integers(0, 256, (48, 64)).astype(np.uint8)
    image_vae = VariationalAutoencoder(
        epochs=1, batch_size=16, image_shape=(8, 8, 1), random_state=0,
        conv_filters=(4,), conv_strides=(2,),
    ).fit(images)
    missing = X.copy()
    missing[rng.random(X.shape) < 0.2] = np.nan
    imputer = VAEImputer(epochs=2, batch_size=16, random_state=0).fit(missing)
    filled = imputer.transform(missing)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "table.skvae")
        skvae.save(vae, path)
        loaded = skvae.load(path)
    print(json.dumps({
        "tensorflow": sorted(name for name in sys.modules if name.split(".")[0] == "tensorflow"),
        "transform": vae.transform(X).dtype.name,
        "score_samples": vae.score_samples(X).dtype.name,
        "image_score": image_vae.score_samples(images[:5]).dtype.name,
        "sample": vae.sample(3, random_state=0).shape,
        "imputed_nan": int(np.isnan(filled).sum()),
        "observed_kept": bool(np.array_equal(filled[~np.isnan(missing)], X[~np.isnan(missing)])),
        "loaded_same": bool(np.array_equal(loaded.transform(X), vae.transform(X))),
        "transform_digest": float(vae.transform(X).sum()),
    }))
"""


@pytest.fixture(scope="module")
def jax_outputs():
    return json.loads(_run(_EVERYTHING_ON_ONE_BACKEND, "jax"))


@needs_jax
def test_everything_runs_on_jax_without_importing_tensorflow(jax_outputs):
    outputs = dict(jax_outputs)
    assert outputs.pop("tensorflow") == []
    assert outputs["score_samples"] == outputs["image_score"] == "float64"
    assert outputs["sample"] == [3, 4]
    assert outputs["imputed_nan"] == 0
    assert outputs["observed_kept"] and outputs["loaded_same"]


@needs_jax
@pytest.mark.slow
def test_a_seed_gives_the_same_bits_on_jax_in_a_fresh_process(jax_outputs):
    again = json.loads(_run(_EVERYTHING_ON_ONE_BACKEND, "jax"))
    assert again["transform_digest"] == jax_outputs["transform_digest"]


_SAVE = """
    import sys
    import numpy as np
    import skvae
    X = np.random.default_rng(0).normal(size=(60, 3))
    vae = skvae.VariationalAutoencoder(epochs=1, batch_size=16, random_state=0).fit(X)
    skvae.save(vae, sys.argv[1])
    np.save(sys.argv[1] + ".npy", vae.transform(X))
    print("saved")
"""

_LOAD = """
    import sys
    import numpy as np
    import skvae
    X = np.random.default_rng(0).normal(size=(60, 3))
    vae = skvae.load(sys.argv[1])
    difference = np.abs(vae.transform(X) - np.load(sys.argv[1] + ".npy")).max()
    print(float(difference))
"""


@needs_jax
@pytest.mark.slow
@pytest.mark.parametrize(("writer", "reader"), [("tensorflow", "jax"), ("jax", "tensorflow")])
def test_a_model_file_loads_on_the_other_backend(tmp_path, writer, reader):
    path = str(tmp_path / "model.skvae")
    assert _run(_SAVE, writer, path) == "saved"
    # Two backends' kernels round differently in the last float32 bits.
    assert float(_run(_LOAD, reader, path)) < 1e-5


def test_the_backend_module_is_the_one_keras_runs_on():
    assert backend.NAME == keras.backend.backend()


def test_a_backend_skvae_does_not_run_on_is_refused_by_name():
    with pytest.raises(ImportError, match="tensorflow and jax backends, not on 'torch'"):
        _backends._load("torch")


def test_jax_refuses_a_distribute_strategy_with_the_reason():
    if backend.NAME != "jax":
        pytest.skip("tests the JAX backend")
    vae = VariationalAutoencoder(epochs=1, distribute_strategy=object())
    with pytest.raises(ValueError, match="needs Keras' TensorFlow backend"):
        vae.fit(np.zeros((10, 2)))


def test_alpha_auto_without_learned_noise_trains_on_this_backend():
    # The image default: the calibrated loss is chosen by a Keras variable,
    # which JAX's where refused before it was read as an array.
    images = np.random.default_rng(0).integers(0, 256, (32, 36)).astype(np.uint8)
    vae = VariationalAutoencoder(
        epochs=1,
        batch_size=16,
        image_shape=(6, 6, 1),
        random_state=0,
        conv_filters=(4,),
        conv_strides=(2,),
    ).fit(images)
    assert vae._trainer.noise is None
    assert np.all(np.isfinite(vae.history_["loss"]))
    assert vae.score_samples(images).dtype == np.float64
