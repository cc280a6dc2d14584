"""skvae on a GPU (Keras' JAX backend) against the same network hand-written in PyTorch.

The GPU machines lent to this project have JAX, PyTorch, NumPy,
scikit-learn and SciPy, but no TensorFlow, no Keras and no network. Keras and
its two dependencies are carried as wheels (about 3 MB), downloaded here for
the GPU machine's Python (3.12 there)::

    pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --platform manylinux2014_x86_64 -d benchmarks/wheels keras namex optree

Then, from the repository root on the GPU machine (one command, a few
minutes)::

    python -m benchmarks.gpu --wheels benchmarks/wheels --out gpu.json

and here, end to end on the CPU with small sizes and a one-epoch "default"
fit (Keras and PyTorch from this environment)::

    python -m benchmarks.gpu --cpu

It measures, on one device: skvae's per-epoch fit throughput (images per
second, compilation excluded) at batch 128 and 512 and its ``transform``
throughput, on JAX; the same network and objective in PyTorch, eager and
``torch.compile``-d; and the wall time of a default fit (``epochs="auto"``)
on MNIST-sized data. The images are scikit-learn's digits upscaled to 28x28
(no download). It prints a Markdown table for ``benchmarks/README.md``.
"""

import argparse
import glob
import json
import os
import sys
import tempfile
import time
import zipfile

import numpy as np

# The network of VariationalAutoencoder's image defaults.
FILTERS, STRIDES, LATENT_DIM, SIDE = (32, 64, 64, 64), (1, 2, 2, 1), 2, 28
ALPHA, LEARNING_RATE = 1000.0, 1e-3
BATCH_SIZES = (128, 512)


def _carry_wheels(directory):
    """Unpack the wheels in ``directory`` (a wheel is its files' site-packages layout)."""
    target = tempfile.mkdtemp(prefix="skvae-gpu-wheels-")
    wheels = sorted(glob.glob(os.path.join(directory, "*.whl")))
    if not wheels:
        raise SystemExit(f"--wheels: no .whl files in {directory}")
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target)
    sys.path.insert(0, target)


def _images(n_rows):
    """``n_rows`` digit images in [0, 1], ``(n_rows, SIDE, SIDE, 1)``: skvae's 4-D image layout."""
    from benchmarks.data import repeat_rows, scaled, synthetic_digits

    images, _ = synthetic_digits(min(n_rows, 2000), side=SIDE)
    return scaled(repeat_rows(images, n_rows))[..., None]


def _per_epoch_seconds(fit, epochs):
    """Seconds per epoch of ``fit(n_epochs)`` beyond its first epoch (compilation, warm-up).

    For a ``fit`` that starts afresh at every call (a new estimator, which
    compiles anew), so that both calls pay the same fixed cost.
    """
    started = time.perf_counter()
    fit(1)
    one = time.perf_counter() - started
    started = time.perf_counter()
    fit(1 + epochs)
    return (time.perf_counter() - started - one) / epochs


def bench_skvae(X, epochs):
    from skvae import VariationalAutoencoder

    def estimator(batch_size, n_epochs):
        return VariationalAutoencoder(
            latent_dim=LATENT_DIM,
            alpha=ALPHA,
            image_shape=(SIDE, SIDE, 1),
            conv_filters=FILTERS,
            conv_strides=STRIDES,
            epochs=n_epochs,
            batch_size=batch_size,
            learning_rate=LEARNING_RATE,
            learning_rate_schedule="constant",
            validation_fraction=0.0,
            early_stopping=False,
            random_state=0,
        )

    results = {}
    for batch_size in BATCH_SIZES:
        seconds = _per_epoch_seconds(lambda n, b=batch_size: estimator(b, n).fit(X), epochs)
        results[f"fit_images_per_s_batch_{batch_size}"] = len(X) / seconds
    fitted = estimator(BATCH_SIZES[0], 1).fit(X)
    fitted.transform(X)  # compiles
    started = time.perf_counter()
    fitted.transform(X)
    results["transform_images_per_s"] = len(X) / (time.perf_counter() - started)
    return results


def default_fit_seconds(X, epochs="auto"):
    from skvae import VariationalAutoencoder

    started = time.perf_counter()
    VariationalAutoencoder(image_shape=(SIDE, SIDE, 1), epochs=epochs, random_state=0).fit(X)
    return time.perf_counter() - started


