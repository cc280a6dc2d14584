"""The training run: its settings, the validation split, the trainer, epochs and history.

The estimator calls :func:`train` inside :func:`restored_on_failure`, so
that a failed or interrupted fit leaves the previous model as it was.
:func:`train` takes typed settings (the network's
:class:`~skvae._model.NetworkStructure`, the :class:`Objective` and the
:class:`Schedule`), splits the rows, builds a trainer (or continues the
fitted one) under the distribution strategy and op determinism, and runs the
epochs; the finiteness check ends a diverged run.
"""

import contextlib
import dataclasses
import math
import sys
import time
import warnings
from typing import NamedTuple

import keras
import numpy as np
from keras import ops

from ._backends import backend
from ._logs import SkvaeWarning
from ._model import (
    NetworkStructure,
    NoiseModel,
    VAETrainer,
    build_decoder,
    build_encoder,
    start_at_mean,
)

#: Smallest learned noise variance, relative to the training data's mean
#: per-feature variance (see ``NoiseModel``).
NOISE_FLOOR = 1e-3

#: ``epochs="auto"``: at most this many epochs of at least
#: ``MIN_STEPS_PER_EPOCH`` gradient steps each. A table's learned noise (a
#: Student's t scale and degrees of freedom per feature) keeps improving the
#: likelihood for thousands of steps, and so does an imputer that learns to
#: fill the entries its mask augmentation hides.
AUTO_EPOCHS = 30

#: ``epochs="auto"`` for images trained on their complete rows: their
#: batch-calibrated noise needs no steps of its own, and each step costs
#: about a hundred times a table's (``benchmarks/README.md``, "Time to a
#: good model").
AUTO_EPOCHS_COMPLETE_IMAGES = 10

#: ``learning_rate_schedule="cosine"``: the part of a fresh fit's planned
#: steps over which the learning rate rises from zero to ``learning_rate``,
#: while Adam's moment estimates are still unreliable.
WARM_UP_FRACTION = 0.05

#: ...but never fewer than this many steps (or half the fit, if it is
#: shorter): how long Adam's moment estimates take to settle does not depend
#: on how long the fit will be. A short fit that reached the peak within a
#: few dozen steps took full-size steps in every weight at once, drove the
#: decoder's sigmoid output deep into saturation (a blank image), where the
#: reconstruction error has no gradient left, and never recovered, whatever
#: the objective ("Short fits" in ``benchmarks/README.md``).
MIN_WARM_UP_STEPS = 100

#: An ``epochs="auto"`` epoch repeats the rows of a small training set until
#: it has this many gradient steps: early stopping then judges (and waits
#: ``n_iter_no_change`` epochs for) a table of 500 rows after as many steps
#: as a large data set, instead of after a few dozen, and the per-epoch costs
#: (validation, callbacks) stay a small part of the fit.
MIN_STEPS_PER_EPOCH = 250

#: Gradient steps that each call into the traced training function runs
#: (Keras' ``steps_per_execution``). A table's step is so small that
#: dispatching it from Python, and the callbacks between steps, cost more
#: than the step itself. A call stops early only where its data end (a
#: one-pass epoch's last call), so this divides ``MIN_STEPS_PER_EPOCH``,
#: the steps of an epoch of repeated rows; the endless datasets of a
#: ``tf.distribute`` strategy train one step per call. The learning rate is
#: set inside the step (:class:`AnnealedLearningRate`), so every step still
#: trains at its own rate.
STEPS_PER_EXECUTION = 25

#: ``n_training_draws="auto"`` on a table: MIWAE's number of draws (Mattei
#: and Frellsen, 2019), which imputes small tables better than one draw
#: (``benchmarks/README.md``, "Tables").
TABLE_TRAINING_DRAWS = 20

#: Parameters that define the network: its structure's, and the layout's. A
#: continued fit (``warm_start``, ``partial_fit``) trains the network it has,
#: so they may not change until a fresh fit; the others (``alpha``,
#: ``learning_rate``, ``epochs``, ...) reach the next training step whenever
#: they change.
NETWORK_PARAMETERS = (
    *NetworkStructure.parameter_names(),
    "image_shape",
    "architecture",
    "output_activation",
    "likelihood",
    # Fixed in the traced training step: the noise model and the draws.
    "noise_scale",
    "n_training_draws",
)


