"""Section 4: how fit time grows with the number of samples."""

import itertools

from benchmarks.data import repeat_rows
from benchmarks.harness import compare, fit_skvae


def bench_scaling(sizes, images, report):
    """Fit time for growing sample counts; it should grow linearly.

    The sizes are interleaved like any other contenders, so a change of load
    during the section cannot pass for a change of slope. Building and
    tracing the model is a fixed cost, so linearity shows in the marginal
    cost: seconds per extra 1,000 samples between consecutive sizes.
    """
    data = {n: repeat_rows(images, n).reshape(n, -1) for n in sizes.scaling_sizes}
    each = {}
    seconds = compare(
        {n: (lambda X=X: fit_skvae(sizes, X, 1)) for n, X in data.items()},
        sizes.scaling_repeats,
        warmup=0,
        each=each,
    )
    for n, s in seconds.items():
        report.add("4 scaling", f"fit, 1 epoch, {n} uint8 samples", s, "s")
    marginal = {
        (small, large): 1000 * (seconds[large] - seconds[small]) / (large - small)
        for small, large in itertools.pairwise(sorted(seconds))
    }
    first = next(iter(marginal.values()))
    for (small, large), cost in marginal.items():
        # A difference of two timings: on tiny sizes noise can make it <= 0.
        report.add(
            "4 scaling",
            f"marginal fit time, {small} -> {large} samples (ratio: vs the first step; "
            "1 = linear)",
            cost,
            "s per 1,000 samples",
            ratio=cost / first if first > 0 else None,
        )
    report.details["scaling_seconds"] = seconds
    report.details["scaling_seconds_each"] = each
