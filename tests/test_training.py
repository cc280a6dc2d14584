"""The training run's pieces, tested without a full fit where they can be."""

import io
import math
import pickle

import numpy as np
import pytest

from skvae import VAEImputer, VariationalAutoencoder, _distribute, _seeding, _training
from skvae._backends import backend


def test_split_rows_is_disjoint_sorted_and_never_empties_training():
    train, validation = _training.split_rows(10, 0.3, seed=0)
    assert len(validation) == 3 and len(train) == 7
    assert sorted({*train, *validation}) == list(range(10))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(validation) > 0)
    train, validation = _training.split_rows(1, 0.9, seed=0)
    assert list(train) == [0] and len(validation) == 0


def test_extend_history_pads_missing_curves_with_nan():
    first = {"loss": [3.0, 2.0], "val_loss": [3.5, 2.5]}
    more = {"loss": [1.0]}
    merged = _training.extend_history(first, more, n_epochs=2)
    assert merged["loss"] == [3.0, 2.0, 1.0]
    assert merged["val_loss"][:2] == [3.5, 2.5] and math.isnan(merged["val_loss"][2])
    merged = _training.extend_history(more, first, n_epochs=1)
    assert math.isnan(merged["val_loss"][0]) and merged["val_loss"][1:] == [3.5, 2.5]


def test_network_parameters_compare_lists_and_tuples_alike():
    _training.check_network_unchanged({"conv_filters": (4, 8)}, {"conv_filters": [4, 8]})
    with pytest.raises(ValueError, match=r"conv_filters changed from \(4, 8\) to \[4\]"):
        _training.check_network_unchanged({"conv_filters": (4, 8)}, {"conv_filters": [4]})


def test_draw_seeds_are_reproducible_and_distinct():
    seeds = _seeding.draw_seeds(0)
    assert seeds == _seeding.draw_seeds(0)
    assert len(set(seeds)) == 4


def test_verbose_1_writes_a_plain_line_per_epoch_off_a_terminal(capfd):
    X = np.random.default_rng(0).random((40, 3))
    VariationalAutoencoder(epochs=3, verbose=1, early_stopping=False, random_state=0).fit(X)
    out = capfd.readouterr().out
    lines = out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("loss: " in line for line in lines)
    assert all(line.isprintable() for line in lines)
    assert out.endswith("\n") and "\r" not in out and "\x1b" not in out
    assert "step" not in out  # Keras' own per-step bar is not shown


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_1_draws_a_live_bar_on_a_terminal_from_the_first_batch():
    terminal = _Terminal()
    bar = _training.EpochProgressBar(2, stream=terminal)
    bar.set_params({"epochs": 2, "steps": 4})
    bar.on_train_begin()
    bar.on_epoch_begin(0)
    # Drawn when the first epoch begins, not after it ends.
    assert terminal.getvalue() == "\repoch 1/2 [....................] 0/4"
    bar.REDRAW_INTERVAL = 0.0
    bar.on_train_batch_end(1, {"loss": 2.0})
    last = terminal.getvalue().rsplit("\r", 1)[1]
    assert last == "epoch 1/2 [==========..........] 2/4 - loss: 2"
    bar.on_epoch_end(0, {"loss": 1.5, "val_loss": 1.75})
    last = terminal.getvalue().rsplit("\r", 1)[1]
    assert last.startswith("epoch 1/2 [====================] 4/4 - loss: 1.5 - val_loss: 1.75 - ")
    assert last.rstrip().endswith("s")
    bar.on_train_end()
    assert terminal.getvalue().endswith("\n") and "\x1b" not in terminal.getvalue()


def _gradient_steps(estimator):
    return int(estimator._trainer.optimizer.iterations.numpy())


def test_auto_epochs_repeat_a_small_table_to_fill_an_epoch():
    X = np.random.default_rng(0).normal(size=(100, 4))
    tiny = dict(hidden_layer_sizes=(4,), batch_size=32, validation_fraction=0.2, random_state=0)
    vae = VariationalAutoencoder(n_iter_no_change=1, **tiny).fit(X)
    # 80 training rows are 3 batches; every epoch runs MIN_STEPS_PER_EPOCH steps.
    assert 1 < vae.n_iter_ <= _training.AUTO_EPOCHS
    assert _gradient_steps(vae) == vae.n_iter_ * _training.MIN_STEPS_PER_EPOCH
    # An int counts passes, as before.
    passes = VariationalAutoencoder(epochs=3, early_stopping=False, **tiny).fit(X)
    assert passes.n_iter_ == 3 and _gradient_steps(passes) == 3 * 3
    # partial_fit is one pass (of all 100 rows: 4 batches) whatever epochs says.
    steps_before = _gradient_steps(vae)
    vae.partial_fit(X)
    assert _gradient_steps(vae) == steps_before + 4