@dataclasses.dataclass(frozen=True)
class Objective:
    """What training minimises (the decoder's likelihood is the layout's).

    Attributes:
        alpha: Weight of the reconstruction term, or ``"auto"`` for the
            calibrated negative ELBO (see ``VAETrainer``).
        mask_augmentation: Whether training hides a random part of each
            row's observed entries from the encoder (``VAETrainer``).
        n_draws: Latent draws per row (the importance-weighted bound for
            more than one).
        learned_noise: ``"feature"`` or ``"shared"`` to learn the decoder's
            noise (a :class:`~skvae._model.NoiseModel`, one variance per
            feature or one for all), None to train on ``alpha``.
        categorical_weight: How many times a mixed table's categorical
            columns count in the reconstruction term.
    """

    alpha: float | str
    mask_augmentation: bool = False
    n_draws: int = 1
    learned_noise: str | None = None
    categorical_weight: float = 1.0


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How training runs: its length, batches, step size, hold-out and stopping rule.

    Attributes:
        epochs: Most epochs to run.
        batch_size: Rows per gradient step (clipped to the training rows).
        learning_rate: Adam's step size (the peak of an annealed schedule).
        learning_rate_schedule: ``"cosine"`` (warm up, then anneal to zero
            over the planned steps; see :func:`annealed_learning_rate`) or
            ``"constant"``.
        validation_fraction: Rows held out for validation losses and early
            stopping (0 holds out nothing).
        early_stopping: Whether to stop after ``n_iter_no_change`` epochs
            without improvement, restoring the best weights.
        n_iter_no_change: Patience of early stopping, in epochs.
        verbose: Keras' verbosity (1: one progress bar over the epochs).
        min_steps_per_epoch: Gradient steps an epoch has at least; training
            sets of fewer batches are repeated within an epoch (0: an epoch is
            one pass).
    """

    epochs: int
    batch_size: int
    learning_rate: float
    learning_rate_schedule: str
    validation_fraction: float
    early_stopping: bool
    n_iter_no_change: int
    verbose: int
    min_steps_per_epoch: int = 0

    @classmethod
    def from_epochs(cls, epochs, *, complete_images, **settings):
        """The schedule of the ``epochs`` parameter: a number of passes, or ``"auto"``.

        ``complete_images``: whether the rows are images that train without
        mask augmentation (see :data:`AUTO_EPOCHS_COMPLETE_IMAGES`).
        """
        if epochs == "auto":
            return cls(
                AUTO_EPOCHS_COMPLETE_IMAGES if complete_images else AUTO_EPOCHS,
                min_steps_per_epoch=MIN_STEPS_PER_EPOCH,
                **settings,
            )
        return cls(epochs, **settings)


def check_network_unchanged(fitted_parameters, parameters):
    """Refuse a continued fit whose network-defining parameters changed."""
    for name, fitted in fitted_parameters.items():
        current = parameters[name]
        if _comparable(current) != _comparable(fitted):
            raise ValueError(
                f"{name} changed from {fitted!r} to {current!r} since the network was "
                "built; a continued fit (warm_start=True or partial_fit) trains the "
                f"fitted network, so set {name} back, or refit from scratch with "
                "warm_start=False (fit) or a fresh estimator (partial_fit)."
            )


def _comparable(value):
    return tuple(value) if isinstance(value, list) else value


@contextlib.contextmanager
def restored_on_failure(estimator):
    """Put the estimator's attributes back if the block raises (even Ctrl-C).

    A failed ``fit`` on a fitted estimator must leave the previous model
    usable: ``validate_data`` alone already resets ``n_features_in_``, and
    continued training (``warm_start``, ``partial_fit``) updates the fitted
    weights, the trainer's hyper-parameter variables and the optimiser state
    in place, so those are snapshotted too.
    """
    previous = dict(estimator.__dict__)
    trainer = previous.get("_trainer")
    variables = [] if trainer is None else [*trainer.variables, *trainer.optimizer.variables]
    values = [variable.numpy() for variable in variables]
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(previous)
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
        raise


class TrainingRun(NamedTuple):
    """What one fit produced: the trainer, its history and the rows it trained on."""

    trainer: VAETrainer
    history: dict
    train_rows: np.ndarray


def train(
    X,
    layout,
    objective,
    schedule,
    *,
    seeds,
    structure=None,
    fitted=None,
    epochs_done=0,
    strategy=None,
    deterministic=False,
):
    """Run one fit's epochs; return a :class:`TrainingRun`.

    Args:
        X: Validated 2-D training data.
        layout: The fitted :class:`~skvae._layout.Layout`.
        objective: This run's :class:`Objective`.
        schedule: This run's :class:`Schedule`.
        seeds: This fit's :class:`~skvae._seeding.Seeds`.
        structure: The :class:`~skvae._model.NetworkStructure` of new
            networks, for a fresh fit.
        fitted: ``(encoder, decoder, trainer, noise)`` to continue training,
            the trainer (with its optimiser state) None when there is none,
            and then ``noise`` the learned :class:`~skvae._model.NoiseModel`
            to continue from (None if the objective learns none).
        epochs_done: Epochs already run, which offsets the shuffling seed so
            continued training sees new orders (a fresh fit must not be
            offset, or refitting would differ from fitting).
        strategy: The ``tf.distribute`` strategy to train under, or None.
        deterministic: Whether to run deterministic kernels only.

    Raises:
        ValueError: If the loss or the weights became non-finite.
    """
    train_rows, validation_rows = split_rows(len(X), schedule.validation_fraction, seeds.split)
    scope = strategy.scope() if strategy else contextlib.nullcontext()
    with backend.deterministic_ops(enabled=deterministic), scope:
        # Adam's moment estimates start from zero with a new optimiser, the
        # case a warm-up is for; a continued trainer keeps its own.
        new_optimizer = True
        steps_per_execution = 1 if strategy else STEPS_PER_EXECUTION
        if fitted is None:
            moments = feature_moments(X, layout, train_rows)
            trainer = build_trainer(
                layout,
                structure,
                objective,
                learning_rate=schedule.learning_rate,
                steps_per_execution=steps_per_execution,
                seed=seeds.network,
                noise=initial_noise(moments, layout, objective),
                feature_means=moments.mean,
            )
        else:
            encoder, decoder, trainer, noise = fitted
            if trainer is None:
                trainer = compile_trainer(
                    encoder,
                    decoder,
                    layout,
                    objective,
                    learning_rate=schedule.learning_rate,
                    steps_per_execution=steps_per_execution,
                    seed=seeds.network,
                    noise=noise,
                )
            else:
                new_optimizer = False
                # The continued trainer trains on the current settings (the
                # learning rate is planned anew by run_epochs).
                trainer.set_alpha(objective.alpha)
                trainer.set_categorical_weight(objective.categorical_weight)
        history = run_epochs(
            trainer,
            X,
            layout,
            train_rows,
            validation_rows,
            schedule,
            data_seed=seeds.data + epochs_done,
            warm_up=new_optimizer,
        )
    _check_finite(history, trainer, schedule.learning_rate, objective.alpha)
    return TrainingRun(trainer, history, train_rows)


def split_rows(n_samples, validation_fraction, seed):
    """Sorted train and validation row indices; never leaves training empty."""
    n_validation = min(int(validation_fraction * n_samples), n_samples - 1)
    order = np.random.default_rng(seed).permutation(n_samples)
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def build_networks(layout, structure, *, seed, feature_means=None):
    """A new encoder and decoder of ``structure`` for ``layout``.

    ``feature_means``: the training data's :class:`FeatureMoments` mean, at
    which a sigmoid decoder then starts (:func:`~skvae._model.start_at_mean`).
    """
    encoder = build_encoder(
        layout.sample_shape, structure, missing_entries=layout.missing_entries, seed=seed
    )
    decoder = build_decoder(
        layout.sample_shape, structure, output_activation=layout.output_activation, seed=seed
    )
    # A linear output has no flat tail to overshoot into; tables, whose
    # outputs are linear unless their values lie in [0, 1], start at zero.
    if feature_means is not None and layout.output_activation == "sigmoid":
        start_at_mean(decoder, feature_means)
    return encoder, decoder


class FeatureMoments(NamedTuple):
    """Each feature's mean and variance over the training rows, as flat float64 arrays."""

    mean: np.ndarray
    variance: np.ndarray


