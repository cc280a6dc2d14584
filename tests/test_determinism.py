"""Same seed, same bits: in one process, across fresh processes, no global side effects."""

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import skvae
from skvae import VariationalAutoencoder

TINY = dict(
    latent_dim=2,
    epochs=2,
    batch_size=16,
    conv_filters=(4, 8),
    conv_strides=(1, 2),
    n_importance_samples=3,
)

# Runs in a fresh interpreter; prints digests of every random-dependent output.
_FIT_AND_HASH = textwrap.dedent(
    """
    import hashlib, json, sys
    import numpy as np
    from skvae import VariationalAutoencoder

    def fit_and_hash(seed, params):
        X = np.random.default_rng(0).random((120, 8, 8, 1)).astype(np.float32)
        vae = VariationalAutoencoder(random_state=seed, **params).fit(X)
        outputs = {
            "transform": vae.transform(X),
            "sample": vae.sample(6, random_state=1),
            "score_samples": vae.score_samples(X),
        }
        return {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in outputs.items()}

    if __name__ == "__main__":
        print(json.dumps(fit_and_hash(int(sys.argv[1]), json.loads(sys.argv[2]))))
    """
)


def _fit_and_hash(seed):
    namespace = {"__name__": "fit_and_hash"}
    exec(_FIT_AND_HASH, namespace)  # the very code the subprocesses run
    return namespace["fit_and_hash"](seed, TINY)


def test_same_seed_is_bitwise_identical_across_fresh_processes():
    package_root = str(Path(skvae.__file__).resolve().parent.parent)
    # Float sums depend on how many threads split them, so the children must
    # run TensorFlow with this process's pools; skvae sizes them from
    # OMP_NUM_THREADS, which other libraries may have left in os.environ.
    parent_env = dict(os.environ)
    parent_env.pop("OMP_NUM_THREADS", None)
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    if threads:
        parent_env["OMP_NUM_THREADS"] = str(threads)
    processes = []
    for hash_seed in ("1", "2"):  # also shows nothing depends on str hashing
        env = dict(
            parent_env,
            PYTHONHASHSEED=hash_seed,
            PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        command = [sys.executable, "-c", _FIT_AND_HASH, "0", json.dumps(TINY)]
        processes.append(
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
    in_process = _fit_and_hash(0)
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()[-2000:]
        results.append(json.loads(stdout.decode().strip().splitlines()[-1]))
    assert results[0] == results[1]
    assert results[0] == in_process


def test_different_seeds_give_different_models():
    first, second = _fit_and_hash(0), _fit_and_hash(1)
    for name in first:
        assert first[name] != second[name], name


@pytest.fixture(scope="module")
def fitted():
    X = np.random.default_rng(1).random((80, 5))
    return VariationalAutoencoder(random_state=0, **TINY).fit(X), X


def _global_random_states():
    numpy_state = np.random.get_state()  # noqa: NPY002 (the global state is under test)
    return (numpy_state[0], numpy_state[1].copy(), *numpy_state[2:]), random.getstate()


def _assert_same_states(before, after):
    (numpy_before, python_before), (numpy_after, python_after) = before, after
    assert numpy_before[0] == numpy_after[0]
    np.testing.assert_array_equal(numpy_before[1], numpy_after[1])
    assert numpy_before[2:] == numpy_after[2:]
    assert python_before == python_after


def test_seeded_calls_leave_global_random_state_alone(fitted):
    _, X = fitted
    np.random.seed(123)  # noqa: NPY002 (the global state is under test)
    random.seed(123)
    before = _global_random_states()
    vae = VariationalAutoencoder(random_state=0, **TINY).fit(X)
    vae.transform(X)
    vae.sample(5, random_state=0)
    vae.sample(5, random_state=np.random.RandomState(4))
    vae.score_samples(X)
    vae.score(X)
    _assert_same_states(before, _global_random_states())


def test_sample_with_explicit_random_state_is_reproducible(fitted):
    vae, _ = fitted
    first = vae.sample(7, random_state=5)
    np.testing.assert_array_equal(vae.sample(7, random_state=5), first)
    np.testing.assert_array_equal(vae.sample(7, random_state=np.random.RandomState(5)), first)
    assert not np.array_equal(vae.sample(7, random_state=6), first)
    # A generator passed in is advanced, so consecutive calls differ, as in scikit-learn.
    generator = np.random.RandomState(5)
    np.testing.assert_array_equal(vae.sample(7, random_state=generator), first)
    assert not np.array_equal(vae.sample(7, random_state=generator), first)


@pytest.mark.parametrize("n_importance_samples", [1, 10])
def test_score_samples_is_reproducible_and_row_independent(
    fitted, n_importance_samples, monkeypatch
):
    vae, X = fitted
    # An inference setting, read when scoring: the shared fitted model serves both.
    monkeypatch.setattr(vae, "n_importance_samples", n_importance_samples)
    scores = vae.score_samples(X)
    np.testing.assert_array_equal(vae.score_samples(X), scores)
    # A sample's score does not depend on which other rows came with it: its
    # draws are its own (rows sharing draws would differ by far more). Only
    # float32 rounding moves, as the networks and the Student's t likelihood
    # of this table run on batches of another shape.
    np.testing.assert_allclose(vae.score_samples(X[5:9]), scores[5:9], rtol=1e-6)
    np.testing.assert_allclose(vae.score_samples(X[::-1]), scores[::-1], rtol=1e-6)
    assert np.all(np.isfinite(scores))


def test_unseeded_fit_still_leaves_python_random_alone(fitted):
    _, X = fitted
    random.seed(7)
    before = random.getstate()
    VariationalAutoencoder(**{**TINY, "epochs": 1}).fit(X)
    assert random.getstate() == before
