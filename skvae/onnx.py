"""ONNX export of fitted estimators, for serving with onnxruntime and NumPy only.

Importing this module registers converters for
:class:`~skvae.VariationalAutoencoder` and :class:`~skvae.VAEImputer` with
skl2onnx, so ``skl2onnx.to_onnx`` converts a whole
:class:`~sklearn.pipeline.Pipeline` that contains one (its ``transform``).
:func:`to_onnx` exports one estimator's ``transform`` or
``inverse_transform`` alone. Both need the ``onnx`` extra
(``pip install "skvae[onnx]"``); running the exported graphs needs only
``onnxruntime`` and NumPy, not TensorFlow or skvae.

The graphs are built from the fitted weights (``Conv``, ``ConvTranspose``,
``Gemm`` and activation nodes), and hold what skvae does around the
networks: the division of 8-bit input by 255 (and the multiplication of
decoded values back), the reshapes between 2-D rows and channels-last
images, and float64 input computed in float32 with a float64 result, as
skvae computes it. They do not chunk: onnxruntime runs a whole batch at
once, so its memory grows with the batch; feed a large batch in chunks of
a few hundred rows. See "Deploying without TensorFlow" in the
user guide.
"""

import numpy as np
import onnx

from . import _onnx

__all__ = ["to_onnx"]


def to_onnx(
    estimator,
    method: str = "transform",
    *,
    dtype=np.float32,
    image_input: bool | None = None,
    imputation: str | None = None,
    target_opset: int | None = None,
) -> onnx.ModelProto:
    """ONNX graph of a fitted estimator's ``transform`` or ``inverse_transform``.

    The graph has one input ``"X"`` and one output ``"Y"``; its first
    dimension (the rows) is dynamic. Its result equals the estimator's to
    float32 rounding (about 1e-6 for values of order 1).

    Parameters
    ----------
    estimator : VariationalAutoencoder or VAEImputer
        A fitted estimator.

    method : {"transform", "inverse_transform"}, default="transform"
        ``"transform"``: samples to latent means ``mu`` (for a
        :class:`~skvae.VAEImputer`: samples with their missing entries
        filled, see ``imputation``). ``"inverse_transform"``: latent points
        to decoder means, in the layout that ``fit`` received (2-D rows or
        4-D images), scaled back to 0-255 for 8-bit training data.

    dtype : {numpy.float32, numpy.float64, numpy.uint8}, default=numpy.float32
        The input's type. The networks compute in float32 either way; the
        output is float32 for float32 input and float64 otherwise, as the
        estimator returns. ``uint8`` (``transform`` of a
        :class:`~skvae.VariationalAutoencoder` only) is read as the
        estimator reads it: divided by 255 if ``fit`` saw 8-bit data.

    image_input : bool, default=None
        Whether the graph takes 4-D images ``(n, height, width, channels)``
        rather than 2-D rows ``(n, height * width * channels)``; ``None``:
        as ``fit`` received. Ignored by ``inverse_transform``.

    imputation : {"single_pass"}, default=None
        Required for a :class:`~skvae.VAEImputer`, whose ``transform``
        draws seeded importance samples that ONNX cannot reproduce (ONNX's
        random operators have their own generators, so the graph's
        imputations would not match skvae's). ``"single_pass"`` exports
        the single-pass conditional mean: the decoder's mean at the
        encoder's mean of the observed entries fills the missing entries,
        and observed entries pass through unchanged. It is deterministic,
        but it is not ``VAEImputer.transform``: it equals the
        importance-weighted mean only as the posterior narrows, and it
        ignores ``n_importance_samples`` and ``sample_posterior``. Features
        never observed at ``fit``, ``keep_empty_features`` and
        ``add_indicator`` are handled as ``transform`` handles them.

    target_opset : int, default=None
        ONNX opset of the graph, at least 13; ``None``: 15.

    Returns
    -------
    model : onnx.ModelProto
        The checked model; ``model.SerializeToString()`` is what
        ``onnxruntime.InferenceSession`` loads.

    Raises
    ------
    TypeError
        If ``estimator`` is not a skvae estimator, or its networks hold a
        layer type that has no ONNX export.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        For an unknown ``method``, ``dtype`` or ``target_opset``, a
        :class:`~skvae.VAEImputer` without ``imputation="single_pass"``, or
        ``image_input=True`` for an estimator fitted on a table.

    See Also
    --------
    skl2onnx.to_onnx : Converts a whole pipeline once this module is imported.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from skvae import VariationalAutoencoder
    >>> from skvae.onnx import to_onnx
    >>> X = np.random.default_rng(0).random((40, 5)).astype(np.float32)
    >>> vae = VariationalAutoencoder(latent_dim=2, epochs=1, random_state=0).fit(X)
    >>> graph = to_onnx(vae).SerializeToString()
    >>> session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    >>> (Z,) = session.run(None, {"X": X})
    >>> bool(np.allclose(Z, vae.transform(X), atol=1e-5))
    True
    """
    return _onnx.to_onnx(
        estimator,
        method,
        dtype=dtype,
        image_input=image_input,
        imputation=imputation,
        target_opset=target_opset,
    )


_onnx.register_converters()