def test_auto_epochs_leave_a_long_pass_alone():
    schedule = _training.Schedule.from_epochs(
        "auto",
        complete_images=True,
        batch_size=2,
        learning_rate=1e-3,
        learning_rate_schedule="constant",
        validation_fraction=0.0,
        early_stopping=False,
        n_iter_no_change=5,
        verbose=0,
    )
    assert schedule.epochs == _training.AUTO_EPOCHS_COMPLETE_IMAGES
    X = np.zeros((2 * _training.MIN_STEPS_PER_EPOCH + 2, 1), np.float32)
    inputs = _distribute.fit_inputs(
        X,
        np.arange(len(X)),
        np.arange(0),
        batch_size=2,
        sample_shape=(1,),
        scale=1.0,
        seed=0,
        min_steps_per_epoch=schedule.min_steps_per_epoch,
    )
    assert "steps_per_epoch" not in inputs
    assert int(inputs["x"].cardinality()) == _training.MIN_STEPS_PER_EPOCH + 1


def test_annealed_learning_rate_warms_up_then_follows_half_a_cosine():
    def rate(*args):
        return float(_training.annealed_learning_rate(*args))

    assert [rate(step, 100, 2.0, 4) for step in range(4)] == [0.5, 1.0, 1.5, 2.0]
    assert rate(4, 100, 2.0, 4) == 2.0  # the cosine starts at the peak
    assert rate(52, 100, 2.0, 4) == pytest.approx(1.0)  # half-way through the decay
    assert rate(100, 100, 2.0, 4) == pytest.approx(0.0, abs=1e-7)
    assert rate(150, 100, 2.0, 4) == pytest.approx(0.0, abs=1e-7)  # never rises again
    assert rate(0, 10, 3.0, 0) == 3.0  # no warm-up: the first step is at the peak
    decay = [rate(step, 100, 2.0, 4) for step in range(4, 101)]
    assert np.all(np.diff(decay) < 0)


def test_warm_up_lasts_a_fraction_of_a_long_fit_and_a_fixed_number_of_steps_of_a_short_one():
    warm_up = _training.warm_up_steps
    assert _training.MIN_WARM_UP_STEPS == 100
    # The default fits of images (10 epochs of 250 steps) and tables (30 of 250).
    assert warm_up(2500) == 125 and warm_up(7500) == 375
    # A 2-epoch fit of 6,000 digits in batches of 32: 5% would be 19 steps.
    assert warm_up(376) == 100
    # Too short for both: the first half warms up, the second anneals.
    assert warm_up(94) == 47 and warm_up(3) == 1 and warm_up(1) == 1


@pytest.mark.parametrize(("alpha", "epochs"), [(5000, 2), ("auto", 2)])
def test_a_short_fit_learns_more_than_the_mean_image(digits, alpha, epochs):
    # 2 epochs of 57 steps: with a warm-up of 5% of them, and the decoder
    # starting at sigmoid(0) = 0.5 on dark images, Adam's first steps took
    # its output into the sigmoid's flat tail within a dozen steps; the fit
    # then ended at (or worse than) the mean image. (One epoch of "auto" is
    # at the mean image for some seeds on either backend: too short a fit.)
    images = np.kron(digits[0].reshape(-1, 8, 8), np.ones((2, 2), np.float32))
    X = images.reshape(len(images), -1)
    vae = VariationalAutoencoder(
        image_shape=(16, 16),
        latent_dim=2,
        alpha=alpha,
        epochs=epochs,
        validation_fraction=0.0,
        early_stopping=False,
        random_state=0,
    ).fit(X)
    mean_image_mse = np.mean((X - X.mean(axis=0)) ** 2)
    mse = np.mean((vae.inverse_transform(vae.transform(X)) - X) ** 2)
    assert mse < 0.95 * mean_image_mse
    assert vae.history_["kl_loss"][-1] > 1.0


def _plan(estimator):
    """The trainer's learning-rate plan: (peak, start, steps, warm-up steps)."""
    plan = estimator._trainer.learning_rate_plan
    return tuple(
        pytest.approx(float(variable.numpy()))
        for variable in (plan.peak, plan.start, plan.steps, plan.warm_up_steps)
    )


def _learning_rate(estimator):
    """The rate Adam would take its next step at."""
    return float(estimator._trainer.optimizer.learning_rate)


def test_the_learning_rate_plan_follows_the_optimisers_own_steps():
    optimizer = backend.adam(plan := _training.AnnealedLearningRate())
    plan.build(optimizer, peak=0.5)
    assert float(plan(7)) == 0.5  # unplanned: the constant peak
    plan.plan(peak=2.0, start=30, steps=100, warm_up_steps=4)
    for step in (0, 2, 4, 52, 99, 100, 150):
        assert float(plan(30 + step)) == pytest.approx(
            float(_training.annealed_learning_rate(step, 100, 2.0, 4))
        )
    plan.plan(peak=0.25, start=130, steps=0, warm_up_steps=0)
    assert float(plan(131)) == 0.25
    # The plan lives in the optimiser, where JAX's stateless step reads it.
    names = {variable.name for variable in optimizer.variables}
    assert {"peak_learning_rate", "planned_from_step", "planned_steps", "warm_up_steps"} <= names


