"""The ``skvae`` command line: ``demo`` (the default), ``fit``, the model's commands, ``sample``.

This module parses the arguments, runs the estimator and turns every problem
with the user's arguments or files into one line on stderr and exit code 2,
like argparse's own usage errors. Data files are read and written by
:mod:`skvae._tables`; the demo's evaluation, its report and the pictures are
:mod:`skvae._report`. Models are saved as ``.skvae`` files (``skvae.save``),
which load without pickle; ``--standardize`` saves a
``Pipeline(StandardScaler, estimator)`` in the same format. Pickle (joblib)
files are written when asked for by name, and read only with
``--allow-pickle``.
"""

import argparse
import contextlib
import io
import os
import sys
import time

import numpy as np

DEFAULT_REPORT_DIR = "skvae-report"
DEFAULT_MODEL_FILE = "model.skvae"
# Model files with these suffixes are pickles, written and read with joblib.
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
# The first bytes of a zip archive, which a .skvae file is (and a pickle never).
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_NOTE = (
    "note: {path!r} is a joblib (pickle) file, which can run code when loaded; load such "
    "files only from sources you trust ('skvae fit --out model.skvae' writes a safe one)."
)
# The demo's option defaults, tuned on load_digits (2-D latent space, held-out
# split): alpha=1000 implies a decoder standard deviation of sqrt(64 / 2000)
# ~ 0.18 per pixel, which beat PCA's reconstruction error by about 40% while
# the KL term (about 5 nats) keeps the latent space smooth enough to sample
# from; 3000 reconstructed worse and 500 blurred more. Its run time is in
# benchmarks/README.md.
DEMO_ALPHA = 1000.0
DEMO_EPOCHS = 100
# The demo was tuned at this batch size.
DEMO_BATCH_SIZE = 64


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


def _alpha(text):
    """``auto`` or a positive number."""
    return "auto" if text == "auto" else _positive(float)(text)


_alpha.__name__ = "'auto' or positive float"


def _image_shape(text):
    """``HEIGHT,WIDTH`` or ``HEIGHT,WIDTH,CHANNELS``, positive integers."""
    try:
        sides = tuple(int(side) for side in text.lower().replace("x", ",").split(","))
    except ValueError:
        sides = ()
    if len(sides) not in (2, 3) or min(sides) < 1:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHT,WIDTH or HEIGHT,WIDTH,CHANNELS (positive integers), got {text!r}"
        )
    return sides


_image_shape.__name__ = "image shape"


def _layer_sizes(text):
    """``auto``, or layer widths separated by commas (empty: no hidden layer)."""
    if text == "auto":
        return "auto"
    try:
        sizes = tuple(int(size) for size in text.split(",") if size.strip())
    except ValueError:
        sizes = (0,)
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or positive integers separated by commas, got {text!r}"
        )
    return sizes


_layer_sizes.__name__ = "layer sizes"


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


_fraction.__name__ = "fraction"

# Options that set an estimator parameter of the same name (dashes for
# underscores); None leaves the estimator's default.
_PARAMETER_OPTIONS = (
    "latent_dim",
    "alpha",
    "likelihood",
    "hidden_layer_sizes",
    "epochs",
    "batch_size",
    "learning_rate",
    "validation_fraction",
    "n_importance_samples",
    "image_shape",
    "handle_unknown",
    "categorical_weight",
)


