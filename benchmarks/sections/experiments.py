"""Side measurements, run with ``--experiments``."""

import keras

from benchmarks.data import repeat_rows, scaled
from benchmarks.harness import compare, fit_skvae
from benchmarks.reference_vae import fit_hand_written


def bench_experiments(sizes, images, report):
    """XLA, bfloat16 mixed precision and op determinism against the plain fit."""
    X = scaled(repeat_rows(images, sizes.n_fit)[..., None])
    epochs = sizes.fit_epochs

    def mixed_bfloat16():
        keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
        try:
            fit_hand_written(sizes, X, epochs)
        finally:
            keras.mixed_precision.set_dtype_policy("float32")

    contenders = {
        "keras float32": lambda: fit_hand_written(sizes, X, epochs),
        "keras jit_compile=True": lambda: fit_hand_written(sizes, X, epochs, jit_compile=True),
        "keras mixed_bfloat16": mixed_bfloat16,
        "skvae random_state=None": lambda: fit_skvae(sizes, X, epochs),
        "skvae random_state=0 (op determinism)": lambda: fit_skvae(
            sizes, X, epochs, random_state=0
        ),
    }
    seconds = compare(contenders, sizes.repeats)
    references = {"keras": seconds["keras float32"], "skvae": seconds["skvae random_state=None"]}
    for name, s in seconds.items():
        reference = references[name.split()[0]]
        report.add(
            "experiments",
            f"fit throughput, {name} (ratio vs float32 / default)",
            sizes.n_fit * epochs / s,
            "images/s",
            reference=sizes.n_fit * epochs / reference,
            ratio=reference / s,
        )
