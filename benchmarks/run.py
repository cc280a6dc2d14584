"""Benchmark skvae against a hand-written Keras 3 VAE and against PCA.

Run from the repository root::

    python benchmarks/run.py --data ../shared/data/mnist --out results.json
    python benchmarks/run.py --smoke --out smoke.json       # tiny, synthetic
    python benchmarks/run.py --data DIR --out r.json --experiments

Every comparison is a ratio of two timings taken in the same run, each the
median of several repeats after a warm-up, with the two contenders
interleaved so that load from other processes hits both alike. The script
prints a Markdown table and writes every number (and the sizes used) to JSON.
See benchmarks/README.md for what each number means.
"""

import argparse
import dataclasses
import itertools
import json
import math
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Benchmark the checkout this file lives in, not some installed skvae; the
# processes started below (memmap workers, joblib and dask workers) inherit
# the path through PYTHONPATH.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import joblib  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402

from benchmarks.data import load_images, repeat_rows, synthetic_digits, write_idx  # noqa: E402, F401
from benchmarks.harness import (  # noqa: E402
    FULL,
    SMOKE,
    Report,
    compare,
    fit_skvae,
    skvae_estimator,
    timed,
)
from benchmarks.memory_worker import MB, PeakSampler, read_status  # noqa: E402, F401
from benchmarks.reference_vae import build_hand_written_vae, fit_hand_written  # noqa: E402, F401
from skvae import VariationalAutoencoder  # noqa: E402

# ------------------------------------------------------ 1. fit throughput


def bench_fit(sizes, images, report):
    """Images per second of skvae's fit and of the hand-written model's fit."""
    X = (repeat_rows(images, sizes.n_fit)[..., None] / np.float32(255)).astype(np.float32)
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


# ----------------------------------------------------------- 2. inference


def predict_score_samples(encoder, decoder, X, alpha, eps):
    """The ELBO of each row computed with ``Model.predict``, as a user would."""
    mu, log_var = encoder.predict(X, verbose=0)
    x_hat = decoder.predict(mu + np.exp(0.5 * log_var) * eps, verbose=0)
    n_features = math.prod(X.shape[1:])
    variance = n_features / (2 * alpha)
    squared_error = np.sum((X - x_hat).reshape(len(X), -1) ** 2, axis=1)
    normaliser = n_features * math.log(2 * math.pi * variance)
    log_likelihood = -0.5 * (normaliser + squared_error / variance)
    kl = -0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=1)
    return log_likelihood - kl