def _add_model_options(parser, *, alpha=None, epochs=None, batch_size=None):
    """Hyper-parameter options; a ``None`` default leaves the estimator's own."""

    def default(value, own):
        return f"the estimator's default, {own}" if value is None else value

    parser.add_argument(
        "--latent-dim",
        type=_positive(int),
        help="number of latent dimensions (default: the estimator's default, 2)",
    )
    parser.add_argument(
        "--alpha",
        type=_alpha,
        default=alpha,
        help="weight of the per-feature MSE against the KL term, or 'auto' to train on the "
        f"ELBO with the decoder's noise fitted to the data (default: {default(alpha, 'auto')})",
    )
    parser.add_argument(
        "--likelihood",
        help="the decoder's distribution: gaussian, student_t, bernoulli or auto "
        "(default: the estimator's default, auto)",
    )
    parser.add_argument(
        "--hidden-layer-sizes",
        type=_layer_sizes,
        metavar="SIZES",
        help="widths of the dense hidden layers, e.g. 64,32 ('' for none; default: the "
        "estimator's default, auto)",
    )
    parser.add_argument(
        "--epochs",
        type=_positive(int),
        default=epochs,
        help="maximum passes over the data; early stopping may end sooner "
        f"(default: {default(epochs, 'auto')})",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive(int),
        default=batch_size,
        help=f"samples per step (default: {default(batch_size, 32)})",
    )
    parser.add_argument(
        "--learning-rate",
        type=_positive(float),
        help="Adam's peak learning rate (default: the estimator's default, 3e-3)",
    )
    parser.add_argument(
        "--validation-fraction",
        type=_fraction,
        help="rows held out for early stopping (default: the estimator's default, 0.1)",
    )
    parser.add_argument(
        "--n-importance-samples",
        type=_positive(int),
        help="latent draws per row when scoring and imputing (default: the estimator's "
        "default, 10)",
    )
    parser.add_argument(
        "--handle-unknown",
        choices=("error", "ignore"),
        help="a category of a CSV column that the fit did not see, met by a later command: "
        "an error, or 'ignore' to read it as a missing entry (default: the estimator's "
        "default, error)",
    )
    parser.add_argument(
        "--categorical-weight",
        type=_positive(float),
        help="how many times each text column of a CSV counts in the training objective "
        "beside the numeric ones (default: the estimator's default, 1.0)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed; fits are reproducible (default: 0)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output while training")


def _add_model_argument(parser, what="a model"):
    parser.add_argument(
        "model",
        metavar="MODEL",
        help=f"{what} written by 'skvae fit' or skvae.save (.skvae)",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also read MODEL if it is a joblib or pickle file, which can run any code when "
        "loaded: only for files from a source you trust",
    )


def _add_data_argument(parser, help):
    parser.add_argument(
        "data",
        metavar="DATA",
        help=f"{help}: a CSV file with a header (.csv, .tsv, gzipped too), a Parquet file, "
        "a .npy or .npz file, or an MNIST-style IDX file (gzipped or not)",
    )
    parser.add_argument(
        "--key",
        help="array to use inside an .npz file (default: its only array, or 'X')",
    )


# The commands that apply a saved model to DATA: a summary, what they write,
# and the estimator they need (None: either).
_MODEL_COMMANDS = {
    "transform": (
        "write the latent means of DATA's rows",
        "the latent means of DATA's rows (a VAEImputer: DATA imputed, as 'impute' does)",
        None,
    ),
    "reconstruct": (
        "write DATA encoded and decoded again",
        "DATA passed through the encoder's mean and the decoder, in DATA's units",
        "VariationalAutoencoder",
    ),
    "score": (
        "print (or write per row) the log-likelihood of DATA",
        "each row's log-likelihood bound in nats (a VAEImputer: of the observed entries, "
        "their mean only), and print the mean",
        None,
    ),
    "impute": (
        "write DATA with its missing cells filled in",
        "DATA with its missing cells (empty in a CSV file) filled in, observed cells as they were",
        "VAEImputer",
    ),
}


