"""The training run's pieces, tested without a full fit where they can be."""

import math

import numpy as np
import pytest

from skvae import VariationalAutoencoder, _seeding, _training


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


def test_verbose_1_draws_one_bar_over_the_epochs(capfd):
    X = np.random.default_rng(0).random((40, 3))
    VariationalAutoencoder(epochs=3, verbose=1, random_state=0).fit(X)
    out = capfd.readouterr().out
    assert "3/3" in out and "epoch" in out
    assert "step" not in out  # Keras' own per-step bar is not shown
