"""What every section shares: how much work to do, the skvae contender, timing, the report.

Every comparison is a ratio of two timings taken in the same run, each the
median of several repeats after a warm-up, with the contenders interleaved
so that load from other processes hits all of them alike.
"""

import contextlib
import dataclasses
import math
import os
import statistics
import time
from collections.abc import Callable

from skvae import VariationalAutoencoder


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much work each measurement does; ``FULL`` and ``SMOKE`` below."""

    conv_filters: tuple = (32, 64, 64, 64)
    conv_strides: tuple = (1, 2, 2, 1)
    latent_dim: int = 2
    alpha: float = 1000.0
    batch_size: int = 64
    learning_rate: float = 1e-3
    repeats: int = 3
    # 1. fit throughput (its ratio is the noisiest: five turns each)
    n_fit: int = 2000
    fit_epochs: int = 2
    fit_repeats: int = 5
    # 2. inference
    n_inference: int = 10_000
    latency_calls: int = 100
    # 3. quality against PCA
    quality_train_fraction: float = 0.75
    quality_epochs: int = 4
    quality_latent_dims: tuple = (2, 8, 16)
    # 4. scaling and memory (the memmap fits use a small network: the claim
    # is about the data path, and the bigger arrays must stay quick to fit)
    scaling_sizes: tuple = (2000, 4000, 8000)
    scaling_repeats: int = 5
    memmap_sizes: tuple = (40_000, 80_000)
    memmap_conv_filters: tuple = (8, 16)
    memmap_conv_strides: tuple = (2, 2)
    memmap_batch_size: int = 256
    memmap_control: bool = True
    # 5. search
    n_search: int = 1200
    search_epochs: int = 1
    search_grid: dict = dataclasses.field(
        default_factory=lambda: {"alpha": [300.0, 1000.0], "latent_dim": [2, 4]}
    )
    use_dask: bool = True
    # 7. inference on a dask array on a LocalCluster
    n_cluster: int = 40_000
    cluster_chunk: int = 5000
    # 6. efficiency
    matmul_size: int = 2048


FULL = Sizes()
SMOKE = Sizes(
    conv_filters=(4, 8),
    conv_strides=(1, 2),
    repeats=1,
    n_fit=128,
    fit_repeats=1,
    fit_epochs=1,
    n_inference=256,
    latency_calls=3,
    quality_epochs=1,
    quality_latent_dims=(2,),
    scaling_sizes=(64, 128),
    scaling_repeats=1,
    memmap_sizes=(500, 1000),
    memmap_conv_filters=(4,),
    memmap_conv_strides=(2,),
    memmap_control=False,
    n_search=150,
    search_grid={"alpha": [1000.0], "latent_dim": [2]},
    n_cluster=512,
    cluster_chunk=128,
    matmul_size=256,
)


# ------------------------------------------------------ the skvae contender


def skvae_estimator(sizes, **params):
    """skvae with the network and training settings of the hand-written model."""
    network = dict(
        # The digits, MNIST's or the synthetic stand-in's, are 28x28 images
        # (given as rows in some sections; 4-D input ignores image_shape).
        image_shape=(28, 28),
        latent_dim=sizes.latent_dim,
        alpha=sizes.alpha,
        conv_filters=sizes.conv_filters,
        conv_strides=sizes.conv_strides,
        # The hand-written model reads its latent straight off the convolutions.
        hidden_layer_sizes=(),
        batch_size=sizes.batch_size,
        # The hand-written model trains at Adam's constant rate.
        learning_rate=sizes.learning_rate,
        learning_rate_schedule="constant",
    )
    return VariationalAutoencoder(**{**network, **params})


def fit_skvae(sizes, X, epochs, **params):
    # Like the hand-written model's fit: no validation split, no early stopping.
    params = dict(validation_fraction=0.0, early_stopping=False, **params)
    return skvae_estimator(sizes, epochs=epochs, **params).fit(X)


def import_skvae():
    """Warms a worker process up (TensorFlow's import and start); returns its pid."""
    import skvae  # noqa: F401

    return os.getpid()


@contextlib.contextmanager
def local_cluster(n_workers):
    """A client of a dask LocalCluster: warmed-up worker processes on 127.0.0.1 only."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        # Explicit addresses: distributed 2024.1 still opens both dashboards
        # on every interface when they are None.
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
    )
    with cluster, Client(cluster) as client:
        client.run(import_skvae)
        yield client


# ---------------------------------------------------------------- timing


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def compare(contenders: dict[str, Callable], repeats, warmup=1, block=1, each=None):
    """Median seconds per call of each contender, taking turns ``repeats`` times.

    Interleaving the contenders spreads load from other processes over all
    of them, so their ratio stays meaningful on a busy machine. Each turn
    makes ``block`` consecutive calls: a latency measured one call after the
    other contender's would charge it the caches and idle thread pools that
    the other left behind, which no user calling it in a loop sees. ``each``,
    if given, receives every contender's list of timings.
    """
    for function in contenders.values():
        for _ in range(warmup):
            function()
    seconds = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, function in contenders.items():
            seconds[name].extend(timed(function)[0] for _ in range(block))
    if each is not None:
        each.update(seconds)
    return {name: statistics.median(values) for name, values in seconds.items()}


# ---------------------------------------------------------------- report


class Report:
    """Collects result rows; renders them as Markdown and JSON."""

    def __init__(self):
        self.rows = []
        self.details = {}

    def add(self, section, measure, value, unit, reference=None, ratio=None, goal=None):
        row = dict(section=section, measure=measure, value=value, unit=unit)
        row.update(reference=reference, ratio=ratio, goal=goal)
        if goal is not None and ratio is not None:
            row["goal_met"] = bool(_meets(ratio, goal))
        self.rows.append(row)
        print(f"  {measure}: {_number(value)} {unit}" + (f"  ratio {ratio:.3g}" if ratio else ""))

    def markdown(self):
        lines = [
            "| Section | Measure | skvae | Reference | Ratio | Goal |",
            "|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            goal = row["goal"] or ""
            if "goal_met" in row:
                goal += " (met)" if row["goal_met"] else " (**missed**)"
            unit = f" {row['unit']}" if row["unit"] else ""
            reference = "" if row["reference"] is None else f"{_number(row['reference'])}{unit}"
            ratio = "" if row["ratio"] is None else f"{row['ratio']:.3g}"
            lines.append(
                f"| {row['section']} | {row['measure']} | {_number(row['value'])}{unit} "
                f"| {reference} | {ratio} | {goal} |"
            )
        return "\n".join(lines)


def _meets(ratio, goal):
    """Whether ``ratio`` satisfies a goal written as ">= 1.5x" or "< 10%"."""
    operator, threshold = goal.split()
    if threshold.endswith("%"):
        limit = float(threshold[:-1]) / 100
    else:
        limit = float(threshold.rstrip("x"))
    return ratio >= limit if operator == ">=" else ratio < limit


def _number(value):
    if isinstance(value, str):
        return value
    if value is None or not math.isfinite(value):
        return str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"
