"""Compiled inference for a trained encoder/decoder pair.

``keras.Model.predict`` builds a data pipeline and a progress loop on every
call, which dominates the cost of a small batch. These ``tf.function``\\ s are
traced once per model with a ``None`` batch dimension (no retracing for new
batch sizes) and are called directly on float32 arrays.
"""

import math

import numpy as np
import tensorflow as tf

from ._losses import decoder_variance, gaussian_log_likelihood

# Batches smaller than this are zero-padded: oneDNN picks a different
# convolution kernel for a batch of one, whose results differ from the
# batched ones in the last bit, and a sample's output should not depend on
# which other samples it was passed with.
_MIN_BATCH = 8
# Larger inputs run as a loop over chunks of this many rows inside one graph:
# a 64-row chunk's activations stay in the CPU caches (1024 rows overflow
# them), and the loop saves a Python round trip per chunk and lets two chunks
# run at once. On 10,000 MNIST rows this made encoding 12% faster than one
# call per 64-row chunk.
_CHUNK = 64
_PARALLEL_CHUNKS = 2


class CompiledVAE:
    """Batch-size-agnostic compiled encode, decode and log-likelihood functions.

    Args:
        encoder: Model ``x -> [mu, log_var]``.
        decoder: Model ``z -> x_hat``.
        alpha: Reconstruction weight, which sets the decoder variance.
    """

    def __init__(self, encoder, decoder, alpha):
        sample_shape = tuple(encoder.input_shape[1:])
        latent_dim = decoder.input_shape[-1]
        variance = decoder_variance(alpha, math.prod(sample_shape))
        samples = tf.TensorSpec((None, *sample_shape), tf.float32)
        latents = tf.TensorSpec((None, latent_dim), tf.float32)
        latent_draws = tf.TensorSpec((None, None, latent_dim), tf.float32)

        @tf.function(input_signature=[samples])
        def encode(x):
            return encoder(x, training=False)

        @tf.function(input_signature=[latents])
        def decode(z):
            return decoder(z, training=False)

        def chunked(function, sample_spec, output_specs):
            @tf.function(input_signature=[tf.TensorSpec((None, _CHUNK, *sample_spec.shape[1:]))])
            def loop(chunks):
                return tf.map_fn(
                    function,
                    chunks,
                    parallel_iterations=_PARALLEL_CHUNKS,
                    fn_output_signature=output_specs,
                )

            return loop

        latent_chunk = tf.TensorSpec((_CHUNK, latent_dim), tf.float32)
        self._encode_chunks = chunked(encode, samples, [latent_chunk, latent_chunk])
        self._decode_chunks = chunked(
            decode, latents, tf.TensorSpec((_CHUNK, *sample_shape), tf.float32)
        )

        @tf.function(input_signature=[samples, latent_draws])
        def log_likelihood(x, z):
            n_samples, n_draws = tf.shape(z)[0], tf.shape(z)[1]
            x_hat = decoder(tf.reshape(z, (-1, latent_dim)), training=False)
            x_repeated = tf.repeat(x, n_draws, axis=0)
            log_p = gaussian_log_likelihood(x_repeated, x_hat, variance)
            return tf.reshape(log_p, (n_samples, n_draws))

        self._encode = encode
        self._decode = decode
        self._log_likelihood = log_likelihood

    def encode(self, x):
        """Posterior ``(mu, log_var)`` of a float32 batch, as NumPy arrays."""
        if len(x) > _CHUNK:
            return _call_chunked(self._encode_chunks, x)
        return _call_padded(self._encode, x)

    def decode(self, z):
        """Decoder mean of a float32 batch of latent points."""
        if len(z) > _CHUNK:
            return _call_chunked(self._decode_chunks, z)
        return _call_padded(self._decode, z)

    def log_likelihood(self, x, z):
        """``log p(x_i | z_ij)`` for ``x`` of shape ``(n, ...)``, ``z`` of ``(n, k, L)``."""
        return _call_padded(self._log_likelihood, x, z)


def _call_chunked(function, batch):
    """Zero-pad ``batch`` to whole chunks, run the in-graph loop, trim."""
    n_rows = len(batch)
    batch = _zero_padded(batch, n_rows + -n_rows % _CHUNK)
    outputs = function(batch.reshape((-1, _CHUNK, *batch.shape[1:])))
    return _each_output(outputs, lambda output: output.reshape((-1, *output.shape[2:]))[:n_rows])


def _call_padded(function, *batches):
    n_rows = len(batches[0])
    outputs = function(*(_zero_padded(batch, _MIN_BATCH) for batch in batches))
    return _each_output(outputs, lambda output: output[:n_rows])


def _zero_padded(batch, n_rows):
    """``batch`` with rows of zeros appended up to ``n_rows`` rows."""
    missing = n_rows - len(batch)
    if missing <= 0:
        return batch
    return np.concatenate([batch, np.zeros((missing, *batch.shape[1:]), batch.dtype)])


def _each_output(outputs, trim):
    """``trim`` applied to a function's output, or to each of several, as NumPy."""
    if isinstance(outputs, (list, tuple)):
        return tuple(trim(np.asarray(output)) for output in outputs)
    return trim(np.asarray(outputs))