def feature_moments(X, layout, rows):
    """The :class:`FeatureMoments` of ``X[rows]``, as the networks see it (scaled).

    Missing (NaN) entries are left out; a feature with none observed has mean
    and variance 0.
    """
    count = total = total_squares = 0.0
    for batch in layout.batches(X, rows=rows):
        batch = batch.reshape(len(batch), -1).astype(np.float64)
        count = count + np.sum(~np.isnan(batch), axis=0)
        total = total + np.nansum(batch, axis=0)
        total_squares = total_squares + np.nansum(batch**2, axis=0)
    count = np.maximum(count, 1)
    mean = total / count
    return FeatureMoments(mean, np.maximum(total_squares / count - mean**2, 0.0))


def initial_noise(moments, layout, objective):
    """The :class:`~skvae._model.NoiseModel` a fresh fit starts from, or None.

    Its variance starts at each feature's variance over the training rows
    (``moments``, the noise of a model that explains nothing), or their mean
    for one shared variance, and is floored at ``NOISE_FLOOR`` times that
    mean.
    """
    if objective.learned_noise is None:
        return None
    variance = moments.variance
    mean_variance = float(np.mean(variance)) or 1.0
    if objective.learned_noise == "feature":
        initial = variance.reshape(layout.sample_shape)
    else:
        initial = mean_variance
    family = layout.family
    return NoiseModel(
        initial,
        floor=NOISE_FLOOR * mean_variance,
        df_floor=family.min_df,
        initial_df=family.initial_df,
        name="noise",
    )