def bench_inference(sizes, images, vae, report):
    X = (repeat_rows(images, sizes.n_inference)[..., None] / np.float32(255)).astype(np.float32)
    Z = vae.transform(X)
    encoder, decoder = vae.encoder_, vae.decoder_
    eps = np.random.default_rng(0).standard_normal((1, sizes.latent_dim)).astype(np.float32)
    # The two must compute the same thing for the timing to mean anything.
    report.details["transform_max_abs_difference"] = float(
        np.max(np.abs(Z - encoder.predict(X, verbose=0)[0]))
    )
    operations = {
        "transform": (vae.transform, lambda x: encoder.predict(x, verbose=0)[0], X, "predict"),
        "inverse_transform": (
            vae.inverse_transform,
            lambda z: decoder.predict(z, verbose=0),
            Z,
            "predict",
        ),
        "score_samples": (
            vae.score_samples,
            lambda x: predict_score_samples(encoder, decoder, x, sizes.alpha, eps),
            X,
            "predict-based",
        ),
    }
    goals = {"transform": (">= 20x", ">= 1.5x")}
    for name, (ours, theirs, data, label) in operations.items():
        one = data[:1]
        latency = compare(
            {"skvae": lambda f=ours, d=one: f(d), "keras": lambda f=theirs, d=one: f(d)},
            repeats=5,
            warmup=3,
            block=max(1, sizes.latency_calls // 5),
        )
        report.add(
            "2 inference",
            f"{name}, 1 sample: latency (vs {label})",
            latency["skvae"] * 1e3,
            "ms",
            reference=latency["keras"] * 1e3,
            ratio=latency["keras"] / latency["skvae"],
            goal=goals.get(name, (None, None))[0],
        )
        bulk = compare(
            {"skvae": lambda f=ours, d=data: f(d), "keras": lambda f=theirs, d=data: f(d)},
            sizes.repeats,
        )
        throughput = {k: len(data) / s for k, s in bulk.items()}
        report.add(
            "2 inference",
            f"{name}, {len(data)} samples: throughput (vs {label})",
            throughput["skvae"],
            "samples/s",
            reference=throughput["keras"],
            ratio=throughput["skvae"] / throughput["keras"],
            goal=goals.get(name, (None, None))[1],
        )


# -------------------------------------------------------------- 3. quality


def bench_quality(sizes, images, report):
    """Held-out reconstruction error and log-likelihood against PCA at equal latent size."""
    X = images.reshape(len(images), -1).astype(np.float32) / 255
    X_train, X_test = train_test_split(X, train_size=sizes.quality_train_fraction, random_state=0)
    # The quality a user gets: skvae's default alpha and batch size, not the
    # hand-written model's twin settings that the timing sections share.
    defaults = VariationalAutoencoder().get_params()
    params = dict(alpha=defaults["alpha"], batch_size=defaults["batch_size"], random_state=0)
    results = {}
    for k in sizes.quality_latent_dims:
        pca_seconds, pca = timed(lambda k=k: PCA(k, random_state=0).fit(X_train))
        vae_seconds, vae = timed(
            lambda k=k: skvae_estimator(
                sizes, latent_dim=k, epochs=sizes.quality_epochs, **params
            ).fit(X_train)
        )
        pca_mse = float(np.mean((X_test - pca.inverse_transform(pca.transform(X_test))) ** 2))
        vae_mse = float(np.mean((X_test - vae.inverse_transform(vae.transform(X_test))) ** 2))
        pca_score, vae_score = float(pca.score(X_test)), vae.score(X_test)
        section = f"3 quality k={k}"
        report.add(
            section,
            "held-out reconstruction MSE (vs PCA; ratio PCA/skvae)",
            vae_mse,
            "",
            reference=pca_mse,
            ratio=pca_mse / vae_mse,
        )
        report.add(section, "held-out score, nats/image (vs PCA)", vae_score, "", pca_score)
        report.add(
            section,
            f"fit time ({vae.n_iter_} epochs on {len(X_train)}; vs PCA)",
            vae_seconds,
            "s",
            reference=pca_seconds,
        )
        results[k] = dict(vae_epochs=vae.n_iter_, pca_seconds=pca_seconds)
    report.details["quality"] = results


# ------------------------------------------------------ 4. scaling, memory


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


def run_memmap_worker(path, sizes, side, copy):
    command = [
        sys.executable,
        "-m",
        "benchmarks.memory_worker",
        "--memmap",
        str(path),
        "--side",
        str(side),
        "--batch-size",
        str(sizes.memmap_batch_size),
        "--filters",
        *map(str, sizes.memmap_conv_filters),
        "--strides",
        *map(str, sizes.memmap_conv_strides),
    ] + (["--copy"] if copy else [])
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"memmap worker failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def bench_memmap(sizes, images, report):
    """Peak anonymous memory of fits on uint8 memmaps of two sizes, each in a fresh process."""
    side = images.shape[1]
    modes = [("memmap", False)]
    if sizes.memmap_control:
        modes.append(("float32 copy (control)", True))
    measured = {}
    with tempfile.TemporaryDirectory() as directory:
        for n in sizes.memmap_sizes:
            path = Path(directory) / f"images-{n}.u8"
            mapped = np.memmap(path, dtype=np.uint8, mode="w+", shape=(n, side * side))
            mapped[:] = repeat_rows(images.reshape(len(images), -1), n)
            mapped.flush()
            del mapped
            for label, copy in modes:
                measured[label, n] = run_memmap_worker(path, sizes, side, copy)
    small, large = sizes.memmap_sizes
    for label, _ in modes:
        peaks = {n: measured[label, n]["peak"]["RssAnon"] for n in (small, large)}
        for n in (small, large):
            result = measured[label, n]
            report.add(
                "4 memory",
                f"peak RssAnon, fit on {label}, {n} images "
                f"({n * side * side / MB:.0f} MB uint8; peak RssFile "
                f"{result['peak']['RssFile'] / MB:.0f} MB)",
                peaks[n] / MB,
                "MB",
            )
        report.add(
            "4 memory",
            f"peak RssAnon growth, {label}, {small} -> {large} images",
            f"{100 * (peaks[large] / peaks[small] - 1):+.1f}%",
            "",
            ratio=peaks[large] / peaks[small] - 1,
            goal="< 10%" if not label.endswith("(control)") else None,
        )
    report.details["memmap"] = {f"{label} {n}": v for (label, n), v in measured.items()}


# --------------------------------------------------------------- 5. search


def _import_skvae():
    import skvae  # noqa: F401  (warms a worker up: TensorFlow import and start)

    return os.getpid()


def bench_search(sizes, images, report):
    """GridSearchCV wall time with n_jobs=1, n_jobs=2 and on a dask LocalCluster."""
    X = repeat_rows(images, sizes.n_search).reshape(sizes.n_search, -1)

    def search(n_jobs):
        estimator = skvae_estimator(sizes, epochs=sizes.search_epochs, random_state=0)
        return GridSearchCV(estimator, sizes.search_grid, cv=3, n_jobs=n_jobs).fit(X)

    # Start and warm the worker pool first: the timing is about the fits.
    joblib.Parallel(n_jobs=2)(joblib.delayed(_import_skvae)() for _ in range(2))
    seconds, scores = {}, {}
    for n_jobs in (1, 2):
        seconds[n_jobs], result = timed(lambda n_jobs=n_jobs: search(n_jobs))
        scores[n_jobs] = result.cv_results_["mean_test_score"]
    n_fits = 3 * math.prod(len(v) for v in sizes.search_grid.values()) + 1
    report.add("5 search", f"GridSearchCV n_jobs=1 ({n_fits} fits)", seconds[1], "s")
    report.add(
        "5 search",
        "GridSearchCV n_jobs=2 (ratio: speed-up over n_jobs=1)",
        seconds[2],
        "s",
        reference=seconds[1],
        ratio=seconds[1] / seconds[2],
    )
    report.details["search_score_difference_1_vs_2_jobs"] = float(
        np.max(np.abs(scores[1] - scores[2]))
    )
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        report.details["dask"] = "dask.distributed not installed"
        return
    if not sizes.use_dask:
        return
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, Client(cluster) as client:
        client.run(_import_skvae)
        with joblib.parallel_backend("dask"):
            dask_seconds, _ = timed(lambda: search(-1))
    report.add(
        "5 search",
        "GridSearchCV on dask LocalCluster, 2 workers x 1 thread (vs n_jobs=1)",
        dask_seconds,
        "s",
        reference=seconds[1],
        ratio=seconds[1] / dask_seconds,
    )


# ----------------------------------------------------------- 6. efficiency


def forward_flops(model):
    """Multiply-adds x 2 of the Dense, Conv2D and Conv2DTranspose layers, per sample.

    Conv2D: every output pixel takes ``k*k*C_in`` products per output channel.
    Conv2DTranspose: every *input* pixel is scattered to ``k*k*C_out`` outputs.
    Biases, activations and the loss add well under 1% and are left out.
    """
    flops = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            flops += forward_flops(layer)
        elif isinstance(layer, layers.Conv2DTranspose):
            kernel_height, kernel_width, _, channels_in = layer.kernel.shape
            height, width = layer.input.shape[1:3]
            flops += (
                2 * height * width * channels_in * kernel_height * kernel_width * (layer.filters)
            )
        elif isinstance(layer, layers.Conv2D):
            kernel_height, kernel_width, channels_in, _ = layer.kernel.shape
            height, width = layer.output.shape[1:3]
            flops += (
                2 * height * width * layer.filters * kernel_height * kernel_width * (channels_in)
            )
        elif isinstance(layer, layers.Dense):
            flops += 2 * math.prod(layer.kernel.shape)
    return flops


def matmul_flops_per_second(size, repeats):
    """Dense float32 matmul FLOP/s on this machine: the practical ceiling."""
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    product()
    seconds = statistics.median(timed(lambda: product().numpy())[0] for _ in range(repeats + 2))
    return 2 * size**3 / seconds


def bench_efficiency(sizes, vae, fit_images_per_second, report):
    forward = forward_flops(vae.encoder_) + forward_flops(vae.decoder_)
    # Backward costs about twice the forward pass (input and weight gradients).
    achieved = 3 * forward * fit_images_per_second
    ceiling = matmul_flops_per_second(sizes.matmul_size, sizes.repeats)
    report.add("6 efficiency", "model forward FLOPs per image", forward / 1e6, "MFLOP")
    report.add(
        "6 efficiency",
        f"fit FLOP/s (3 x forward x images/s) vs {sizes.matmul_size}^2 float32 matmul",
        achieved / 1e9,
        "GFLOP/s",
        reference=ceiling / 1e9,
        ratio=achieved / ceiling,
    )
    size = len(pickle.dumps(vae))
    report.add("6 efficiency", "pickled fitted default model", size / 1024, "KiB")
    report.details["pickle_bytes"] = size


# ---------------------------------------------------------- experiments


def bench_experiments(sizes, images, report):
    """XLA, bfloat16 mixed precision and op determinism against the plain fit."""
    X = (repeat_rows(images, sizes.n_fit)[..., None] / np.float32(255)).astype(np.float32)
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


# ------------------------------------------------------------------ main


def machine_description():
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line),
            platform.processor(),
        )
    except OSError:
        model = platform.processor()
    return dict(
        cpu=model,
        cpus=os.cpu_count(),
        python=platform.python_version(),
        tensorflow=tf.__version__,
        keras=keras.__version__,
        gpus=len(tf.config.list_physical_devices("GPU")),
    )


