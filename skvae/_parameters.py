"""The parameters both estimators share: one signature, one documentation.

:class:`~skvae._base.BaseVAE`'s ``__init__`` is the one constructor of the
shared parameters. scikit-learn reads an estimator's parameters off its
``__init__`` signature, so each public estimator's own ``__init__`` declares
only its own parameters and takes the shared ones through
:func:`with_shared_parameters`, which gives it the full, explicit signature
(no ``**kwargs`` for scikit-learn to see) with that estimator's defaults.

Each shared parameter and fitted attribute is documented once, in
:data:`SHARED_PARAMETER_DOCS` and :data:`SHARED_ATTRIBUTE_DOCS`;
:func:`document_shared` writes them into each estimator's docstring, with
the estimator's own defaults, in the order of its signature.
"""

import functools
import inspect
import itertools
import math
import re
import textwrap

#: Type and description of every parameter of ``BaseVAE.__init__``. The
#: header's ``default=`` is written from each estimator's signature.
SHARED_PARAMETER_DOCS = {
    "latent_dim": (
        "int",
        """
        Number of latent dimensions, i.e. columns of ``transform``'s output for
        :class:`~skvae.VariationalAutoencoder`.
        """,
    ),
    "alpha": (
        'float or "auto"',
        """
        The training objective. ``"auto"``, the default, trains on the
        negative ELBO with the decoder's noise fitted rather than tuned: for
        a Gaussian decoder its variance is set, per batch, to the batch's
        mean squared error over the observed entries, its maximum-likelihood
        value (the sigma-VAE of Rybkin et al., 2021), and the noise model
        (``likelihood``, ``noise_scale``) can also be learned, so there is
        nothing to tune. With ``likelihood="bernoulli"`` it is the Bernoulli
        ELBO itself. A number trains on the original objective ``alpha * mse
        + KL``: the weight of the reconstruction error (averaged over
        features) against the KL term, a Gaussian decoder of variance
        ``n_features / (2 * alpha)``. Larger values trust the reconstruction
        more, smaller values pull posteriors to the prior. Either way
        ``score`` is comparable across values, so ``GridSearchCV`` can
        choose; the user guide compares them.
        """,
    ),
    "likelihood": (
        '{"auto", "gaussian", "student_t", "bernoulli"}',
        """
        The decoder's distribution. ``"gaussian"``: the reconstruction error
        is the squared error. ``"student_t"``: Student's t around the
        decoder's output, whose scale and degrees of freedom are learned
        with the networks (needs ``alpha="auto"``); its heavy tails keep a
        few outlying entries from dominating the fit, which helps on tables.
        ``"bernoulli"``: the decoder outputs probabilities (sigmoid), the
        reconstruction error is the binary cross-entropy, ``X`` must lie in
        [0, 1], and the likelihoods are log-probabilities only for binary
        ``X``. ``"auto"``: ``"student_t"`` for a table with
        ``alpha="auto"``, ``"gaussian"`` for images, a numeric table of more
        than 128 columns (see ``noise_scale``) or a numeric ``alpha``.
        """,
    ),
    "noise_scale": (
        '{"auto", "shared", "feature"}',
        """
        Whether the decoder's noise has one variance for all features or one
        per feature, as factor analysis has (a VAE with a linear decoder and
        ``"feature"`` contains factor analysis). ``"feature"`` learns the
        variances with the networks on the ELBO (needs ``alpha="auto"``),
        each floored at a thousandth of the data's mean feature variance so
        that a constant column or an image border cannot make the
        likelihood diverge. ``"auto"``: ``"feature"`` for a table with
        ``alpha="auto"`` (its columns are noisy to different degrees),
        ``"shared"`` for images (where per-pixel variances let the constant
        border pixels dominate the likelihood), a numeric table of more than
        128 columns (``likelihood="auto"`` then gives it a Gaussian: one
        variance fitted to all its columns, which scores a constant or
        near-constant column with the noise of the average column, as
        probabilistic PCA does, instead of each buying the density of the
        floor) or a numeric ``alpha``. A mixed table (see ``column_types``)
        keeps ``"feature"`` at any width.
        """,
    ),
    "decoder_variance": (
        '{"fitted", "alpha"} or float',
        """
        Variance of the decoder that scores and importance weights use,
        fixed at ``fit`` as ``decoder_variance_``. ``"fitted"``: the value
        that maximises the training ELBO: the variances learned with the
        networks when the noise is learned (``noise_scale="feature"`` or
        Student's t), else the mean squared error per observed entry at one
        posterior draw per training row. ``"alpha"``: ``n_features / (2 *
        alpha)``, what a numeric ``alpha`` implies. A number: that variance
        (Student's t: squared scale). Ignored for ``likelihood="bernoulli"``.
        """,
    ),
    "image_shape": (
        "tuple of int",
        """
        ``(height, width)`` or ``(height, width, channels)`` of the rows of
        2-D input, in row-major (C) order with channels last: the rows are
        images (e.g. ``(8, 8)`` for ``load_digits``). Ignored for 4-D input,
        whose shape is used. When ``None``, rows of 2-D input are a table
        (with ``architecture="conv"``, a square feature count is read as a
        square one-channel image).
        """,
    ),
    "architecture": (
        '{"auto", "conv", "dense"}',
        """
        ``"conv"``: mirrored Conv2D / Conv2DTranspose stacks, joined to the
        latent space through ``hidden_layer_sizes``; ``"dense"``: a
        multi-layer perceptron; ``"auto"``: conv when the input is images
        (4-D input, or ``image_shape`` given), dense for tables, whatever
        their number of columns.
        """,
    ),
    "conv_filters": (
        "tuple of int",
        """
        Filters of each encoder convolution; the decoder mirrors them.
        """,
    ),
    "conv_kernels": (
        "int or tuple of int",
        """
        Kernel size of each convolution (one int for all).
        """,
    ),
    "conv_strides": (
        "int or tuple of int",
        """
        Stride of each convolution (one int for all). Their product may not
        exceed the smaller image side.
        """,
    ),
    "hidden_layer_sizes": (
        '"auto" or tuple of int',
        """
        Units of the encoder's hidden Dense layers, between the input (dense
        network) or the last convolution (conv network) and the latent
        space; the decoder mirrors them. ``"auto"``: for a dense network
        (a table, or images with ``architecture="dense"``) on ``n`` input
        features (a table's columns, a mixed table's categorical column
        counting one per category), ``(64,)`` for
        :class:`~skvae.VariationalAutoencoder` when ``n <= 128``, and above
        two layers, ``(w, w // 2)``, with ``w`` the smallest power of two at
        or above ``n / 4``, at most 512: ``(64, 32)`` for 129 to 256
        features, ``(128, 64)`` to 512, ``(256, 128)`` to 1,024 (flat
        28x28 images), ``(512, 256)`` beyond; MIWAE's ``(128, 128)`` for
        :class:`~skvae.VAEImputer` at any width. None for a conv network
        (images), whose latent is read straight off the convolutions (try ``(256,)`` for a
        2-D latent map of MNIST-sized images; the user guide says when it
        helps).
        """,
    ),
    "batch_norm": (
        "bool",
        """
        Whether to put BatchNormalization after each hidden layer.
        """,
    ),
    "output_activation": (
        '{"auto", "sigmoid", "linear"}',
        """
        Activation of the decoder's output. ``"auto"`` uses ``"sigmoid"``
        when all (observed) training values lie in [0, 1] and ``"linear"``
        otherwise.
        """,
    ),
    "epochs": (
        'int or "auto"',
        """
        Maximum number of epochs. An int: passes over the training data.
        ``"auto"``: 30 epochs of at least 250 gradient steps each, a small
        training set being repeated (in a new order each pass) to fill one,
        so that a table of a few hundred rows trains for as many steps as a
        large data set; 10 such epochs for images trained on their complete
        rows (no mask augmentation). ``partial_fit`` always runs one pass.
        """,
    ),
    "batch_size": (
        "int",
        """
        Samples per gradient step; clipped (with a warning) to the number of
        training samples.
        """,
    ),
    "learning_rate": (
        "float",
        """
        Adam's learning rate; with ``learning_rate_schedule="cosine"``, its
        peak. The imputer's default is lower: its bound over many draws per
        row imputes best with smaller steps (see the user guide).
        """,
    ),
    "learning_rate_schedule": (
        '{"cosine", "constant"}',
        """
        How the learning rate moves during a ``fit``. ``"cosine"``: it rises
        linearly from zero to ``learning_rate`` over the first 5% of the
        planned steps (``epochs`` times the steps per epoch), or over 100
        steps if that is longer (the first half of a fit shorter than 200
        steps), then falls to
        zero along half a cosine at the last planned step, so a fit of a
        given length ends at a minimum instead of wandering around one at
        the full step size. A continued fit (``warm_start=True``) anneals
        over its own epochs, and warms up only if it starts a new optimiser
        (as an unpickled or loaded estimator does, whose optimiser state was
        not saved). ``"constant"``: ``learning_rate`` throughout.
        ``partial_fit`` always trains at the constant ``learning_rate``: a
        stream of calls has no planned end.
        """,
    ),
    "validation_fraction": (
        "float",
        """
        Fraction of the samples held out to report validation losses in
        ``history_`` and to drive early stopping. ``0`` holds out nothing.
        When it would leave no sample on either side, nothing is held out.
        """,
    ),
    "early_stopping": (
        "bool",
        """
        Stop when the validation loss (the training loss if nothing is held
        out) has not improved for ``n_iter_no_change`` epochs, and restore
        the weights of the best epoch.
        """,
    ),
    "n_iter_no_change": (
        "int",
        """
        Patience of early stopping, in epochs.
        """,
    ),
    "n_training_draws": (
        'int or "auto"',
        """
        Latent draws per row in the training objective. ``1`` trains on the
        ELBO with the KL term in closed form (the objective ``alpha``
        describes); ``k > 1`` on the importance-weighted bound of the same
        likelihood, ``log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x)``, which
        is tighter (the IWAE of Burda et al., 2016; with missing entries the
        MIWAE of Mattei and Frellsen, 2019) and costs ``k`` decoder passes
        per row. ``"auto"``: 20 for a table, as MIWAE trains, and 1 for
        images, whose convolutional decoder would cost 20 times as much per
        step.
        """,
    ),
    "n_importance_samples": (
        "int",
        """
        Latent draws ``z_i ~ q(z | x)`` per row wherever the fitted model
        estimates an expectation: ``score_samples`` (``1`` gives the ELBO
        with the KL term in closed form, ``k > 1`` the tighter
        importance-weighted bound of Burda et al., 2016, which is closer to
        the log-likelihood that ``score`` compares with other models) and
        the imputer's ``transform`` (its conditional mean). More draws cost
        proportionally more time. An inference setting, like ``verbose``:
        read when it is used, so one fitted model can be scored with several
        ``k`` through ``set_params``; every other parameter takes effect at
        the next ``fit``.
        """,
    ),
    "distribute_strategy": (
        "tf.distribute.Strategy",
        """
        Strategy under whose scope the model is built and trained, e.g.
        ``tf.distribute.MirroredStrategy()`` for data-parallel training over
        several devices, or ``tf.distribute.MultiWorkerMirroredStrategy()``
        over several machines (see "Scaling out" in the docs); ``batch_size``
        is then the global batch, shared equally by the replicas (a multiple
        of their number). ``None`` uses TensorFlow's default device. A
        strategy belongs to one process: ``clone`` shares it rather than
        copying it, and it is not pickled (it comes back as ``None``).
        TensorFlow backend only: on another Keras backend ``fit`` raises
        a ``ValueError`` unless it is ``None`` (see "Backends and GPUs" in
        the user guide).
        """,
    ),
    "column_types": (
        "dict or None",
        """
        The type of each column of a pandas DataFrame, where its dtype does
        not say it: a dict from a column's name (or, where ``X`` has no
        column of that name, its integer position) to ``"real"``,
        ``"positive"``, ``"count"``, ``"categorical"`` or ``"ordinal"``.
        Other columns are inferred from their dtype: ``category``,
        ``object``, ``string``, ``bool`` and ``boolean`` are categorical (a
        ``category`` dtype's categories, ``False, True`` for booleans, else
        the sorted distinct values), an ordered ``category`` is ordinal (its
        categories in order, modelled by cumulative logits), integers and
        floats real; integers are never taken for categories or counts
        unless named here. A DataFrame with a column that is not real is a
        mixed table: each categorical column is one-hot for the encoder and
        its decoder outputs are the logits of a softmax over its categories;
        a count column (non-negative integers) is Poisson, with the softplus
        of its decoder output as the rate; a positive column (values above
        0) is read as ``log x`` and follows the real columns' family there
        (log-normal for ``"gaussian"``), decoded as ``exp`` of its location.
        ``inverse_transform`` and ``sample`` return a DataFrame with the
        fitted columns, dtypes and categories (the most probable category;
        an integer count column the rate's nearest integer), and
        ``VAEImputer`` fills every column's missing entries (NaN, None,
        ``pd.NA``) in a DataFrame of the input's columns and dtypes. The real
        columns follow ``likelihood`` (``"gaussian"`` or ``"student_t"``,
        the default, with ``noise_scale`` over the real and positive columns
        only) and the model learns their noise, so ``alpha`` must be
        ``"auto"``. A category unseen at fit (unless
        ``handle_unknown="ignore"``), a categorical column with one value,
        more than 256 categories or values of more than one Python type, a
        non-numeric value in a real, positive or count column, a value of 0
        or below in a positive column and a negative or fractional count
        raise ``ValueError``, naming the column. Numeric data (and a
        DataFrame whose columns are all real) are modelled as ever.
        """,
    ),
    "handle_unknown": (
        '{"error", "ignore"}',
        """
        What a category of a mixed table's categorical or ordinal column
        that was not seen at fit does, as for ``OneHotEncoder``.
        ``"error"`` raises ``ValueError`` naming the column and the value.
        ``"ignore"`` reads it as a missing entry of its column: its one-hot
        is all zeros, as a missing category's, so
        :class:`~skvae.VariationalAutoencoder`'s ``transform`` encodes the
        row from its other columns and its ``score_samples`` scores those
        alone (the column adds nothing to the row's log-likelihood), and
        ``VAEImputer`` fills it as a missing entry: the unknown value is
        replaced by an imputed category in its output. ``inverse_transform``,
        ``sample`` and imputation only ever give the categories seen at fit.
        Fixed at fit, like the columns' types and categories.
        """,
    ),
    "categorical_weight": (
        "float",
        """
        How many times each categorical (and ordinal) column of a mixed
        table counts in the training objective, beside the numeric
        columns' log-densities (each counted once), as if every observed
        category were seen ``categorical_weight`` times. ``1`` trains on
        the table's ELBO. A table of many numeric columns and few
        categorical ones spends a low-dimensional code on the numeric
        columns, whose learned noise makes them sharper densities than a
        category's softmax; a larger weight makes the code keep what
        predicts the categories, which can fill a missing category from the
        numeric columns better, at some cost to the numeric columns (the
        user guide's "Mixed tables" has measurements). ``score_samples``
        always scores the unweighted likelihood. Read at every fit, a
        continued fit's included; data without categorical columns ignore
        it.
        """,
    ),
    "random_state": (
        "int, RandomState instance or None",
        """
        Seeds the weight initialisation, the validation split, the
        shuffling, the sampling noise during training and the draws of
        inference (``score_samples``, the imputer's ``transform``). An int
        makes ``fit`` reproducible (it also enables TensorFlow op determinism
        during ``fit``, restored afterwards). A row's inference draws depend
        only on the seed and the row's own values, so its result does not
        depend on the other rows.
        """,
    ),
    "verbose": (
        "int",
        """
        0 is silent, 1 shows one progress bar over the epochs, 2 one line
        per epoch.
        """,
    ),
}

