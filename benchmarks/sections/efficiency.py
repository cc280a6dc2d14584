"""Section 6: achieved FLOP/s of the fit against a matmul, and the pickled size."""

import math
import pickle
import statistics

import keras
import tensorflow as tf
from keras import layers

from benchmarks.harness import timed


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