SECTIONS = ("fit", "inference", "quality", "scaling", "memory", "search", "efficiency")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="directory with MNIST-style IDX files (else synthetic)")
    parser.add_argument("--out", default="results.json", help="JSON file to write")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks it runs")
    parser.add_argument(
        "--experiments", action="store_true", help="also time XLA, bfloat16, op determinism"
    )
    parser.add_argument("--no-dask", action="store_true", help="skip the dask search")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    if args.no_dask:
        sizes = dataclasses.replace(sizes, use_dask=False)
    images, _, data_description = load_images(args.data)
    report = Report()
    section_seconds = {}
    load_at_start = os.getloadavg()
    started = time.perf_counter()

    selected = args.sections.split(",") + (["experiments"] if args.experiments else [])
    unknown = set(selected) - {*SECTIONS, "experiments"}
    if unknown:
        raise SystemExit(f"--sections: unknown {sorted(unknown)}; choose from {SECTIONS}")

    def section(name, function, *section_args):
        if name not in selected:
            return None
        print(f"## {name}", flush=True)
        seconds, result = timed(lambda: function(sizes, *section_args))
        section_seconds[name] = seconds
        return result

    # Inference and efficiency reuse the model and the throughput of the fit section.
    vae, _, fit_throughput = section("fit", bench_fit, images, report) or (None, None, None)
    if vae is None and {"inference", "efficiency"} & set(selected):
        raise SystemExit("--sections: inference and efficiency need the fit section too")
    section("inference", bench_inference, images, vae, report)
    section("quality", bench_quality, images, report)
    section("scaling", bench_scaling, images, report)
    section("memory", bench_memmap, images, report)
    section("search", bench_search, images, report)
    section("efficiency", bench_efficiency, vae, fit_throughput, report)
    section("experiments", bench_experiments, images, report)

    results = dict(
        date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        machine=machine_description(),
        load_average_at_start=load_at_start,
        load_average_at_end=os.getloadavg(),
        data=data_description,
        smoke=args.smoke,
        sizes=dataclasses.asdict(sizes),
        total_seconds=time.perf_counter() - started,
        section_seconds=section_seconds,
        rows=report.rows,
        details=report.details,
    )
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    print()
    print(
        f"{results['date']}, {results['machine']['cpu']} ({results['machine']['cpus']} CPUs), "
        f"load average {', '.join(f'{x:.2f}' for x in results['load_average_at_end'])}, "
        f"total {results['total_seconds']:.0f} s, data: {data_description}"
    )
    print()
    print(report.markdown())
    return results


if __name__ == "__main__":
    main()
