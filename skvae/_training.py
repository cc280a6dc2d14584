"""The training run: seeds, the validation split, the trainer, epochs and history.

The estimator calls :func:`train` inside :func:`restored_on_failure`, so
that a failed or interrupted fit leaves the previous model as it was.
:func:`train` splits the rows, builds a trainer (or continues the fitted
one) under the distribution strategy and op determinism, and runs the
epochs; the finiteness check ends a diverged run.
"""

import contextlib
import math
import warnings
from typing import NamedTuple

import keras
import numpy as np
from sklearn.utils import check_random_state

from ._compat import SingleReplicaAdam, deterministic_ops
from ._distribute import agreed_seeds, fit_inputs
from ._layout import network_structure
from ._model import VAETrainer, build_decoder, build_encoder

_MAX_SEED = np.iinfo(np.int32).max

#: Parameters that define the network. A continued fit (``warm_start``,
#: ``partial_fit``) trains the network it has, so they may not change until a
#: fresh fit; the others (``alpha``, ``learning_rate``, ``epochs``, ...) reach
#: the next training step whenever they change.
NETWORK_PARAMETERS = (
    "latent_dim",
    "image_shape",
    "architecture",
    "conv_filters",
    "conv_kernels",
    "conv_strides",
    "hidden_layer_sizes",
    "batch_norm",
    "output_activation",
    "likelihood",
)


class Seeds(NamedTuple):
    """Independent seeds of one fit, all drawn from ``random_state``."""

    split: int
    network: int
    data: int
    scoring: int


def draw_seeds(random_state, strategy=None, n_samples=0):
    seeds = Seeds(
        *(int(seed) for seed in check_random_state(random_state).randint(_MAX_SEED, size=4))
    )
    # Workers of a multi-worker strategy must all draw the same ones.
    return seeds if strategy is None else agreed_seeds(seeds, strategy, n_samples)


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


def train(X, layout, params, *, seeds, epochs, hold_out, models, trainer, epochs_done):
    """Run one fit's epochs; return a :class:`TrainingRun`.

    Args:
        X: Validated 2-D training data.
        layout: The fitted :class:`~skvae._layout.Layout`.
        params: The estimator's ``get_params()``.
        seeds: This fit's :class:`Seeds`.
        epochs: Most epochs to run.
        hold_out: Whether to hold out ``validation_fraction`` of the rows.
        models: ``(encoder, decoder)`` to continue training, or None to
            build new ones.
        trainer: The trainer that fitted ``models``, with its optimiser
            state, when there is one.
        epochs_done: Epochs already run, which offsets the shuffling seed so
            continued training sees new orders (a fresh fit must not be
            offset, or refitting would differ from fitting).
    """
    validation_fraction = params["validation_fraction"] if hold_out else 0.0
    train_rows, validation_rows = split_rows(len(X), validation_fraction, seeds.split)
    hyper_parameters = dict(alpha=params["alpha"], learning_rate=params["learning_rate"])
    likelihood = params["likelihood"]
    # Only the imputer has the parameter (and only it trains on missing entries).
    hide_observed = params.get("mask_augmentation", False)
    strategy = params["distribute_strategy"]
    scope = strategy.scope() if strategy else contextlib.nullcontext()
    with deterministic_ops(enabled=params["random_state"] is not None), scope:
        if models is None:
            structure = network_structure(
                layout,
                latent_dim=params["latent_dim"],
                conv_filters=params["conv_filters"],
                conv_kernels=params["conv_kernels"],
                conv_strides=params["conv_strides"],
                hidden_layer_sizes=params["hidden_layer_sizes"],
                batch_norm=params["batch_norm"],
            )
            trainer = build_trainer(
                layout,
                structure,
                likelihood=likelihood,
                hide_observed=hide_observed,
                seed=seeds.network,
                **hyper_parameters,
            )
        elif trainer is None:
            trainer = compile_trainer(
                *models,
                likelihood=likelihood,
                masked=layout.missing_entries is not None,
                hide_observed=hide_observed,
                seed=seeds.network,
                **hyper_parameters,
            )
        history = run_epochs(
            trainer,
            X,
            layout,
            train_rows,
            validation_rows,
            epochs=epochs,
            batch_size=params["batch_size"],
            early_stopping=params["early_stopping"],
            n_iter_no_change=params["n_iter_no_change"],
            data_seed=seeds.data + epochs_done,
            verbose=params["verbose"],
            **hyper_parameters,
        )
    return TrainingRun(trainer, history, train_rows)


