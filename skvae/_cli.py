"""The ``skvae`` command line: ``demo`` (the default), ``fit`` and ``sample``.

Every problem with the user's arguments or files ends the program with one
line on stderr and exit code 2, like argparse's own usage errors.
"""

import argparse
import contextlib
import html
import io
import json
import os
import sys
import time

DEFAULT_REPORT_DIR = "skvae-report"
# The demo's defaults, tuned on load_digits (2-D latent space, held-out split):
# alpha=1000 implies a decoder standard deviation of sqrt(64 / 2000) ~ 0.18 per
# pixel, which beat PCA's reconstruction error by about 40% while the KL term
# (about 5 nats) keeps the latent space smooth enough to sample from; 3000
# reconstructed worse and 500 blurred more. Early stopping ends the fit after
# about 80 epochs, roughly a minute on two CPU cores.
DEMO_ALPHA = 1000.0
DEMO_EPOCHS = 100
# The demo was tuned at this batch size (about 40 s on 2 cores).
DEMO_BATCH_SIZE = 64
DEMO_NOISE = 0.25


class _UsageError(Exception):
    """A problem with the user's arguments or files: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are a single line (exit code 2 as usual)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive(kind):
    expected = {int: "an integer", float: "a number"}[kind]

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _add_model_options(parser, *, alpha=None, epochs=None, batch_size=None):
    """Hyper-parameter options; a ``None`` default leaves the estimator's own."""

    def default(value):
        return "VariationalAutoencoder's default" if value is None else value

    parser.add_argument(
        "--latent-dim",
        type=_positive(int),
        help="number of latent dimensions (default: VariationalAutoencoder's default, 2)",
    )
    parser.add_argument(
        "--alpha",
        type=_positive(float),
        default=alpha,
        help="weight of the per-pixel MSE against the KL term; the implied decoder "
        f"variance is n_features / (2 * alpha) (default: {default(alpha)})",
    )
    parser.add_argument(
        "--epochs",
        type=_positive(int),
        default=epochs,
        help="maximum passes over the data; early stopping may end sooner "
        f"(default: {default(epochs)})",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive(int),
        default=batch_size,
        help=f"samples per step (default: {default(batch_size)})",
    )
    parser.add_argument(
        "--learning-rate",
        type=_positive(float),
        help="Adam's learning rate (default: VariationalAutoencoder's default, 1e-3)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed; fits are reproducible (default: 0)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output while training")


