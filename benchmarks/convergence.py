"""Time to a good model: the default fit on MNIST against a one-epoch fit, per seed.

For each seed the digits are split 75/25; on the training part, in one
process, it times a one-epoch fit (``epochs=1, batch_size=32,
early_stopping=False, validation_fraction=0.0``, the yardstick whose wall
time is one pass plus the fixed costs), the fit of
``VariationalAutoencoder(latent_dim=k, random_state=seed)`` with everything
else at its default, and the one-epoch fit again. It reports the default
fit's wall time and processor time as multiples of the two one-epoch fits'
mean (a shared machine's speed drifts over a minute-long fit; bracketing it
with the yardstick and using processor time keep the ratio honest), its
held-out reconstruction MSE as a multiple of PCA(k)'s, and its held-out
``score`` (the default importance-weighted bound) minus PPCA's
(``PCA.score``). Run it on two checkouts to compare their defaults.

    python -m benchmarks.convergence --data ../shared/data/mnist --latent-dims 2 --seeds 0 1 2

``--flat`` fits the digits as flat rows of 784 columns with no
``image_shape``: by the documented rule a table, so the defaults give the
dense network and a table's noise model, as a user with 784 numeric
columns gets them (the ``n_features``-scaled defaults of issue 31):

    python -m benchmarks.convergence --data ../shared/data/mnist --flat --seeds 0 1 2

``--short-fits`` measures short fits instead: per seed, on the same split,
the held-out MSE (and its ratio to the mean image's) and the last epoch's
KL term after 1, 2 and 5 epochs (``--short-fit-epochs``) of every objective
a user starts with (``alpha`` in ``"auto"``, 100, 5000), at batch sizes 32
and 128, under the default schedule and under Adam's constant ``1e-3``:

    python -m benchmarks.convergence --data ../shared/data/mnist --short-fits --seeds 0 1 2
"""

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from benchmarks.data import load_images, scaled

ONE_EPOCH = dict(epochs=1, batch_size=32, early_stopping=False, validation_fraction=0.0)

SHORT_FIT_ALPHAS = ("auto", 100, 5000)
SHORT_FIT_BATCH_SIZES = (32, 128)
#: The schedules a short fit is compared under: the default, and the
#: constant rate of the Keras example and of skvae before the cosine schedule.
SHORT_FIT_SCHEDULES = {
    "default": {},
    "constant 1e-3": dict(learning_rate_schedule="constant", learning_rate=1e-3),
}


def _timed_fit(estimator, X):
    """Wall and processor seconds of ``estimator.fit(X)``."""
    start, start_cpu = time.perf_counter(), time.process_time()
    estimator.fit(X)
    return time.perf_counter() - start, time.process_time() - start_cpu


def _held_out_mse(model, X):
    flat = X.reshape(len(X), -1)
    reconstructed = model.inverse_transform(model.transform(X)).reshape(flat.shape)
    return float(np.mean((reconstructed - flat) ** 2))


def measure(X, latent_dim, seed, params=None):
    """One seed's row: the fits' times and the default model's held-out quality."""
    from skvae import VariationalAutoencoder

    X_train, X_test = train_test_split(X, test_size=0.25, random_state=seed)
    settings = dict(latent_dim=latent_dim, random_state=seed, **(params or {}))
    one_epoch = VariationalAutoencoder(**{**settings, **ONE_EPOCH})
    before = _timed_fit(one_epoch, X_train)
    vae = VariationalAutoencoder(**settings)
    fit_s, fit_cpu_s = _timed_fit(vae, X_train)
    after = _timed_fit(one_epoch, X_train)
    one_epoch_s, one_epoch_cpu_s = np.mean([before, after], axis=0)
    flat_train, flat_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    pca = PCA(latent_dim).fit(flat_train)
    pca_mse = float(np.mean((pca.inverse_transform(pca.transform(flat_test)) - flat_test) ** 2))
    return {
        "latent_dim": latent_dim,
        "seed": seed,
        "epochs_run": vae.n_iter_,
        "one_epoch_fit_s": [round(before[0], 2), round(after[0], 2)],
        "fit_s": round(fit_s, 2),
        "fit_cpu_s": round(fit_cpu_s, 2),
        "likelihood": vae.likelihood_,
        "noise_scale": vae.noise_scale_,
        "time_ratio": round(fit_s / one_epoch_s, 2),
        "cpu_time_ratio": round(fit_cpu_s / one_epoch_cpu_s, 2),
        "mse_ratio_to_pca": round(_held_out_mse(vae, X_test) / pca_mse, 4),
        "score_minus_ppca": round(float(vae.score(X_test)) - float(pca.score(flat_test)), 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


def short_fits(X, latent_dim, seed, epochs, params=None):
    """One seed's rows of the short-fit grid: held-out MSE and final KL per setting."""
    from skvae import VariationalAutoencoder

    X_train, X_test = train_test_split(X, test_size=0.25, random_state=seed)
    flat_train, flat_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    mean_image_mse = float(np.mean((flat_test - flat_train.mean(axis=0)) ** 2))
    rows = []
    for n_epochs in epochs:
        for alpha in SHORT_FIT_ALPHAS:
            for batch_size in SHORT_FIT_BATCH_SIZES:
                for schedule, rate in SHORT_FIT_SCHEDULES.items():
                    vae = VariationalAutoencoder(
                        latent_dim=latent_dim,
                        alpha=alpha,
                        epochs=n_epochs,
                        batch_size=batch_size,
                        validation_fraction=0.0,
                        early_stopping=False,
                        random_state=seed,
                        **{**(params or {}), **rate},
                    )
                    fit_s = _timed_fit(vae, X_train)[0]
                    mse = _held_out_mse(vae, X_test)
                    rows.append(
                        {
                            "seed": seed,
                            "epochs": n_epochs,
                            "alpha": alpha,
                            "batch_size": batch_size,
                            "schedule": schedule,
                            "mse": round(mse, 5),
                            "mse_ratio_to_mean_image": round(mse / mean_image_mse, 4),
                            "final_kl": round(vae.history_["kl_loss"][-1], 3),
                            "fit_s": round(fit_s, 2),
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="directory with the MNIST IDX files (default: synthetic)")
    parser.add_argument("--latent-dims", type=int, nargs="+", default=[2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-samples", type=int, help="use only the first N images")
    parser.add_argument("--params", default="{}", help="other VAE parameters, as JSON")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument(
        "--short-fits", action="store_true", help="measure the short-fit grid instead"
    )
    parser.add_argument("--short-fit-epochs", type=int, nargs="+", default=[1, 2, 5])
    parser.add_argument(
        "--flat",
        action="store_true",
        help="fit the images as flat rows (a table of height x width columns, no image_shape)",
    )
    args = parser.parse_args(argv)

    import skvae

    images, _, source = load_images(args.data)
    X = scaled(images[: args.n_samples])
    X = X.reshape(len(X), -1) if args.flat else X[..., None]
    params = json.loads(args.params)
    rows = []
    for latent_dim in args.latent_dims:
        for seed in args.seeds:
            if args.short_fits:
                rows.extend(short_fits(X, latent_dim, seed, args.short_fit_epochs, params))
            else:
                rows.append(measure(X, latent_dim, seed, params))
                print(json.dumps(rows[-1]), flush=True)
    results = {
        "data": source,
        "n_samples": len(X),
        "flat": args.flat,
        "skvae_version": skvae.__version__,
        "params": params,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "rows": rows,
    }
    if args.out:
        with open(args.out, "w") as file:
            json.dump(results, file, indent=2)
    return results


if __name__ == "__main__":
    main()