def split_rows(n_samples, validation_fraction, seed):
    """Sorted train and validation row indices; never leaves training empty."""
    n_validation = min(int(validation_fraction * n_samples), n_samples - 1)
    order = np.random.default_rng(seed).permutation(n_samples)
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def build_trainer(
    layout, structure, *, alpha, likelihood, learning_rate, hide_observed=False, seed
):
    """A new encoder and decoder for ``layout`` joined in a compiled trainer.

    ``structure`` holds the keyword arguments of the builders (see
    ``_layout.network_structure``), ``latent_dim`` among them;
    ``hide_observed`` is ``VAETrainer``'s.
    """
    structure = dict(structure)
    latent_dim = structure.pop("latent_dim")
    encoder = build_encoder(
        layout.sample_shape,
        latent_dim,
        missing_entries=layout.missing_entries,
        seed=seed,
        **structure,
    )
    decoder = build_decoder(
        layout.sample_shape,
        latent_dim,
        output_activation=layout.output_activation,
        seed=seed,
        **structure,
    )
    return compile_trainer(
        encoder,
        decoder,
        alpha=alpha,
        likelihood=likelihood,
        learning_rate=learning_rate,
        masked=layout.missing_entries is not None,
        hide_observed=hide_observed,
        seed=seed,
    )


def compile_trainer(
    encoder,
    decoder,
    *,
    alpha,
    likelihood,
    learning_rate,
    masked=False,
    hide_observed=False,
    seed=None,
):
    """A compiled trainer around an existing encoder and decoder.

    ``masked`` and ``hide_observed`` are ``VAETrainer``'s.
    """
    trainer = VAETrainer(
        encoder,
        decoder,
        alpha,
        likelihood=likelihood,
        masked=masked,
        hide_observed=hide_observed,
        seed=seed,
    )
    trainer.compile(optimizer=SingleReplicaAdam(learning_rate))
    # Built lazily inside the traced train step, Adam creates its slots
    # under tf.cond, whose branch functions stay registered in the eager
    # context for the life of the process: about 8 MB leaked per fit.
    trainer.optimizer.build(trainer.trainable_variables)
    return trainer


class EpochProgressBar(keras.callbacks.Callback):
    """One progress bar over all epochs, with the latest losses (``verbose=1``).

    Keras' own ``verbose=1`` draws a bar over the steps of every epoch, a
    screenful of bars for a long fit.
    """

    def __init__(self, epochs):
        super().__init__()
        self._epochs = epochs
        self._bar = None
        self._epochs_done = 0
        self._logs = []

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_done = epoch + 1
        self._logs = sorted((logs or {}).items())
        if self._bar is None:  # the losses it shows are known from the first epoch on
            self._bar = keras.utils.Progbar(
                self._epochs, stateful_metrics=[name for name, _ in self._logs], unit_name="epoch"
            )
        self._bar.update(self._epochs_done, values=self._logs, finalize=False)

    def on_train_end(self, logs=None):
        # Early stopping can end the run before the last planned epoch.
        if self._bar is not None:
            self._bar.update(self._epochs_done, values=self._logs, finalize=True)


def run_epochs(
    trainer,
    X,
    layout,
    train_rows,
    validation_rows,
    *,
    epochs,
    batch_size,
    alpha,
    learning_rate,
    early_stopping,
    n_iter_no_change,
    data_seed,
    verbose,
):
    """Train for up to ``epochs`` epochs; return this run's history as floats.

    ``alpha`` (a number or ``"auto"``) and ``learning_rate`` are assigned to
    the trainer's variables first, so a continued fit trains on the values it
    was given.

    Raises:
        ValueError: If the loss or the weights became non-finite.
    """
    if batch_size > len(train_rows):
        warnings.warn(
            f"batch_size={batch_size} is larger than the {len(train_rows)} training "
            "samples; it is clipped to the number of samples.",
            UserWarning,
            stacklevel=4,
        )
        batch_size = len(train_rows)
    trainer.set_alpha(alpha)
    trainer.optimizer.learning_rate.assign(learning_rate)

    has_validation = len(validation_rows) > 0
    callbacks = [keras.callbacks.TerminateOnNaN()]
    if early_stopping and epochs > 1:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss" if has_validation else "loss",
                patience=n_iter_no_change,
                restore_best_weights=True,
            )
        )
    if verbose == 1:
        callbacks.append(EpochProgressBar(epochs))
    keras_history = trainer.fit(
        **fit_inputs(
            X,
            train_rows,
            validation_rows,
            batch_size=batch_size,
            sample_shape=layout.sample_shape,
            scale=layout.input_scale,
            seed=data_seed,
        ),
        epochs=epochs,
        shuffle=False,  # the dataset shuffles itself, reproducibly
        verbose=0 if verbose == 1 else min(int(verbose), 2),
        callbacks=callbacks,
    )
    history = {
        name: [float(value) for value in values] for name, values in keras_history.history.items()
    }
    _check_finite(history, trainer, learning_rate=learning_rate, alpha=alpha)
    return history


def _check_finite(history, trainer, *, learning_rate, alpha):
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