def _parser():
    parser = _Parser(
        prog="skvae",
        description="Train and use a convolutional variational autoencoder "
        "(scikit-learn estimator, Keras model). Without a command, runs 'demo'.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"skvae {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="train on scikit-learn's bundled digits and write a picture report (default)",
        description="Train on scikit-learn's 8x8 digits (no download), compare held-out "
        "reconstruction error and log-likelihood with PCA at the same latent size, and "
        "write PNG pictures, index.html and results.json to a report folder. Needs matplotlib.",
    )
    demo.add_argument(
        "--out", default=DEFAULT_REPORT_DIR, help="report folder (default: %(default)s)"
    )
    _add_model_options(demo, alpha=DEMO_ALPHA, epochs=DEMO_EPOCHS, batch_size=DEMO_BATCH_SIZE)

    fit = commands.add_parser(
        "fit",
        help="train on an array or IDX file and save the model with joblib",
        description="Train a VariationalAutoencoder on DATA and save it with joblib, "
        "exactly as fitting the array from Python would. uint8 data (such as MNIST pixels "
        "0-255) are read as 8-bit intensities: the model sees them divided by 255 and "
        "samples in 0-255; other numeric data are used as they are. .npy files and "
        "uncompressed 8-bit IDX files are memory-mapped, not copied. Arrays of shape "
        "(n, height, width) or "
        "(n, height, width, channels) are images and get a convolutional network; 2-D arrays "
        "are rows (square feature counts of at least 16 are read as square images).",
    )
    fit.add_argument(
        "data",
        metavar="DATA",
        help="a .npy file, a .npz file, or an MNIST-style IDX file (gzipped or not)",
    )
    fit.add_argument(
        "--key",
        help="array to use inside an .npz file (default: its only array, or 'X')",
    )
    fit.add_argument(
        "--out", default="model.joblib", help="where to save the model (default: %(default)s)"
    )
    _add_model_options(fit)

    sample = commands.add_parser(
        "sample",
        help="generate images from a saved model",
        description="Decode draws from the prior of a model saved by 'skvae fit' and save "
        "them as a picture grid (needs matplotlib), or as an array when OUT ends in .npy.",
    )
    sample.add_argument("model", metavar="MODEL", help="a model file written by 'skvae fit'")
    sample.add_argument(
        "-n",
        "--n-samples",
        type=_positive(int),
        default=64,
        help="number of samples (default: %(default)s)",
    )
    sample.add_argument(
        "--out",
        default="samples.png",
        help="picture to write (.png, .pdf, .svg, ...) or .npy array (default: %(default)s)",
    )
    sample.add_argument("--seed", type=int, default=None, help="seed of the draws")
    return parser


def _pyplot(command):
    """Pyplot on the file-only Agg backend, or a usage error naming ``command``."""
    try:
        import matplotlib
    except ImportError:
        raise _UsageError(
            f"'skvae {command}' draws pictures and needs matplotlib: pip install \"skvae[plot]\""
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _verbosity(args):
    if args.quiet:
        return 0
    # A progress bar redraws in place on a terminal; in a log file it would
    # print a line per step, so write one line per epoch there instead.
    return 1 if sys.stdout.isatty() else 2


def _estimator(args, **extra):
    from . import VariationalAutoencoder

    chosen = dict(
        latent_dim=args.latent_dim,
        alpha=args.alpha,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
    )
    return VariationalAutoencoder(
        **{name: value for name, value in chosen.items() if value is not None},
        random_state=args.seed,
        verbose=_verbosity(args),
        **extra,
    )


def _fit(estimator, X):
    try:
        return estimator.fit(X)
    except ValueError as error:  # bad data or hyper-parameters, diverged training
        raise _UsageError(f"cannot fit: {_one_line(error)}") from None


def _one_line(error):
    return " ".join(str(error).split())


def _makedirs_for(path):
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise _UsageError(f"cannot create {directory!r}: {error.strerror}") from None


# ------------------------------------------------------------------- demo


def _corrupt(X, seed):
    """Digits with Gaussian pixel noise, clipped back to [0, 1]."""
    import numpy as np

    noise = np.random.default_rng(seed).standard_normal(X.shape)
    return np.clip(X + DEMO_NOISE * noise, 0, 1).astype(X.dtype)


def _interpolation_pairs(y):
    """Indices of the first test digits of a few contrasting classes."""
    first = {
        digit: int(next(i for i, label in enumerate(y) if label == digit)) for digit in set(y)
    }
    pairs = [(0, 6), (1, 7), (3, 8), (4, 9), (2, 5)]
    return [(first[a], first[b]) for a, b in pairs if a in first and b in first]


def _save(figure, path):
    figure.savefig(path, dpi=110, bbox_inches="tight")


_PICTURES = {
    "latent_space.png": "Latent means of the held-out digits, coloured by digit class.",
    "reconstructions.png": "Held-out digits (top) and their reconstructions "
    "inverse_transform(transform(x)) (bottom).",
    "samples.png": "New digits: decoded draws from the prior N(0, I) (sample).",
    "interpolation.png": "Decoded straight lines in latent space between pairs of real "
    "held-out digits (interpolate).",
    "denoising.png": "Held-out digits, the same digits with Gaussian noise (standard "
    f"deviation {DEMO_NOISE}), and what the model reconstructs from the noisy input.",
    "loss_curves.png": "Training and validation losses per epoch (history_).",
}


def _write_index(out, results):
    rows = "\n".join(
        f"<tr><td>{html.escape(name)}</td><td>{results['vae'][key]:.4g}</td>"
        f"<td>{results['pca'][key]:.4g}</td></tr>"
        for key, name in [
            ("reconstruction_mse", "held-out reconstruction MSE per pixel (lower is better)"),
            ("score", "held-out log-likelihood, nats per digit (higher is better)"),
            ("denoising_mse", "MSE of reconstructions from corrupted digits (lower is better)"),
        ]
    )
    figures = "\n".join(
        f'<figure><img src="{name}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption in _PICTURES.items()
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>skvae demo report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
td,th{{padding:.2em 1em}}img{{max-width:100%}}figure{{margin:2em 0}}</style></head>
<body><h1>skvae demo: a variational autoencoder on scikit-learn's digits</h1>
<p>{results["n_train"]} training and {results["n_test"]} held-out 8x8 digits,
latent_dim={results["latent_dim"]}, alpha={results["alpha"]:g},
{results["epochs_run"]} epochs in {results["fit_seconds"]:.1f} s.
PCA uses the same number of components; its score is the probabilistic PCA likelihood.</p>
<table><tr><th></th><th>VAE</th><th>PCA</th></tr>
{rows}
</table>
{figures}
</body></html>
"""
    with open(os.path.join(out, "index.html"), "w", encoding="utf-8") as file:
        file.write(page)


def _demo(args):
    plt = _pyplot("demo")
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split

    from .plotting import (
        InterpolationDisplay,
        LatentSpaceDisplay,
        LossCurveDisplay,
        ReconstructionDisplay,
        SamplesDisplay,
    )

    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as error:
        raise _UsageError(f"cannot create report folder {args.out!r}: {error.strerror}") from None
    digits = load_digits()
    X = (digits.data / 16).astype(np.float32)
    X_train, X_test, _, y_test = train_test_split(
        X, digits.target, test_size=0.25, random_state=args.seed, stratify=digits.target
    )
    print(f"Training on {len(X_train)} digits, holding out {len(X_test)}...", flush=True)
    vae = _estimator(args)
    start = time.perf_counter()
    _fit(vae, X_train)
    fit_seconds = time.perf_counter() - start
    pca = PCA(vae.latent_dim, random_state=args.seed).fit(X_train)
    X_corrupted = _corrupt(X_test, args.seed)

    def evaluate(model):
        def mse(inputs):
            reconstruction = model.inverse_transform(model.transform(inputs))
            return float(np.mean((reconstruction - X_test) ** 2))

        return {
            "reconstruction_mse": mse(X_test),
            "score": float(model.score(X_test)),
            "denoising_mse": mse(X_corrupted),
        }

    results = {
        "n_train": len(X_train),
        "n_test": len(X_test),
        "latent_dim": vae.latent_dim,
        "alpha": vae.alpha,
        "epochs_run": vae.n_iter_,
        "fit_seconds": round(fit_seconds, 2),
        "vae": evaluate(vae),
        "pca": evaluate(pca),
    }

    figure, ax = plt.subplots(figsize=(6, 5))
    display = LatentSpaceDisplay.from_estimator(vae, X_test, y_test, ax=ax)
    display.colorbar_.set_label("digit")
    ax.set_title("Latent space (held-out digits)")
    _save(figure, os.path.join(args.out, "latent_space.png"))

    figure, ax = plt.subplots(figsize=(8, 2))
    ReconstructionDisplay.from_estimator(vae, X_test, n_images=12, ax=ax)
    ax.set_title("Held-out digits and their reconstructions")
    _save(figure, os.path.join(args.out, "reconstructions.png"))

    figure, ax = plt.subplots(figsize=(6, 6))
    SamplesDisplay.from_estimator(vae, 64, random_state=args.seed, ax=ax)
    ax.set_title("Samples from the prior")
    _save(figure, os.path.join(args.out, "samples.png"))

    pairs = _interpolation_pairs(y_test)
    starts, ends = (X_test[[pair[i] for pair in pairs]] for i in (0, 1))
    figure, ax = plt.subplots(figsize=(8, 0.9 * len(pairs) + 0.6))
    InterpolationDisplay.from_estimator(vae, starts, ends, n_steps=10, ax=ax)
    ax.set_title("Interpolation between real digits")
    _save(figure, os.path.join(args.out, "interpolation.png"))

    figure, ax = plt.subplots(figsize=(8, 2.6))
    ReconstructionDisplay.from_estimator(vae, X_test, X_corrupted=X_corrupted, n_images=12, ax=ax)
    ax.set_title("Denoising: inverse_transform(transform(corrupted))")
    _save(figure, os.path.join(args.out, "denoising.png"))

    figure, axes = plt.subplots(1, 3, figsize=(12, 3.2), layout="constrained")
    for ax, (key, title) in zip(
        axes,
        [
            ("loss", "alpha * MSE + KL"),
            ("reconstruction_loss", "MSE per pixel"),
            ("kl_loss", "KL to the prior (nats)"),
        ],
        strict=True,
    ):
        LossCurveDisplay.from_estimator(vae, ax=ax, keys=(key, f"val_{key}"))
        ax.set_title(title)
    _save(figure, os.path.join(args.out, "loss_curves.png"))
    plt.close("all")

    with open(os.path.join(args.out, "results.json"), "w") as file:
        json.dump(results, file, indent=2)
    _write_index(args.out, results)

    vae_results, pca_results = results["vae"], results["pca"]
    print(f"\nFitted {vae.n_iter_} epochs in {fit_seconds:.1f} s.")
    print(f"{'held-out':28}{'VAE':>10}{'PCA':>10}")
    for key, label, precision in [
        ("reconstruction_mse", "reconstruction MSE / pixel", 4),
        ("score", "log-likelihood (nats)", 1),
        ("denoising_mse", "denoising MSE / pixel", 4),
    ]:
        print(f"{label:28}{vae_results[key]:10.{precision}f}{pca_results[key]:10.{precision}f}")
    print(f"\nReport written to {os.path.join(args.out, 'index.html')}")
    return 0


# -------------------------------------------------------------- fit/sample


def _load_data(path, key=None):
    """The training array in ``path``, as stored: neither copied nor rescaled."""
    from .datasets import load_array

    try:
        data = load_array(path, key=key)
    except OSError as error:
        raise _UsageError(f"cannot read DATA {path!r}: {error.strerror or error}") from None
    except ValueError as error:
        raise _UsageError(f"cannot read DATA {path!r}: {_one_line(error)}") from None
    except KeyError as error:  # an .npz file without the array asked for
        raise _UsageError(f"{error.args[0]}; choose one with --key.") from None
    if data.dtype.kind not in "uif":
        raise _UsageError(f"DATA {path!r} holds {data.dtype} values; expected numbers.")
    if data.ndim == 3:
        data = data[..., None]  # (n, height, width): one-channel images; a view, not a copy
    if data.ndim not in (2, 4) or len(data) < 2:
        raise _UsageError(
            f"DATA {path!r} has shape {data.shape}; expected at least two samples as rows "
            "(n, features) or images (n, height, width[, channels])."
        )
    return data


def _fit_command(args):
    X = _load_data(args.data, args.key)
    import joblib

    _makedirs_for(args.out)
    print(f"Training on {len(X)} samples of shape {X.shape[1:]}...", flush=True)
    vae = _fit(_estimator(args), X)
    try:
        joblib.dump(vae, args.out)
    except OSError as error:
        raise _UsageError(f"cannot write {args.out!r}: {error.strerror or error}") from None
    final_loss = vae.history_.get("val_loss", vae.history_["loss"])[-1]
    print(
        f"Saved a {vae.architecture_} model ({vae.n_iter_} epochs, final loss "
        f"{final_loss:.4g}) to {args.out}"
    )
    return 0


def _load_model(path):
    import joblib

    from . import VariationalAutoencoder

    try:
        model = joblib.load(path)
    except OSError as error:
        raise _UsageError(f"cannot read MODEL {path!r}: {error.strerror or error}") from None
    except Exception as error:  # unpickling reports damage with many exception types
        raise _UsageError(
            f"cannot read MODEL {path!r}: not a model saved by 'skvae fit' "
            f"({type(error).__name__})"
        ) from None
    if not isinstance(model, VariationalAutoencoder):
        raise _UsageError(
            f"MODEL {path!r} holds a {type(model).__name__}, not a VariationalAutoencoder."
        )
    return model


def _sample_command(args):
    import numpy as np

    as_array = args.out.endswith(".npy")
    plt = None if as_array else _pyplot("sample")
    model = _load_model(args.model)
    samples = model.sample(args.n_samples, random_state=args.seed)
    _makedirs_for(args.out)
    try:
        if as_array:
            np.save(args.out, samples)
        else:
            if model.image_shape_ is None:
                raise _UsageError(
                    f"MODEL {args.model!r} was fitted on tabular data, which has no picture; "
                    "write an array with --out samples.npy."
                )
            from .plotting import SamplesDisplay

            figure, ax = plt.subplots(figsize=(6, 6))
            SamplesDisplay(samples, image_shape=model.image_shape_).plot(ax=ax)
            _save(figure, args.out)
            plt.close(figure)
    except OSError as error:
        raise _UsageError(f"cannot write {args.out!r}: {error.strerror or error}") from None
    except ValueError as error:  # e.g. an unknown picture format
        raise _UsageError(f"cannot write {args.out!r}: {_one_line(error)}") from None
    print(f"Wrote {args.n_samples} samples to {args.out}")
    return 0


_COMMANDS = {"demo": _demo, "fit": _fit_command, "sample": _sample_command}


@contextlib.contextmanager
def _native_logs_silenced():
    """Discard what C++ libraries write to the stderr file descriptor.

    TensorFlow's runtime logs several lines to stderr when it loads and on
    first use, whatever ``TF_CPP_MIN_LOG_LEVEL`` says, which would bury the
    one-line errors of this program. Python's ``sys.stderr`` (warnings,
    tracebacks, our errors) is moved to a copy of the descriptor and stays
    visible. ``TF_CPP_MIN_LOG_LEVEL=0`` or ``1`` keeps the native logs.
    """
    try:
        stderr_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        stderr_fd = None  # e.g. captured by a test runner: nothing native to hide
    if stderr_fd is None or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("0", "1"):
        yield
        return
    original = sys.stderr
    original.flush()
    python_fd = os.dup(stderr_fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stderr_fd)
    os.close(devnull)
    sys.stderr = open(  # closed below, once the descriptor is restored
        python_fd, "w", buffering=1, encoding=original.encoding, errors="backslashreplace"
    )
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(python_fd, stderr_fd)
        sys.stderr.close()
        sys.stderr = original


def main(argv=None):
    """Entry point of ``skvae`` and ``python -m skvae``; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["demo", *argv]  # demo is the default command
    args = _parser().parse_args(argv)
    with _native_logs_silenced():
        try:
            return _COMMANDS[args.command](args)
        except _UsageError as error:
            print(f"skvae {args.command}: error: {error}", file=sys.stderr)
            return 2