def torch_vae(device):
    """The same encoder, decoder and objective in plain PyTorch (channels first)."""
    import torch
    from torch import nn

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            layers, channels = [], 1
            for filters, stride in zip(FILTERS, STRIDES, strict=True):
                layers += [nn.Conv2d(channels, filters, 3, stride, padding=1), nn.ReLU()]
                channels = filters
            self.encoder = nn.Sequential(*layers, nn.Flatten())
            self.side = SIDE // int(np.prod(STRIDES))
            flat = FILTERS[-1] * self.side * self.side
            self.mu, self.log_var = nn.Linear(flat, LATENT_DIM), nn.Linear(flat, LATENT_DIM)
            self.expand = nn.Sequential(nn.Linear(LATENT_DIM, flat), nn.ReLU())
            layers = []
            for i in reversed(range(1, len(FILTERS))):
                layers += [_transposed(FILTERS[i], FILTERS[i - 1], STRIDES[i]), nn.ReLU()]
            layers += [_transposed(FILTERS[0], 1, STRIDES[0]), nn.Sigmoid()]
            self.decoder = nn.Sequential(*layers)

        def forward(self, x):
            h = self.encoder(x)
            mu, log_var = self.mu(h), torch.clamp(self.log_var(h), -30.0, 20.0)
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
            h = self.expand(z).view(-1, FILTERS[-1], self.side, self.side)
            x_hat = self.decoder(h)
            reconstruction = ((x - x_hat) ** 2).mean(dim=(1, 2, 3))
            kl = -0.5 * (1 + log_var - mu**2 - torch.exp(log_var)).sum(dim=1)
            return (ALPHA * reconstruction + kl).mean()

    def _transposed(channels_in, channels_out, stride):
        return nn.ConvTranspose2d(
            channels_in, channels_out, 3, stride, padding=1, output_padding=stride - 1
        )

    torch.manual_seed(0)
    return VAE().to(device)


def bench_torch(X, epochs, device, compiled):
    import torch

    results = {}
    data = torch.from_numpy(X.reshape(-1, 1, SIDE, SIDE)).to(device)
    for batch_size in BATCH_SIZES:
        model = torch_vae(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        loss_of = torch.compile(model) if compiled else model

        def fit(n_epochs, model=model, optimizer=optimizer, loss_of=loss_of, b=batch_size):
            generator = torch.Generator().manual_seed(0)
            for _ in range(n_epochs):
                for rows in torch.randperm(len(data), generator=generator).split(b):
                    optimizer.zero_grad(set_to_none=True)
                    loss = loss_of(data[rows.to(device)])
                    loss.backward()
                    optimizer.step()
            if device != "cpu":
                torch.cuda.synchronize()

        # One model per batch size, compiled by its first epoch: that epoch
        # warms up, the next ones are timed (_per_epoch_seconds would count
        # the compilation against them, since a second call compiles nothing).
        fit(1)
        started = time.perf_counter()
        fit(epochs)
        results[f"fit_images_per_s_batch_{batch_size}"] = (
            len(X) * epochs / (time.perf_counter() - started)
        )
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", help="directory of Keras, namex and optree wheels to carry")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU with small sizes")
    parser.add_argument("--out", help="JSON file to write the results to")
    args = parser.parse_args(argv)

    os.environ["KERAS_BACKEND"] = "jax"
    if args.cpu:
        os.environ["JAX_PLATFORMS"] = "cpu"
    if args.wheels:
        _carry_wheels(args.wheels)
    n_fit, epochs, n_default = (512, 1, 512) if args.cpu else (60_000, 2, 60_000)

    import jax
    import torch

    device = "cpu" if args.cpu else "cuda"
    X = _images(n_fit)
    results = {
        "device": str(jax.devices()[0]),
        "torch_device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "n_fit": n_fit,
        "epochs_timed": epochs,
        "skvae_jax": bench_skvae(X, epochs),
        "torch_eager": bench_torch(X, epochs, device, compiled=False),
        "torch_compile": bench_torch(X, epochs, device, compiled=True),
        # On the CPU one epoch of it: the default's 2,500 steps would take minutes.
        "default_fit_seconds": default_fit_seconds(_images(n_default), 1 if args.cpu else "auto"),
        "n_default_fit": n_default,
    }
    assert "tensorflow" not in sys.modules, "skvae imported TensorFlow on JAX"
    print(json.dumps(results, indent=2))
    print(f"\n| {results['device']} | batch | skvae (JAX) | PyTorch eager | torch.compile |")
    print("|---|---|---|---|---|")
    for batch_size in BATCH_SIZES:
        key = f"fit_images_per_s_batch_{batch_size}"
        row = [results[name][key] for name in ("skvae_jax", "torch_eager", "torch_compile")]
        print(f"| fit, images/s | {batch_size} | " + " | ".join(f"{v:,.0f}" for v in row) + " |")
    print(f"| transform, images/s | | {results['skvae_jax']['transform_images_per_s']:,.0f} | | |")
    print(f"| default fit, {n_default} images | | {results['default_fit_seconds']:.1f} s | | |")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