def _parser():
    parser = _Parser(
        prog="skvae",
        description="Train and use a variational autoencoder (scikit-learn estimator, Keras "
        "model) on tables and images. Without a command, runs 'demo'.",
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
        help="train on a table, array or IDX file and save the model",
        description="Train a VariationalAutoencoder (or with --imputer a VAEImputer) on DATA "
        "and save it, exactly as fitting the data from Python and skvae.save would. A table's "
        "column names are kept in the model, and its empty cells are missing values (which "
        "only the imputer accepts). uint8 data (such as MNIST pixels 0-255) are read as 8-bit "
        "intensities: the model sees them divided by 255 and samples in 0-255; other numeric "
        "data are used as they are, or standardized with --standardize. .npy files and "
        "uncompressed 8-bit IDX files are memory-mapped, not copied. Arrays of shape "
        "(n, height, width) or (n, height, width, channels) are images and get a "
        "convolutional network; rows (2-D) are a table unless --image-shape says how to "
        "read them as images.",
    )
    _add_data_argument(fit, "the training data")
    fit.add_argument(
        "--imputer",
        action="store_true",
        help="fit a VAEImputer, for data with missing values ('skvae impute' uses it)",
    )
    fit.add_argument(
        "--standardize",
        action="store_true",
        help="scale each column to zero mean and unit variance before training; the scaler "
        "is saved in the model, and the other commands undo it, so their values are in "
        "DATA's units",
    )
    fit.add_argument(
        "--image-shape",
        type=_image_shape,
        metavar="H,W[,C]",
        help="read each row as an image of this shape (e.g. 28,28)",
    )
    fit.add_argument(
        "--out",
        default=DEFAULT_MODEL_FILE,
        help="where to save the model: a .skvae file, which anyone can load safely, or a "
        "pickle with joblib when OUT ends in .joblib or .pkl (default: %(default)s)",
    )
    _add_model_options(fit)

    for name, (summary, writes, needs) in _MODEL_COMMANDS.items():
        command = commands.add_parser(
            name,
            help=summary,
            description=f"Write {writes}. MODEL is {f'a {needs}' if needs else 'a model'} "
            "saved by 'skvae fit' ('skvae fit --imputer' saves a VAEImputer); DATA must "
            "have the columns it was fitted on.",
        )
        _add_model_argument(command)
        _add_data_argument(command, "the samples")
        command.add_argument(
            "--out",
            required=name != "score",
            help="file to write: .csv, .tsv, .parquet (column names kept) or .npy"
            + (" (optional: the mean is printed)" if name == "score" else ""),
        )

    sample = commands.add_parser(
        "sample",
        help="generate samples from a saved model",
        description="Decode draws from the prior of a model saved by 'skvae fit' and save "
        "them as a picture grid (needs matplotlib), or as a table or array when OUT ends in "
        ".csv, .tsv, .parquet or .npy.",
    )
    _add_model_argument(sample, "a VariationalAutoencoder")
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
        help="picture to write (.png, .pdf, .svg, ...), or a .csv, .tsv, .parquet or .npy "
        "file (default: %(default)s)",
    )
    sample.add_argument("--seed", type=int, default=None, help="seed of the draws")
    sample.add_argument(
        "--noise",
        choices=["auto", "yes", "no"],
        default="auto",
        help="draw each sample from the decoder's distribution (yes) or give its mean (no); "
        "auto: yes for a model of a table with categorical, ordinal or count columns, "
        "no otherwise (default: %(default)s)",
    )
    return parser


def _require_matplotlib(command):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise _UsageError(
            f"'skvae {command}' draws pictures and needs matplotlib: pip install \"skvae[plot]\""
        ) from None


def _estimator(args, *, imputer=False, **extra):
    from . import VAEImputer, VariationalAutoencoder

    chosen = {name: getattr(args, name, None) for name in _PARAMETER_OPTIONS}
    chosen.update(extra)
    return (VAEImputer if imputer else VariationalAutoencoder)(
        **{name: value for name, value in chosen.items() if value is not None},
        random_state=args.seed,
        # One bar over the epochs, redrawn in place on a terminal (a plain
        # line per epoch when the output is a file or a pipe).
        verbose=0 if args.quiet else 1,
    )


