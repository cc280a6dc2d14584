"""Training that goes wrong never loses the previous model; early stopping keeps the best one.

Divergence and a failed fit on bad input are covered in ``test_estimator.py``.
"""

import signal

import numpy as np
import pytest
from tensorflow.python.framework import config as tf_config

from skvae import VariationalAutoencoder, _training

TINY = dict(architecture="dense", hidden_layer_sizes=(16,), batch_size=32, random_state=0)


def _outputs(vae, X):
    return {
        "transform": vae.transform(X),
        "inverse_transform": vae.inverse_transform(np.linspace(-2, 2, 10).reshape(5, 2)),
        "sample": vae.sample(4, random_state=3),
        "score_samples": vae.score_samples(X),
    }


class _CtrlCOnSecondEpoch(_training.StopOnNonFiniteLoss):
    """Sends SIGINT to this process after the first call of the second epoch's steps.

    (One call runs several steps: ``_training.STEPS_PER_EXECUTION``.)
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.epoch == 1:
            # Python's own SIGINT handler turns this into KeyboardInterrupt, as Ctrl-C does.
            signal.raise_signal(signal.SIGINT)


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler, which turns the signal into KeyboardInterrupt.

    A process started in the background (``nohup``, ``cmd &``, some CI
    runners) inherits SIGINT as ignored, so the tests install it themselves.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_keyboard_interrupt_during_fit_keeps_the_previous_model(
    digits, monkeypatch, ctrl_c_raises
):
    X = digits[0][:300]
    vae = VariationalAutoencoder(epochs=2, **TINY).fit(X)
    before = _outputs(vae, X)
    fitted_state = {k: v for k, v in vars(vae).items() if k not in vae.get_params()}
    weights_before = vae.encoder_.get_weights() + vae.decoder_.get_weights()

    # fit builds its own StopOnNonFiniteLoss; swapping the class injects the Ctrl-C.
    monkeypatch.setattr(_training, "StopOnNonFiniteLoss", _CtrlCOnSecondEpoch)
    vae.set_params(epochs=5, learning_rate=0.05)
    with pytest.raises(KeyboardInterrupt):
        vae.fit(X[::-1])
    monkeypatch.undo()

    assert not tf_config.is_op_determinism_enabled()
    assert vae.epochs == 5  # parameters are the user's; only fitted state is restored
    assert set(fitted_state) == {k for k in vars(vae) if k not in vae.get_params()}
    for name, value in fitted_state.items():
        assert vars(vae)[name] is value, name
    for old, new in zip(
        weights_before, vae.encoder_.get_weights() + vae.decoder_.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(old, new)
    after = _outputs(vae, X)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    # The estimator is still usable: it refits normally after the interrupt.
    vae.set_params(epochs=1).fit(X)
    assert np.all(np.isfinite(vae.transform(X)))


def test_keyboard_interrupt_on_first_fit_leaves_an_unfitted_estimator(
    digits, monkeypatch, ctrl_c_raises
):
    monkeypatch.setattr(_training, "StopOnNonFiniteLoss", _CtrlCOnSecondEpoch)
    vae = VariationalAutoencoder(epochs=3, **TINY)
    with pytest.raises(KeyboardInterrupt):
        vae.fit(digits[0][:300])
    assert not [name for name in vars(vae) if name.endswith("_") and not name.startswith("_")]


def test_early_stopping_restores_the_weights_of_the_best_epoch(digits):
    # This learning rate overshoots after a few epochs, so the validation
    # loss rises again and patience runs out a couple of epochs after its best.
    # A constant rate, so that fits of different lengths take the same steps.
    X = digits[0][:300]
    params = dict(
        TINY,
        alpha=1000.0,
        learning_rate=0.1,
        learning_rate_schedule="constant",
        n_iter_no_change=2,
    )
    stopped = VariationalAutoencoder(epochs=10, early_stopping=True, **params).fit(X)
    best_epoch = int(np.argmin(stopped.history_["val_loss"])) + 1
    assert best_epoch < stopped.n_iter_ < 10, "the scenario must stop after its best epoch"

    # The same seed trained for exactly best_epoch epochs has the best weights.
    best = VariationalAutoencoder(epochs=best_epoch, early_stopping=False, **params).fit(X)
    last = VariationalAutoencoder(epochs=stopped.n_iter_, early_stopping=False, **params).fit(X)
    np.testing.assert_array_equal(
        best.history_["val_loss"], stopped.history_["val_loss"][:best_epoch]
    )

    def weights(vae):
        return vae.encoder_.get_weights() + vae.decoder_.get_weights()

    for restored, expected in zip(weights(stopped), weights(best), strict=True):
        np.testing.assert_array_equal(restored, expected)
    assert any(
        not np.array_equal(restored, final)
        for restored, final in zip(weights(stopped), weights(last), strict=True)
    )
    np.testing.assert_array_equal(stopped.transform(X), best.transform(X))
