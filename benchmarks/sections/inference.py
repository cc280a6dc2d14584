"""Section 2: transform, inverse_transform and score_samples against ``Model.predict``."""

import math

import numpy as np

from benchmarks.data import repeat_rows, scaled
from benchmarks.harness import compare


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
    X = scaled(repeat_rows(images, sizes.n_inference)[..., None])
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