def _fit(estimator, X):
    from . import VAEImputer

    try:
        return estimator.fit(X)
    except ValueError as error:  # bad data or hyper-parameters, diverged training
        reason = _reason(error)
        if "NaN" in reason and not isinstance(_final_step(estimator), VAEImputer):
            reason += " (for data with missing values, fit a VAEImputer with --imputer)"
        raise _UsageError(f"cannot fit: {reason}") from None


def _final_step(estimator):
    """The estimator itself, or the last step of a pipeline."""
    steps = getattr(estimator, "steps", None)
    return estimator if steps is None else steps[-1][1]


def _reason(error):
    """Why ``error`` happened, on one line: an OSError's strerror, else its message."""
    return getattr(error, "strerror", None) or " ".join(str(error).split())


def _makedirs(directory, description="folder"):
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise _UsageError(f"cannot create {description} {directory!r}: {_reason(error)}") from None


def _makedirs_for(path):
    _makedirs(os.path.dirname(os.path.abspath(path)))


def _demo(args):
    _require_matplotlib("demo")
    from . import _report

    _makedirs(args.out, "report folder")
    digits = _report.load_digits_split(args.seed)
    print(
        f"Training on {len(digits.X_train)} digits, holding out {len(digits.X_test)}...",
        flush=True,
    )
    vae = _estimator(args, image_shape=digits.image_shape)
    start = time.perf_counter()
    _fit(vae, digits.X_train)
    fit_seconds = time.perf_counter() - start
    results = _report.evaluate(vae, digits, seed=args.seed, fit_seconds=fit_seconds)
    try:
        _report.write_report(args.out, vae, digits, results, seed=args.seed)
    except OSError as error:
        raise _UsageError(f"cannot write the report to {args.out!r}: {_reason(error)}") from None
    print(f"\n{_report.summary(results)}")
    print(f"\nReport written to {os.path.join(args.out, 'index.html')}")
    return 0


def _load_data(path, key=None):
    """The samples in ``path``: a DataFrame for a table, else the array as stored.

    Arrays are neither copied nor rescaled; ``(n, height, width)`` gets a
    channel axis (a view).
    """
    from ._tables import read_data

    try:
        data = read_data(path, key=key)
    except (OSError, ValueError) as error:
        raise _UsageError(f"cannot read DATA {path!r}: {_reason(error)}") from None
    except KeyError as error:  # an .npz file without the array asked for
        raise _UsageError(f"{error.args[0]}; choose one with --key.") from None
    if not hasattr(data, "dtype"):  # a table: the estimator checks its columns
        if len(data) < 1 or len(data.columns) < 1:
            raise _UsageError(f"DATA {path!r} holds no rows or no columns.")
        return data
    if data.dtype.kind not in "uif":
        raise _UsageError(f"DATA {path!r} holds {data.dtype} values; expected numbers.")
    if data.ndim == 3:
        data = data[..., None]  # (n, height, width): one-channel images; a view, not a copy
    if data.ndim not in (2, 4) or len(data) < 1:
        raise _UsageError(
            f"DATA {path!r} has shape {data.shape}; expected samples as rows "
            "(n, features) or images (n, height, width[, channels])."
        )
    return data


def _fit_command(args):
    X = _load_data(args.data, args.key)
    if len(X) < 2:
        raise _UsageError(
            f"DATA {args.data!r} has shape {tuple(X.shape)}; training needs two samples or more."
        )
    _makedirs_for(args.out)
    shape = tuple(X.shape[1:])
    print(f"Training on {len(X)} samples of shape {shape}...", flush=True)
    estimator = _estimator(args, imputer=args.imputer)
    if args.standardize:
        model = _fit(_standardized(estimator, X, args.data), X)
        estimator = model[-1]
    else:
        model = estimator = _fit(estimator, X)
    try:
        if args.out.lower().endswith(PICKLE_SUFFIXES):
            import joblib

            joblib.dump(model, args.out)
        else:
            from ._model_file import save

            save(model, args.out)
    except OSError as error:
        raise _UsageError(f"cannot write {args.out!r}: {_reason(error)}") from None
    final_loss = estimator.history_.get("val_loss", estimator.history_["loss"])[-1]
    kind = type(estimator).__name__
    print(
        f"Saved a {estimator.architecture_} {kind} ({estimator.n_iter_} epochs, final loss "
        f"{final_loss:.4g}{', standardized data' if args.standardize else ''}) to {args.out}"
    )
    return 0


