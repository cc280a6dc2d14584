"""Where every random number of a fit and of inference comes from.

A fit draws its :class:`Seeds` once from ``random_state``
(:func:`draw_seeds`); inference (``score_samples``, the imputer's
``transform``) draws each row's noise from a generator seeded by the fit's
inference seed and the row's own values (:func:`row_generators`), so a row's
result does not depend on the other rows and repeated calls agree.
"""

import hashlib
from typing import NamedTuple

import numpy as np
from sklearn.utils import check_random_state

from ._backends import backend

_MAX_SEED = np.iinfo(np.int32).max


class Seeds(NamedTuple):
    """Independent seeds of one fit, all drawn from ``random_state``."""

    split: int
    network: int
    data: int
    inference: int


def draw_seeds(random_state, strategy=None, n_samples=0):
    """This fit's :class:`Seeds`; every worker of a multi-worker ``strategy`` gets the same."""
    seeds = Seeds(
        *(int(seed) for seed in check_random_state(random_state).randint(_MAX_SEED, size=4))
    )
    return seeds if strategy is None else backend.agreed_seeds(seeds, strategy, n_samples)


def row_generators(x, seed):
    """One NumPy generator per row of ``x``, seeded by ``seed`` and the row's float32 bytes."""
    for row in np.ascontiguousarray(x, dtype=np.float32):
        row_hash = hashlib.blake2b(row.tobytes(), digest_size=8).digest()
        yield np.random.default_rng([seed, int.from_bytes(row_hash, "little")])


def row_noise(x, n_draws, latent_dim, seed):
    """``N(0, I)`` draws of shape ``(len(x), n_draws, latent_dim)``, one stream per row.

    One stream shared by all rows would also make calls repeatable, but it
    shifts every sample's score alike, so ``score`` would keep the noise of
    a single draw (a few nats on MNIST) however many samples it averages.
    """
    noise = np.empty((len(x), n_draws, latent_dim))
    for i, rng in enumerate(row_generators(x, seed)):
        noise[i] = rng.standard_normal((n_draws, latent_dim))
    return noise