def build_trainer(layout, structure, objective, *, seed, feature_means=None, **compile_settings):
    """New networks of ``structure`` for ``layout``, joined in a compiled trainer.

    ``compile_settings``: the keyword arguments of :func:`compile_trainer`.
    """
    encoder, decoder = build_networks(layout, structure, seed=seed, feature_means=feature_means)
    return compile_trainer(encoder, decoder, layout, objective, seed=seed, **compile_settings)


def compile_trainer(
    encoder,
    decoder,
    layout,
    objective,
    *,
    learning_rate,
    seed=None,
    noise=None,
    steps_per_execution=STEPS_PER_EXECUTION,
):
    """A compiled trainer around an existing encoder and decoder (and learned noise).

    Its optimiser's learning rate is an :class:`AnnealedLearningRate`
    (``trainer.learning_rate_plan``), at the constant ``learning_rate``
    until a fit plans it.
    """
    trainer = VAETrainer(
        encoder,
        decoder,
        objective.alpha,
        likelihood=layout.family,
        masked=layout.missing_entries is not None,
        mask_augmentation=objective.mask_augmentation,
        categorical_weight=objective.categorical_weight,
        seed=seed,
        noise=noise,
        n_draws=objective.n_draws,
    )
    learning_rate_plan = AnnealedLearningRate()
    optimizer = backend.adam(learning_rate_plan)
    learning_rate_plan.build(optimizer, peak=learning_rate)
    trainer.compile(optimizer=optimizer, steps_per_execution=steps_per_execution)
    trainer.learning_rate_plan = learning_rate_plan
    # Built lazily inside the traced train step, Adam creates its slots
    # under tf.cond, whose branch functions stay registered in the eager
    # context for the life of the process: about 8 MB leaked per fit.
    trainer.optimizer.build(trainer.trainable_variables)
    return trainer


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at a NaN or infinite loss, as Keras' ``TerminateOnNaN``, silently.

    ``TerminateOnNaN`` prints a line whatever the verbosity; the estimator
    then raises its own error (:func:`_check_finite`), which says it all.
    """

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.model.stop_training = True


class EpochProgressBar(keras.callbacks.Callback):
    """Progress over all epochs, with the latest losses (``verbose=1``).

    On a terminal, one line redrawn in place from the first batch on: the
    epoch, a bar over its steps and the running losses. Anywhere else (a
    log file, a pipe, a notebook's captured output), one plain line per
    finished epoch, printable characters only. Keras' own ``verbose=1``
    draws a bar over the steps of every epoch, a screenful of bars for a
    long fit, with backspaces and colour codes that end up in log files.

    Args:
        epochs: The epochs planned (early stopping may end sooner).
        stream: Where to write; ``sys.stdout`` at the start of training
            when None.
    """

    #: Characters of the bar drawn on a terminal.
    BAR_WIDTH = 20
    #: Seconds between redraws on a terminal (the end of an epoch always redraws).
    REDRAW_INTERVAL = 0.1

    def __init__(self, epochs, stream=None):
        super().__init__()
        self._epochs = epochs
        self._given_stream = stream
        self._stream = stream
        self._live = False
        self._epoch = 0
        self._epoch_start = self._last_draw = 0.0
        self._line_length = 0

    def on_train_begin(self, logs=None):
        self._stream = self._given_stream or sys.stdout
        isatty = getattr(self._stream, "isatty", None)
        self._live = bool(isatty and isatty())

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._epoch_start = time.perf_counter()
        if self._live:
            self._draw(0, logs)

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self._live and now - self._last_draw >= self.REDRAW_INTERVAL:
            self._draw(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._epoch_start
        if self._live:
            self._draw(self.params.get("steps") or 0, logs, seconds=seconds)
        else:
            self._write(f"{self._status(logs)} - {seconds:.2f}s\n")

    def on_train_end(self, logs=None):
        if self._live and self._line_length:
            self._write("\n")
            self._line_length = 0

    def _status(self, logs):
        """``epoch 3/100 - loss: 1.234 - val_loss: 1.5``, the losses known so far."""
        losses = " - ".join(f"{name}: {value:.4g}" for name, value in sorted((logs or {}).items()))
        return f"epoch {self._epoch}/{self._epochs}" + (f" - {losses}" if losses else "")

    def _draw(self, step, logs, seconds=None):
        steps = self.params.get("steps") or 0
        done = self.BAR_WIDTH * step // steps if steps else 0
        bar = "=" * done + "." * (self.BAR_WIDTH - done)
        epoch, _, losses = self._status(logs).partition(" - ")
        line = f"{epoch} [{bar}] {step}/{steps}" + (f" - {losses}" if losses else "")
        if seconds is not None:
            line += f" - {seconds:.2f}s"
        self._write("\r" + line.ljust(self._line_length))
        self._line_length = len(line)
        self._last_draw = time.perf_counter()

    def _write(self, text):
        self._stream.write(text)
        self._stream.flush()


def annealed_learning_rate(step, total_steps, peak, warm_up_steps):
    """Learning rate of ``learning_rate_schedule="cosine"`` at a 0-based step.

    It rises linearly to ``peak`` over the first ``warm_up_steps`` steps
    (reaching it at the last of them), then follows half a cosine from
    ``peak`` down to zero at ``total_steps`` (Loshchilov and Hutter, 2017,
    "SGDR", without restarts; Goyal et al., 2017, for the warm-up). A run
    that ends early (early stopping) has simply not reached the bottom.
    Written in ``keras.ops``: the training step computes it (numbers in, a
    scalar tensor out).
    """
    step, total_steps, peak, warm_up_steps = (
        ops.cast(value, "float32") for value in (step, total_steps, peak, warm_up_steps)
    )
    warming_up = peak * (step + 1.0) / ops.maximum(warm_up_steps, 1.0)
    progress = (step - warm_up_steps) / ops.maximum(total_steps - warm_up_steps, 1.0)
    annealed = peak * 0.5 * (1.0 + ops.cos(math.pi * ops.minimum(progress, 1.0)))
    return ops.where(step < warm_up_steps, warming_up, annealed)


def warm_up_steps(total_steps):
    """Steps a fresh fit of ``total_steps`` warms up over (:data:`MIN_WARM_UP_STEPS`).

    :data:`WARM_UP_FRACTION` of the fit, or :data:`MIN_WARM_UP_STEPS` when
    that is longer; a fit too short for both warms up over its first half
    and anneals over the second.
    """
    return max(math.ceil(WARM_UP_FRACTION * total_steps), min(MIN_WARM_UP_STEPS, total_steps // 2))


class AnnealedLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """Adam's learning rate at every step, computed inside the training step.

    Each ``fit`` plans its rates (:meth:`plan`): the peak (the
    ``learning_rate`` parameter), the optimiser step it starts at, its
    planned steps and warm-up; Adam then asks for the rate of each step it
    takes, by its own step counter, with :func:`annealed_learning_rate`. A
    plan of zero steps is the constant peak (``learning_rate_schedule=
    "constant"``, ``partial_fit``). Setting the rate from a callback before
    every step would cost a Python round trip per step, which
    :data:`STEPS_PER_EXECUTION` exists to avoid (and, on JAX, a copy of
    the whole training state).

    The plan is kept in variables of the optimiser (:meth:`build`), not in
    Python numbers, so that a continued fit plans anew without tracing the
    training step again, and so that JAX's stateless training step, which
    reads only the model's and the optimiser's variables, sees the current
    plan.
    """

    def build(self, optimizer, *, peak):
        """Create the plan's variables in ``optimizer``, at the constant ``peak``."""

        def variable(name, value):
            return optimizer.add_variable(
                shape=(),
                initializer=keras.initializers.Constant(value),
                dtype="float32",
                name=name,
            )

        self.peak = variable("peak_learning_rate", peak)
        self.start = variable("planned_from_step", 0.0)
        self.steps = variable("planned_steps", 0.0)
        self.warm_up_steps = variable("warm_up_steps", 0.0)

    def plan(self, *, peak, start, steps, warm_up_steps):
        """Train from optimiser step ``start`` on: annealed over ``steps`` (0: constant)."""
        for variable, value in (
            (self.peak, peak),
            (self.start, start),
            (self.steps, steps),
            (self.warm_up_steps, warm_up_steps),
        ):
            variable.assign(float(value))

    def __call__(self, iteration):
        step = ops.cast(iteration, "float32") - self.start
        annealed = annealed_learning_rate(step, self.steps, self.peak, self.warm_up_steps)
        return ops.where(self.steps > 0, annealed, ops.convert_to_tensor(self.peak))

    def get_config(self):
        return {}


class PlannedLearningRate(keras.callbacks.Callback):
    """Plans each ``fit`` call's learning rates (:class:`AnnealedLearningRate`).

    The planned steps are this ``fit`` call's (epochs times steps per
    epoch), so each call, fresh or continued, anneals over its own length.

    Args:
        plan: The trainer's :class:`AnnealedLearningRate`.
        peak: The ``learning_rate`` parameter.
        anneal: Whether to anneal (``"cosine"``) or keep ``peak`` throughout.
        warm_up: Whether to warm up first (a new optimiser, see :func:`train`).
    """

    def __init__(self, plan, peak, *, anneal, warm_up):
        super().__init__()
        self._plan = plan
        self._peak = peak
        self._anneal = anneal
        self._warm_up = warm_up

    def on_train_begin(self, logs=None):
        steps = self.params["epochs"] * self.params["steps"] if self._anneal else 0
        self._plan.plan(
            peak=self._peak,
            start=int(self.model.optimizer.iterations.numpy()),
            steps=steps,
            warm_up_steps=warm_up_steps(steps) if self._anneal and self._warm_up else 0,
        )


def run_epochs(trainer, X, layout, train_rows, validation_rows, schedule, *, data_seed, warm_up):
    """Train for up to ``schedule.epochs`` epochs; return this run's history as floats.

    ``warm_up``: whether a cosine schedule warms up first (a new optimiser).
    """
    batch_size = schedule.batch_size
    if batch_size > len(train_rows):
        warnings.warn(
            f"batch_size={batch_size} is larger than the {len(train_rows)} training "
            "samples; it is clipped to the number of samples.",
            SkvaeWarning,
            stacklevel=4,
        )
        batch_size = len(train_rows)

    has_validation = len(validation_rows) > 0
    callbacks = [StopOnNonFiniteLoss()]
    if schedule.early_stopping and schedule.epochs > 1:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss" if has_validation else "loss",
                patience=schedule.n_iter_no_change,
                restore_best_weights=True,
            )
        )
    callbacks.append(
        PlannedLearningRate(
            trainer.learning_rate_plan,
            schedule.learning_rate,
            anneal=schedule.learning_rate_schedule == "cosine",
            warm_up=warm_up,
        )
    )
    if schedule.verbose == 1:
        callbacks.append(EpochProgressBar(schedule.epochs))
    keras_history = trainer.fit(
        **backend.fit_inputs(
            X,
            train_rows,
            validation_rows,
            batch_size=batch_size,
            sample_shape=layout.sample_shape,
            scale=layout.input_scale,
            seed=data_seed,
            min_steps_per_epoch=schedule.min_steps_per_epoch,
        ),
        epochs=schedule.epochs,
        shuffle=False,  # the dataset shuffles itself, reproducibly
        verbose=0 if schedule.verbose == 1 else min(int(schedule.verbose), 2),
        callbacks=callbacks,
    )
    return {
        name: [float(value) for value in values] for name, values in keras_history.history.items()
    }


def _check_finite(history, trainer, learning_rate, alpha):
    losses = history.get("loss", [])
    if np.all(np.isfinite(losses)) and all(np.all(np.isfinite(w)) for w in trainer.get_weights()):
        return
    raise ValueError(
        f"Training diverged: the loss became non-finite at epoch {len(losses)} "
        f"(learning_rate={learning_rate}, alpha={alpha}). Lower "
        "learning_rate or alpha, or rescale X (e.g. to [0, 1]); the estimator "
        "keeps its previous state."
    )


def extend_history(history, more, n_epochs):
    """``history`` (``n_epochs`` per curve) followed by ``more``, NaN where a curve is absent.

    Every curve then has one entry per epoch run, so ``val_*`` curves line
    up with ``loss`` even when some runs held nothing out.
    """
    n_more = len(more["loss"])
    return {
        name: history.get(name, [math.nan] * n_epochs) + more.get(name, [math.nan] * n_more)
        for name in {**history, **more}
    }