def _standardized(estimator, X, path):
    """``Pipeline(StandardScaler, estimator)`` for the rows ``X``."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if X.ndim != 2:
        raise _UsageError(
            f"--standardize scales the columns of a table, but DATA {path!r} holds images of "
            f"shape {X.shape[1:]}; pass rows (use --image-shape to read them as images)."
        )
    non_numeric = [
        str(column)
        for column, dtype in getattr(X, "dtypes", {}).items()
        if getattr(dtype, "kind", "O") not in "biuf"
    ]
    if non_numeric:
        raise _UsageError(
            f"cannot fit: --standardize scales numeric columns, and DATA {path!r} has "
            f"non-numeric columns: {', '.join(non_numeric)}."
        )
    return make_pipeline(StandardScaler(), estimator)


class _Model:
    """A loaded model: the estimator and the scaler saved with it (or None)."""

    def __init__(self, model, path):
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        from . import VAEImputer, VariationalAutoencoder

        self.scaler = None
        if (
            isinstance(model, Pipeline)
            and len(model.steps) == 2
            and type(model[0]) is StandardScaler
        ):
            self.scaler, model = model[0], model[-1]
        if not isinstance(model, (VariationalAutoencoder, VAEImputer)):
            raise _UsageError(
                f"MODEL {path!r} holds a {type(model).__name__}, not a VariationalAutoencoder "
                "or a VAEImputer."
            )
        self.estimator = model
        self.path = path

    @property
    def name(self):
        return type(self.estimator).__name__

    def require(self, kind, command):
        if kind is not None and self.name != kind:
            alternative = "impute" if self.name == "VAEImputer" else "transform"
            raise _UsageError(
                f"MODEL {self.path!r} holds a {self.name}; 'skvae {command}' needs a {kind} "
                f"(try 'skvae {alternative}')."
            )

    def feature_names(self, X):
        """The column names of the data ``X``, or those seen at fit, or None."""
        columns = getattr(X, "columns", None)
        if columns is not None:
            return [str(column) for column in columns]
        for fitted in (self.scaler, self.estimator):
            names = getattr(fitted, "feature_names_in_", None)
            if names is not None:
                return [str(name) for name in names]
        return None

    def scaled(self, X):
        """``X`` as the estimator was trained on it (standardized, when saved so)."""
        if self.scaler is None:
            return X
        if getattr(X, "ndim", 2) != 2:
            raise _UsageError(
                f"MODEL {self.path!r} standardizes the columns of a table; DATA must be rows."
            )
        return self.scaler.transform(X)

    def unscaled(self, values):
        """Rows in the estimator's units back in the data's (the first features)."""
        if self.scaler is None:
            return values
        values = np.array(values, dtype=np.float64).reshape(len(values), -1)
        n = self.scaler.n_features_in_
        values[:, :n] = self.scaler.inverse_transform(values[:, :n])
        return values


def _is_pickle_file(path):
    """Whether MODEL ``path`` is not a ``.skvae`` file: neither a zip archive nor named so."""
    from ._model_file import ZIP_MAGIC, is_pickle

    try:
        with open(path, "rb") as file:
            start = file.read(len(ZIP_MAGIC))
    except OSError as error:
        raise _UsageError(f"cannot read MODEL {path!r}: {_reason(error)}") from None
    if start == ZIP_MAGIC:
        return False  # a pickle never starts so: even a file named .joblib is read safely
    return is_pickle(start) or not path.lower().endswith(".skvae")


def _load_model(path, allow_pickle=False):
    if _is_pickle_file(path):
        if not allow_pickle:
            from ._model_file import is_pickle

            with open(path, "rb") as file:
                start = file.read(2)
            what = "a pickle (joblib) file" if is_pickle(start) else "not a .skvae model file"
            raise _UsageError(
                f"MODEL {path!r} is {what}; not unpickled, since unpickling can run any code. "
                "Pass --allow-pickle to load a joblib or pickle file from a source you trust."
            )
        print(PICKLE_NOTE.format(path=path), file=sys.stderr)
        model = _load_pickle(path)
    else:
        from ._model_file import load

        try:
            model = load(path)
        except OSError as error:
            raise _UsageError(f"cannot read MODEL {path!r}: {_reason(error)}") from None
        except ValueError as error:
            reason = _reason(error).removeprefix(f"cannot load a model from {path!r}: ")
            raise _UsageError(f"cannot read MODEL {path!r}: {reason}") from None
    return _Model(model, path)


def _load_pickle(path):
    import joblib

    try:
        return joblib.load(path)
    except OSError as error:
        raise _UsageError(f"cannot read MODEL {path!r}: {_reason(error)}") from None
    except Exception as error:  # unpickling reports damage with many exception types
        raise _UsageError(
            f"cannot read MODEL {path!r}: not a model saved by 'skvae fit' "
            f"({type(error).__name__})"
        ) from None


def _check_output(path):
    from ._tables import check_output_name

    try:
        check_output_name(path)
    except ValueError as error:
        raise _UsageError(_reason(error)) from None


def _write(path, values, columns=None):
    from ._tables import write_data

    _makedirs_for(path)
    try:
        write_data(path, values, columns)
    except (OSError, ValueError) as error:
        raise _UsageError(f"cannot write {path!r}: {_reason(error)}") from None


def _apply(command, function, *args):
    """``function(*args)``, the estimator's refusals as one-line errors."""
    try:
        return function(*args)
    except ValueError as error:  # wrong columns, NaN for a VAE, values out of range
        raise _UsageError(f"cannot {command} DATA: {_reason(error)}") from None