#: Type and description of the fitted attributes every estimator has.
SHARED_ATTRIBUTE_DOCS = {
    "encoder_": (
        "keras.Model",
        """
        The trained encoder, ``x -> [mu, log_var]``; one trained on
        incomplete data reads NaN as missing.
        """,
    ),
    "decoder_": (
        "keras.Model",
        """
        The trained decoder, ``z -> x_hat``.
        """,
    ),
    "image_shape_": (
        "tuple of int or None",
        """
        ``(height, width, channels)`` of the samples, or ``None`` for
        tabular data.
        """,
    ),
    "architecture_": (
        "str",
        """
        ``"conv"`` or ``"dense"``, as resolved from ``architecture``.
        """,
    ),
    "output_activation_": (
        "str",
        """
        ``"sigmoid"`` or ``"linear"``, as resolved from
        ``output_activation``.
        """,
    ),
    "likelihood_": (
        "str",
        """
        ``"gaussian"``, ``"student_t"`` or ``"bernoulli"``, as resolved from
        ``likelihood``.
        """,
    ),
    "noise_scale_": (
        "str",
        """
        ``"shared"`` or ``"feature"``, as resolved from ``noise_scale``.
        """,
    ),
    "decoder_variance_": (
        "float, ndarray of shape (`n_features_in_`,) or None",
        """
        Variance (Student's t: squared scale) of the decoder that scores and
        importance weights use (see ``decoder_variance``): one number, or
        one per feature for ``noise_scale="feature"``, in the units the
        network sees (8-bit data divided by 255); None for
        ``likelihood="bernoulli"``.
        """,
    ),
    "decoder_df_": (
        "float, ndarray of shape (`n_features_in_`,) or None",
        """
        Degrees of freedom of the learned Student's t decoder (one, or one
        per feature); None for the other likelihoods.
        """,
    ),
    "history_": (
        "dict of str to list of float",
        """
        Per-epoch ``loss``, ``reconstruction_loss`` and ``kl_loss``, and the
        same with a ``val_`` prefix when data were held out. Every curve has
        ``n_iter_`` entries; a ``val_`` entry is NaN for an epoch that held
        nothing out (``partial_fit``).
        """,
    ),
    "n_iter_": (
        "int",
        """
        Number of epochs run.
        """,
    ),
    "n_features_in_": (
        "int",
        """
        Number of features seen during ``fit`` (pixels times channels).
        """,
    ),
    "feature_names_in_": (
        "ndarray of shape (`n_features_in_`,)",
        """
        Names of features seen during ``fit``, when ``X`` has string column
        names.
        """,
    ),
}


