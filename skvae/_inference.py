"""Compiled inference for a trained encoder/decoder pair.

``keras.Model.predict`` builds a data pipeline and a progress loop on every
call, which dominates the cost of a small batch. These functions are
``keras.ops`` graphs that the backend compiles once per model
(``backend.compiled``: a ``tf.function`` with a ``None`` batch dimension on
TensorFlow, so no retracing for new batch sizes; ``jax.jit`` on JAX), called
directly on float32 arrays: a single row is padded to two, and more than one
chunk of rows runs as a loop over chunks inside one graph
(``backend.chunk_loop``). What follows the graph (the float64 bounds of
``_scoring``) is NumPy.

Each model gets its own functions, by design; on TensorFlow
``per_model_function`` keeps TensorFlow from warning about that (see
:mod:`skvae._logs`).
"""

import keras
import numpy as np
from keras import ops

from ._backends import backend
from ._likelihoods import as_family
from ._losses import (
    importance_weighted_mean,
    log_importance_weights,
    observed_entries,
    reparameterize,
    resampled_index,
)

# Rows handed to one compiled inference call (encoding, decoding, scoring),
# which loops over cache-sized chunks inside its graph; bounds the float32
# copy made of uint8 or float64 input to a few MB at a time.
INFERENCE_BATCH_SIZE = 4096
#: Latent points decoded per compiled imputation call: rows times draws. It
#: bounds the decoder's activations (a conv decoder on 28x28 images holds
#: ~0.1 MB per point) while keeping each call large enough to use the CPU well.
POINTS_PER_IMPUTATION_CALL = 512

# A batch of one row runs a different oneDNN convolution kernel from larger
# batches, and its results differ from theirs in the last bits; padding to two
# rows keeps a row's latent mean the same whether it is encoded alone or in a
# batch. Two rows, not more, because the padding is computed too. Other kernels
# still vary with the batch size by a few float32 ulps (a dense decoder's
# output, for one), far inside scikit-learn's subset-invariance tolerance.
_MIN_BATCH = 2
# Larger inputs run as a loop over chunks of this many rows inside one graph:
# a 64-row chunk's activations stay in the CPU caches (1024 rows overflow
# them), and the loop saves a Python round trip per chunk and lets two chunks
# run at once, which encodes MNIST faster than one call per 64-row chunk.
_CHUNK = 64
_PARALLEL_CHUNKS = 2
# More draws per row are scored in blocks of this many, so that a chunk of
# log_likelihood holds two rows at least: a chunk of one row's draws is that
# row repeated, which XLA (JAX) simplifies into arithmetic of its own, and
# the row's score would differ in the last bits from its score in a batch.
_MAX_DRAWS_PER_CALL = _CHUNK // 2


