"""Section 1: fit throughput against the hand-written model."""

from benchmarks.data import repeat_rows, scaled
from benchmarks.harness import compare, fit_skvae
from benchmarks.reference_vae import fit_hand_written


def bench_fit(sizes, images, report):
    """Images per second of skvae's fit and of the hand-written model's fit."""
    X = scaled(repeat_rows(images, sizes.n_fit)[..., None])
    warm = X[: min(len(X), 4 * sizes.batch_size)]
    fitted = {}

    def skvae_fit():
        fitted["skvae"] = fit_skvae(sizes, X, sizes.fit_epochs)

    def keras_fit():
        fitted["keras"] = fit_hand_written(sizes, X, sizes.fit_epochs)

    # Warm TensorFlow up (oneDNN kernels, thread pools) on a small fit of each.
    if sizes.fit_repeats > 1:
        fit_skvae(sizes, warm, 1)
        fit_hand_written(sizes, warm, 1)
    each = {}
    seconds = compare(
        {"skvae": skvae_fit, "keras": keras_fit}, sizes.fit_repeats, warmup=0, each=each
    )
    n_images = sizes.n_fit * sizes.fit_epochs
    throughput = {name: n_images / s for name, s in seconds.items()}
    report.add(
        "1 fit",
        f"fit throughput ({sizes.n_fit} x {sizes.fit_epochs} epochs, model built inside)",
        throughput["skvae"],
        "images/s",
        reference=throughput["keras"],
        ratio=throughput["skvae"] / throughput["keras"],
        goal=">= 1.0",
    )
    report.details["fit_seconds"] = seconds
    report.details["fit_seconds_each"] = each
    return fitted["skvae"], fitted["keras"], throughput["skvae"]