def _model_command(args):
    if args.out is not None:
        _check_output(args.out)
    model = _load_model(args.model, args.allow_pickle)
    model.require(_MODEL_COMMANDS[args.command][2], args.command)
    X = _load_data(args.data, args.key)
    columns = model.feature_names(X)
    estimator = model.estimator
    if args.command == "score":
        return _score(args, model, X)
    Xs = _apply(args.command, model.scaled, X)
    if args.command == "transform" and model.name == "VariationalAutoencoder":
        values = _apply("transform", estimator.transform, Xs)
        columns = [str(name) for name in estimator.get_feature_names_out()]
    elif args.command == "reconstruct":
        latent = _apply("reconstruct", estimator.transform, Xs)
        values = model.unscaled(estimator.inverse_transform(latent))
    else:  # impute, or transform with an imputer
        values = _imputed(model, X, Xs)
        columns = [str(name) for name in estimator.get_feature_names_out(columns)]
        if hasattr(X, "dtypes") and not hasattr(values, "dtypes") and values.ndim == 2:
            values = _as_table(values, columns, X.dtypes)
    _write(args.out, values, columns if np.ndim(values) == 2 else None)
    print(f"Wrote {len(values)} rows to {args.out}")
    return 0


def _imputed(model, X, Xs):
    """The imputer's output for ``X``, in ``X``'s units, observed cells exactly as given."""
    estimator = model.estimator
    completed = _apply("impute", estimator.transform, Xs)
    if model.scaler is None:
        return completed  # the imputer gives observed cells back as they are
    completed = model.unscaled(completed)
    original = np.asarray(X, dtype=np.float64)
    if original.ndim != 2 or completed.shape[1] < original.shape[1]:
        return completed  # images, or empty features dropped: nothing to line up
    values = completed.reshape(len(completed), -1).copy()
    n = original.shape[1]
    missing = estimator.missing_values
    observed = ~np.isnan(original) if np.isnan(missing) else original != missing
    values[:, :n][observed] = original[observed]
    return values