class CompiledVAE:
    """Batch-size-agnostic compiled encode, decode, log-likelihood and imputation functions.

    Args:
        encoder: Model ``x -> [mu, log_var]``.
        decoder: Model ``z -> x_hat``.
        decoder_variance: Variance (Student's t: squared scale) of the
            decoder ``p(x | z)`` that ``log_likelihood`` scores under: one
            for all features, or one per feature (flattened); ignored by
            a family without a variance (Bernoulli). It is a variable read
            at every call, so it can be set after the functions are traced
            (the fitted variance needs ``encode`` and ``decode`` first).
        likelihood: A registered likelihood's name, whose registered family
            is :attr:`family`, or a :class:`~skvae._likelihoods.Likelihood`
            (a mixed table's).
        decoder_df: The degrees of freedom (Student's t), one or one per
            feature, or None for a family without them.
    """

    def __init__(
        self, encoder, decoder, decoder_variance=1.0, likelihood="gaussian", decoder_df=None
    ):
        sample_shape = tuple(encoder.input_shape[1:])

        def per_sample(value):
            # One value per feature is laid out as one sample, to broadcast.
            value = np.asarray(1.0 if value is None else value, dtype=np.float32)
            return value if value.ndim == 0 else value.reshape(sample_shape)

        self.decoder_variance = keras.Variable(
            per_sample(decoder_variance), trainable=False, name="decoder_variance"
        )
        self.decoder_df = (
            None if decoder_df is None else ops.convert_to_tensor(per_sample(decoder_df))
        )
        variance, df = self.decoder_variance, self.decoder_df
        self.family = family = as_family(likelihood)
        self.latent_dim = latent_dim = decoder.input_shape[-1]
        samples = ((None, *sample_shape), "float32")
        latents = ((None, latent_dim), "float32")
        latent_draws = ((None, None, latent_dim), "float32")
        # What the functions read at every call: the weights and the variance.
        variables = [*encoder.variables, *decoder.variables, self.decoder_variance]

        def compiled(function, *input_specs):
            return backend.compiled(function, input_specs, variables)

        def chunk_loop(function, chunk_specs, output_specs):
            return backend.chunk_loop(
                function, chunk_specs, output_specs, variables, _PARALLEL_CHUNKS
            )

        def encode(x):
            return backend.blockwise(lambda rows: encoder(rows, training=False), [x], _CHUNK)

        def decode(z):
            return backend.blockwise(lambda points: decoder(points, training=False), [z], _CHUNK)

        latent_chunk = ((_CHUNK, latent_dim), "float32")
        self._encode_chunks = chunk_loop(
            encode, [((_CHUNK, *sample_shape), "float32")], [latent_chunk, latent_chunk]
        )
        self._decode_chunks = chunk_loop(
            decode, [latent_chunk], ((_CHUNK, *sample_shape), "float32")
        )

        def decode_draws(x, z):
            """The draws ``z`` ``(n, k, L)`` decoded, and scored against ``x`` ``(n, ...)``.

            Returns the decoder means, ``(n * k, *sample_shape)``, and ``log
            p(x_obs,i | z_ij)`` of the observed (not NaN) entries, ``(n, k)``.
            With nothing missing the mask is all ones, and the values are
            those of the unmasked likelihood, bit for bit.
            """
            n_draws = ops.shape(z)[1]
            points = ops.reshape(z, (-1, latent_dim))
            x_observed, mask = (ops.repeat(v, n_draws, axis=0) for v in observed_entries(x))
            n_points = ops.shape(points)[0]

            # Decode whole _CHUNK-row batches: rows past the last full block of
            # a matmul kernel round differently, so a point's value would
            # depend on how many points share its batch. The padding observes
            # nothing.
            def padded(values):
                return ops.pad(
                    values, [[0, -n_points % _CHUNK]] + [[0, 0]] * (len(values.shape) - 1)
                )

            def decoded(points, x_observed, mask):
                x_hat = decoder(points, training=False)
                log_p = family.log_prob(x_observed, x_hat, mask, variance=variance, df=df)
                return x_hat, log_p

            x_hat, log_p = backend.blockwise(
                decoded, [padded(points), padded(x_observed), padded(mask)], _CHUNK
            )
            return x_hat[:n_points], ops.reshape(log_p[:n_points], (-1, n_draws))

        def log_likelihood(x, z):
            return decode_draws(x, z)[1]

        # The rows per chunk depend on the number of draws, so this chunk
        # shape stays open.
        self._log_likelihood_chunks = chunk_loop(
            log_likelihood, [samples, latent_draws], ((None, None), "float32")
        )

        def impute(x, eps, u):
            mu, log_var = encode(x)
            n_samples, n_draws = ops.shape(eps)[0], ops.shape(eps)[1]
            z = reparameterize(mu[:, None, :], log_var[:, None, :], eps)
            x_hat, log_likelihood = decode_draws(x, z)
            log_weights = log_importance_weights(log_likelihood, z, mu, log_var)
            # The weights score the decoder's raw outputs; the imputation
            # averages the family's means (a categorical's probabilities).
            x_hat = ops.reshape(family.mean(x_hat), (n_samples, n_draws, *sample_shape))
            # The resampled draw of each row: its index, broadcast over a sample.
            chosen = ops.reshape(
                resampled_index(log_weights, u), (-1, 1, *[1] * len(sample_shape))
            )
            return (
                importance_weighted_mean(log_weights, x_hat),
                ops.take_along_axis(x_hat, chosen, axis=1)[:, 0],
            )

        self._encode = compiled(encode, samples)
        self._decode = compiled(decode, latents)
        self._log_likelihood = compiled(log_likelihood, samples, latent_draws)
        self._impute = compiled(impute, samples, latent_draws, ((None,), "float32"))

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

    def standard_noise(self, rng, shape):
        """The family's standard noise of ``shape`` from NumPy's ``rng``, at the fitted df."""
        df = None if self.decoder_df is None else np.asarray(self.decoder_df)
        return self.family.standard_noise(rng, shape, df=df)

    def draw(self, means, noise):
        """Draws from ``p(x | z)`` at the family's ``means``, from :meth:`standard_noise`."""
        return self.family.draw(means, noise, variance=self.decoder_variance.numpy())

    def log_likelihood(self, x, z):
        """``log p(x_i | z_ij)`` for ``x`` of shape ``(n, ...)``, ``z`` of ``(n, k, L)``."""
        n_draws = z.shape[1]
        if n_draws > _MAX_DRAWS_PER_CALL:
            blocks = [
                self.log_likelihood(x, z[:, start : start + _MAX_DRAWS_PER_CALL])
                for start in range(0, n_draws, _MAX_DRAWS_PER_CALL)
            ]
            return np.concatenate(blocks, axis=1)
        # A chunk decodes rows x draws latent points: at most _CHUNK of them.
        rows_per_chunk = _CHUNK // n_draws
        if len(x) > rows_per_chunk:
            return _call_chunked(self._log_likelihood_chunks, x, z, chunk=rows_per_chunk)
        # _MIN_BATCH bounds the decoder's batch, rows x draws.
        return _call_padded(self._log_likelihood, x, z, min_rows=-(-_MIN_BATCH // n_draws))

    def impute(self, x, eps, u):
        """Importance-weighted imputation of the NaN entries of a float32 batch ``x``.

        Args:
            x: Samples with NaN where values are missing, shape ``(n, ...)``.
            eps: ``N(0, I)`` noise of the posterior draws, ``(n, k, latent_dim)``.
            u: One ``U(0, 1)`` number per sample, shape ``(n,)``, that picks
                the resampled draw.

        Returns:
            ``(mean, draw)``, both of the shape of ``x`` and complete: the
            self-normalised importance-weighted mean of the family's means
            at ``x_hat(z_i)`` (weights ``p(x_obs | z_i) p(z_i) / q(z_i | x_obs)``),
            and the family's mean at one draw resampled by those weights.
        """
        return _call_padded(self._impute, x, eps, u)


def _call_chunked(function, *batches, chunk=_CHUNK):
    """Zero-pad ``batches`` to whole chunks of rows, run the in-graph loop, trim."""
    n_rows = len(batches[0])
    n_padded = n_rows + -n_rows % chunk
    stacked = (
        _zero_padded(batch, n_padded).reshape((-1, chunk, *batch.shape[1:])) for batch in batches
    )
    outputs = function(*stacked)
    return _each_output(outputs, lambda output: output.reshape((-1, *output.shape[2:]))[:n_rows])


def _call_padded(function, *batches, min_rows=_MIN_BATCH):
    """Run ``function`` on ``batches`` zero-padded to at least ``min_rows`` rows, trim."""
    n_rows = len(batches[0])
    outputs = function(*(_zero_padded(batch, min_rows) for batch in batches))
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