def with_shared_parameters(base_init, **defaults):
    """Decorate an estimator's ``__init__`` so that it also takes ``base_init``'s parameters.

    The decorated ``__init__`` declares its own parameters and collects the
    shared ones in ``**shared``, which it passes to ``super().__init__``.
    The result has the signature scikit-learn needs: the own parameters,
    then every other parameter of ``base_init`` as keyword-only, with the
    defaults overridden by ``defaults``; calls are bound to it, so an
    omitted shared parameter gets this estimator's default.
    """
    base_parameters = list(inspect.signature(base_init).parameters.values())[1:]
    unknown = set(defaults) - {parameter.name for parameter in base_parameters}
    if unknown:
        raise TypeError(f"{sorted(unknown)} are not parameters of {base_init.__qualname__}.")

    def decorate(init):
        own_signature = inspect.signature(init)
        own = [p for p in own_signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        declared = {parameter.name for parameter in own}
        shared = [
            parameter.replace(
                kind=parameter.KEYWORD_ONLY,
                default=defaults.get(parameter.name, parameter.default),
            )
            for parameter in base_parameters
            if parameter.name not in declared
        ]
        signature = own_signature.replace(parameters=[*own, *shared])

        @functools.wraps(init)
        def __init__(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            init(*bound.args, **bound.kwargs)

        __init__.__signature__ = signature
        return __init__

    return decorate


def document_shared(cls):
    """Write the shared parameters and attributes into ``cls``'s docstring; return ``cls``.

    The docstring's Parameters and Attributes sections hold the estimator's
    own entries; the shared ones missing from them are added from
    :data:`SHARED_PARAMETER_DOCS` (with the default of ``cls``'s signature)
    and :data:`SHARED_ATTRIBUTE_DOCS`. Parameters follow the signature's
    order; shared attributes come first, then the estimator's own.
    """
    parameters = dict(list(inspect.signature(cls.__init__).parameters.items())[1:])
    parameter_entries = {
        name: _entry(name, f"{kind}, default={_default_text(parameters[name].default)}", text)
        for name, (kind, text) in SHARED_PARAMETER_DOCS.items()
        if name in parameters
    }
    attribute_entries = {
        name: _entry(name, kind, text) for name, (kind, text) in SHARED_ATTRIBUTE_DOCS.items()
    }
    # Dedented, as Python 3.13 compiles docstrings, so that every Python
    # gives the sections the same indentation.
    doc = inspect.cleandoc(cls.__doc__)
    doc = _merged_section(doc, "Parameters", parameter_entries, order=list(parameters))
    cls.__doc__ = _merged_section(doc, "Attributes", attribute_entries, order=None)
    return cls


def _entry(name, header, text):
    return f"{name} : {header}\n{textwrap.indent(textwrap.dedent(text).strip(), ' ' * 4)}\n"


def _default_text(default):
    if isinstance(default, str):
        return f'"{default}"'
    if isinstance(default, float) and math.isnan(default):
        return "np.nan"
    return repr(default)


_ENTRY_START = re.compile(r"^(\w+) : ", re.MULTILINE)


def _merged_section(doc, title, shared_entries, order):
    """``doc`` (dedented) with the ``title`` section's entries completed by ``shared_entries``.

    ``order``: the names in the order the entries should take, or None for
    the shared entries first, then the others as written.
    """
    heading = f"{title}\n{'-' * len(title)}\n"
    start = doc.index(heading) + len(heading)
    next_heading = re.search(r"\n\w[\w ]*\n-+\n", doc[start:])
    end = start + next_heading.start() + 1 if next_heading else len(doc)
    body = doc[start:end]
    bounds = [*(match.start() for match in _ENTRY_START.finditer(body)), len(body)]
    own = {
        _ENTRY_START.match(body, begin).group(1): body[begin:stop].rstrip() + "\n"
        for begin, stop in itertools.pairwise(bounds)
    }
    entries = {**{n: e for n, e in shared_entries.items() if n not in own}, **own}
    names = order if order else list(entries)
    if set(names) != set(entries):
        raise ValueError(
            f"{title} of the docstring and the signature differ: "
            f"{sorted(set(names) ^ set(entries))}."
        )
    return doc[:start] + "\n".join(entries[name] for name in names) + "\n" + doc[end:]