def _as_table(values, columns, dtypes):
    """A DataFrame of ``values``; the data's integer columns (never missing) stay integers."""
    import pandas

    table = pandas.DataFrame(values, columns=columns)
    for index, dtype in enumerate(dtypes):
        if dtype.kind in "iu" and index < table.shape[1]:
            table.isetitem(index, table.iloc[:, index].astype(dtype))
    return table


def _score(args, model, X):
    estimator = model.estimator
    if args.out is not None and model.name == "VAEImputer":
        raise _UsageError(
            "a VAEImputer scores the data as a whole; leave out --out to print its score."
        )
    Xs = _apply("score", model.scaled, X)
    if model.name == "VAEImputer":
        per_row = None
        mean = _apply("score", estimator.score, Xs)
    else:
        per_row = _apply("score", estimator.score_samples, Xs)
        mean = float(np.mean(per_row))
    if model.scaler is not None:  # densities of the standardized values -> of DATA's
        observed = ~np.isnan(np.asarray(X, dtype=np.float64))
        jacobian = (observed * np.log(model.scaler.scale_)).sum(axis=1)
        mean -= float(np.mean(jacobian))
        if per_row is not None:
            per_row = per_row - jacobian
    if args.out is not None:
        _write(args.out, per_row[:, None], ["score"])
    print(f"score: {mean:.6g} nats per row (mean log-likelihood bound of {len(X)} rows)")
    return 0


def _sample_command(args):
    from ._tables import OUTPUT_SUFFIXES

    as_data = args.out.lower().endswith(OUTPUT_SUFFIXES)
    if as_data:
        _check_output(args.out)
    else:
        _require_matplotlib("sample")
    model = _load_model(args.model, args.allow_pickle)
    model.require("VariationalAutoencoder", "sample")
    estimator = model.estimator
    if not as_data and estimator.image_shape_ is None:
        raise _UsageError(
            f"MODEL {args.model!r} was fitted on tabular data, which has no picture; "
            "write a table or an array with --out samples.csv or samples.npy."
        )
    noise = {"auto": "auto", "yes": True, "no": False}[args.noise]
    samples = estimator.sample(args.n_samples, random_state=args.seed, noise=noise)
    if model.scaler is not None:
        samples = model.unscaled(samples)
    if as_data:
        table = samples.ndim == 2 and not args.out.lower().endswith(".npy")
        _write(args.out, samples, model.feature_names(None) if table else None)
    else:
        _makedirs_for(args.out)
        try:
            from ._report import save_samples_picture

            save_samples_picture(samples, estimator.image_shape_, args.out)
        except (OSError, ValueError) as error:  # ValueError: e.g. an unknown picture format
            raise _UsageError(f"cannot write {args.out!r}: {_reason(error)}") from None
    print(f"Wrote {args.n_samples} samples to {args.out}")
    return 0


_COMMANDS = {
    "demo": _demo,
    "fit": _fit_command,
    **dict.fromkeys(_MODEL_COMMANDS, _model_command),
    "sample": _sample_command,
}


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


@contextlib.contextmanager
def _warnings_as_lines(command):
    """Show skvae's warnings as ``skvae COMMAND: warning: ...``, one line each.

    Python's default shows the file, the line and the source line of the
    call, which tell a user of the command line nothing. Other warnings
    keep their usual form.
    """
    import warnings

    from ._logs import SkvaeWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, SkvaeWarning):
            return shown(message, category, filename, lineno, file, line)
        print(f"skvae {command}: warning: {_reason(message)}", file=file or sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``skvae`` and ``python -m skvae``; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["demo", *argv]  # demo is the default command
    args = _parser().parse_args(argv)
    with _native_logs_silenced(), _warnings_as_lines(args.command):
        try:
            return _COMMANDS[args.command](args)
        except _UsageError as error:
            print(f"skvae {args.command}: error: {error}", file=sys.stderr)
            return 2
