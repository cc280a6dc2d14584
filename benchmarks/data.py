"""The images every section measures on: MNIST from a directory, or synthetic digits."""

import numpy as np
from sklearn.datasets import load_digits

from skvae.datasets import load_mnist


def synthetic_digits(n_samples, side=28):
    """uint8 digit images without a download: scikit-learn's 8x8 digits, upscaled.

    Each 8x8 digit is enlarged 3x (nearest neighbour) and zero-padded to
    ``side``; rows are repeated to reach ``n_samples``.
    """
    digits = load_digits()
    images = np.kron(digits.images, np.ones((3, 3))) * (255 / 16)
    pad = (side - 24) // 2
    images = np.pad(images, ((0, 0), (pad, side - 24 - pad), (pad, side - 24 - pad)))
    rows = np.resize(np.arange(len(images)), n_samples)
    return images[rows].round().astype(np.uint8), digits.target[rows]


def load_images(data_dir):
    """uint8 images ``(n, side, side)`` and labels from ``data_dir``, or synthetic ones."""
    if data_dir is None:
        images, labels = synthetic_digits(2000)
        return images, labels, "synthetic (sklearn digits upscaled to 28x28)"
    images, labels = load_mnist(data_dir)
    return images, labels, f"MNIST from {data_dir}"


def repeat_rows(array, n_rows):
    """``n_rows`` rows of ``array``, cycling through it when it is shorter."""
    return array[np.resize(np.arange(len(array)), n_rows)]


def scaled(images):
    """uint8 pixels as float32 in [0, 1]."""
    return images.astype(np.float32) / np.float32(255)