def test_cosine_schedule_warms_up_a_new_optimiser_only():
    X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    vae = VariationalAutoencoder(
        hidden_layer_sizes=(4,),
        epochs=3,
        batch_size=16,
        learning_rate=0.01,
        validation_fraction=0.0,
        early_stopping=False,
        random_state=0,
    ).fit(X)
    # A fresh fit: 3 passes of 4 steps, with a warm-up over the first half
    # (shorter than MIN_WARM_UP_STEPS), annealed to zero at its last step.
    assert _plan(vae) == (0.01, 0, 12, 6)
    assert _gradient_steps(vae) == 12 and _learning_rate(vae) == pytest.approx(0.0, abs=1e-9)
    # A continued fit keeps Adam's state: it anneals over its own steps, without a warm-up.
    vae.set_params(warm_start=True, epochs=2, learning_rate=0.02).fit(X)
    assert _plan(vae) == (0.02, 12, 8, 0)
    # partial_fit trains at the constant learning rate.
    vae.partial_fit(X)
    assert _plan(vae) == (0.02, 20, 0, 0) and _learning_rate(vae) == pytest.approx(0.02)
    # An unpickled estimator has no optimiser state saved: its continued fit warms up again.
    unpickled = pickle.loads(pickle.dumps(vae)).fit(X)
    assert _plan(unpickled) == (0.02, 0, 8, 4)


def test_constant_schedule_keeps_the_learning_rate():
    X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    vae = VariationalAutoencoder(
        hidden_layer_sizes=(4,),
        epochs=2,
        learning_rate=0.01,
        learning_rate_schedule="constant",
        random_state=0,
    ).fit(X)
    assert _plan(vae)[2] == 0 and _learning_rate(vae) == pytest.approx(0.01)


def test_steps_run_together_train_as_steps_run_one_by_one(monkeypatch):
    # Each step takes its own learning rate and batch however many steps one
    # call of the training function runs: an epoch of repeated rows
    # (epochs="auto") and one-pass epochs whose last call runs fewer steps.
    X = np.random.default_rng(0).normal(size=(90, 4)).astype(np.float32)
    weights = {}
    for steps_per_execution in (1, _training.STEPS_PER_EXECUTION):
        monkeypatch.setattr(_training, "STEPS_PER_EXECUTION", steps_per_execution)
        for epochs in ("auto", 7):
            vae = VariationalAutoencoder(
                hidden_layer_sizes=(4,), epochs=epochs, batch_size=16, random_state=0
            ).fit(X)
            weights[steps_per_execution, epochs] = (
                vae.encoder_.get_weights() + vae.decoder_.get_weights(),
                vae.n_iter_,
            )
    for epochs in ("auto", 7):
        (one, n_one), (together, n_together) = (
            weights[1, epochs],
            weights[_training.STEPS_PER_EXECUTION, epochs],
        )
        assert n_one == n_together
        for a, b in zip(one, together, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_an_auto_epoch_is_a_whole_number_of_calls():
    # A call stops early only where its data end: an epoch of repeated rows
    # must be a multiple of it, or its last call runs into the next epoch.
    assert _training.MIN_STEPS_PER_EPOCH % _training.STEPS_PER_EXECUTION == 0


@pytest.mark.parametrize(
    ("estimator", "images", "complete_images"),
    [
        (VariationalAutoencoder(), True, True),
        (VariationalAutoencoder(), False, False),
        (VAEImputer(), True, False),  # mask augmentation hides entries: the long budget
        (VAEImputer(mask_augmentation=False), True, True),
    ],
    ids=["vae-images", "vae-table", "imputer-images", "imputer-images-no-augmentation"],
)
def test_auto_epochs_are_short_only_for_complete_images(
    monkeypatch, estimator, images, complete_images
):
    seen = []
    from_epochs = _training.Schedule.from_epochs.__func__

    def recording(cls, epochs, **settings):
        seen.append(settings["complete_images"])
        return from_epochs(cls, epochs, **settings)

    monkeypatch.setattr(_training.Schedule, "from_epochs", classmethod(recording))
    X = np.random.default_rng(0).random((24, 8, 8, 1)).astype(np.float32)
    if not images:
        X = X.reshape(24, 64)
    tiny = dict(latent_dim=2, conv_filters=(4,), conv_strides=(2,), hidden_layer_sizes=(4,))
    estimator.set_params(epochs=1, batch_size=12, random_state=0, **tiny).fit(X)
    assert seen == [complete_images]
