"""SpaceFillingVQ: the scikit-learn estimator (validation and orchestration)."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    validate_data,
)



from ._engine import (ALGORITHMS, check_spread, curve_points, kernel_threads, nearest_corner,
                      on_dask, one_blas_thread, positions, refine_online, train,
                      training_weights)


class _features_kept_on_error:
    """Restore ``n_features_in_`` / ``feature_names_in_`` (set while a fit
    reads its input) when the fit fails: a fitted estimator stays usable
    with the width its corners have."""

    _names = ("n_features_in_", "feature_names_in_")

    def __init__(self, est):
        self.est = est
        self.saved = {a: getattr(est, a) for a in self._names if hasattr(est, a)}

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        if kind is not None:
            for a in self._names:
                if a in self.saved:
                    setattr(self.est, a, self.saved[a])
                elif hasattr(self.est, a):
                    delattr(self.est, a)
        return False


class SpaceFillingVQ(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin,
                     BaseEstimator):
    """Space-filling vector quantization: an ordered codebook on a curve.

    The ``n_clusters`` codebook vectors are the corners of one piecewise-linear
    curve through the data, in curve order: neighbouring indices hold similar
    vectors, so the index (or the continuous position along the curve) is an
    interpretable one-dimensional coordinate of the data. The method is the
    one of Vali & Backstrom (Interspeech 2023): the curve starts small and
    grows by doubling.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of corners (codebook vectors), any value >= 1.
    algorithm : {"lloyd", "sgd"}, default="lloyd"
        ``"lloyd"``: batch training, coarse to fine. The curve grows from the
        mean by splitting every corner along its cell's principal axis,
        with Lloyd iterations at every stage, on a subsample of 192 to 256
        rows per corner (corners of k-means quality; a few corner moves
        out of local optima); a few Lloyd passes over all rows finish it.
        The corners are then ordered so that neighbouring rows of the data
        get nearby indices (global order) along a short path (local order),
        and smoothed along that order: they solve a smoothness-penalised
        least-squares problem (a banded system per iteration) with the
        penalty raised as far as ``smoothness`` allows. ``"sgd"``: the
        published recipe, dithered points along the segments, Adam on
        minibatches, growth by doubling with ``growth_epsilon``.
    smoothness : float, default=0.02
        ``"lloyd"`` only: the quality you trade for order, as a fraction of
        the unsmoothed error. The curve is smoothed as long as the mean
        squared distance to the nearest corner stays within
        ``(1 + smoothness)`` times that of the unsmoothed corners. 0 keeps
        k-means quality (corners only reordered); larger values give a
        smoother, better-ordered curve.
    init : {"auto", "split", "k-means++", "pca", "norm-quartiles"} or ndarray of \
            shape (m, n_features), default="auto"
        Start of training. ``"split"``: growth by splitting (above);
        ``"k-means++"``: weighted k-means++ seeding (it
        respects repetition: a weight of m draws like m copies); ``"pca"``:
        a curve grown by doubling from two corners on the first principal
        axis; ``"norm-quartiles"``: the published start, the means of the rows
        cut into four equal-weight groups by their norm, grown by doubling;
        ``"auto"``: ``"split"`` for ``"lloyd"`` and ``"norm-quartiles"``
        for ``"sgd"`` (``"split"`` is ``"lloyd"``'s only; ``"sgd"`` puts
        k-means++ seeds in the order of a short path first); an array:
        these corners (``m <= n_clusters``, in curve order), grown to
        ``n_clusters`` if needed (a warm start: the order is improved by
        local moves only, so the route is kept; the result is oriented as
        every fit is, so its indices may run the other way).
    n_init : "auto" or int, default="auto"
        ``"lloyd"`` with k-means++: number of seedings; each runs a few Lloyd
        iterations and only the best continues. ``"auto"``: 1, as
        :class:`~sklearn.cluster.KMeans` with k-means++ (more seedings find
        better local optima on clustered data, at a cost in time).
    max_iter : int, default=300
        ``"lloyd"``: maximum iterations of every Lloyd run before smoothing
        (each growth stage, each trial of corner moves, the run on all rows;
        most stop much earlier, on their tolerance).
    tol : float, default=1e-4
        ``"lloyd"``: iterations stop when the squared shift of all corners is
        at most ``tol`` times the mean variance of the features (``3 * tol``
        before smoothing, whose iterations continue the convergence).
    learning_rate : float, default=1e-3
        ``"sgd"``: Adam learning rate. Adam's steps have about this size in
        the units of X, so ``"sgd"`` depends on the
        data's scale, as the published recipe, which trains on standardised
        data: scale X first (e.g. :class:`~sklearn.preprocessing.StandardScaler`).
        On Gaussian rows (5,000 x 6, K=16) its error was 1.36 x KMeans' at unit
        scale and 2.0 x at 256 times that scale; ``"lloyd"`` does not depend
        on the unit. Within a stage a corner moves at most about ``n_epochs *
        ceil(n_samples / batch_size) * learning_rate``: on a few hundred rows
        the corners stay near their start (Gaussian rows: 1.6 x KMeans' error
        at 1,000 x 8, K=16; 2 x at 300 x 3, K=5).
    batch_size : int, default=64
        ``"sgd"``: rows per minibatch (one dither draw per segment per batch).
    n_epochs : int, default=5
        ``"sgd"``: epochs per growth stage.
    lr_milestones : tuple of float, default=(0.6, 0.8)
        ``"sgd"``: fractions of a stage's epochs at which the learning rate
        is halved.
    growth_epsilon : float, default=0.01
        ``"sgd"``: offset of the new corners when the curve doubles, as a
        fraction of the length of the segment they are placed on (in (0, 0.5)).
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice of the fit: the subsamples, the split
        directions, the ordering's restarts, the k-means++ start and the
        ``"sgd"`` trainer's batches and dither.
    n_jobs : int or None, default=None
        Threads of the compiled kernels for this call (``None``: numba's
        current setting, ``-1``: all cores, ``-2``: all but one; 0 is
        refused, as in joblib). Results do not depend on it.
    verbose : int, default=0
        Print one line per growth stage when > 0.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The corners of the curve, **in curve order**. Index 0 is the end with
        the lower coordinate along the corners' first principal axis.
    labels_ : ndarray of shape (n_samples,)
        Index of the nearest corner of every training row (a NumPy array
        also after a fit on a dask array: the model pickles without the data).
    inertia_ : float
        Sum of (weighted) squared distances of the training rows to their
        nearest corner, as in :class:`~sklearn.cluster.KMeans`.
    n_dead_ : int
        Corners that no training row of the last ``fit`` (or first
        ``partial_fit``) is nearest to; a ConvergenceWarning says so when
        there are any. Later ``partial_fit`` calls leave it.
    n_iter_ : int
        Lloyd iterations over all rows (``"lloyd"``; stages on a subsample
        are not counted) or epochs (``"sgd"``, over all stages).
    history_ : list of dict
        One entry per stage of the schedule (the growth stages, then for
        ``"lloyd"`` the run on all rows, the ordering and the smoothing):
        ``n_clusters``, ``n_iter``, ``loss`` and ``time`` in seconds.
        ``loss`` is a mean squared distance per row (weighted): for
        ``"lloyd"`` of the stage's rows to their nearest corners (NaN for
        the stages that measure none: the ordering and the smoothness search
        where they run on a subsample, as for large data), for ``"sgd"`` the
        last epoch's training loss (of the dithered points on the segments).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.cluster.KMeans : unordered codebook.

    Notes
    -----
    ``predict`` returns the nearest corner's index (the k-means-style code);
    ``transform`` returns the continuous position ``t`` in ``[0, K - 1]`` of
    the exact nearest point of the curve (``t = j + lambda`` is the point
    ``(1 - lambda) c_j + lambda c_{j+1}``) and ``inverse_transform`` maps
    positions back to points. Both cost one pass of ``O(n K d)`` over the
    data, the same order as a k-means ``predict``. The kernels are compiled
    by numba on first use and cached on disk.

    Examples
    --------
    >>> import numpy as np
    >>> from sksfvq import SpaceFillingVQ
    >>> X = np.random.default_rng(0).normal(size=(500, 2))
    >>> sfvq = SpaceFillingVQ(n_clusters=8, random_state=0).fit(X)
    >>> sfvq.cluster_centers_.shape
    (8, 2)
    >>> t = sfvq.transform(X[:3])
    >>> t.shape, bool((t >= 0).all() and (t <= 7).all())
    ((3, 1), True)
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "algorithm": [StrOptions(set(ALGORITHMS))],
        "smoothness": [Interval(Real, 0, None, closed="left")],
        "init": [StrOptions({"auto", "split", "k-means++", "pca", "norm-quartiles"}),
                 "array-like"],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr_milestones": [tuple, list],
        "growth_epsilon": [Interval(Real, 0, 0.5, closed="neither")],
        "random_state": ["random_state"],
        "n_jobs": [Interval(Integral, None, -1, closed="right"),
                   Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
    }
    #: integer parameters a bool passes sklearn's Interval(Integral) for
    _counts = ("n_clusters", "n_init", "max_iter", "batch_size", "n_epochs", "n_jobs")

    def _validate_params(self):
        super()._validate_params()
        for name in self._counts:
            if isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be an int, not a bool; got {getattr(self, name)}.")
        try:
            milestones = [float(m) for m in self.lr_milestones]
        except (TypeError, ValueError):
            milestones = [np.nan]
        if not np.isfinite(milestones).all():
            raise ValueError("lr_milestones must hold finite numbers (fractions of n_epochs); "
                             f"got {self.lr_milestones!r}.")

    def __init__(
        self,
        n_clusters=8,
        *,
        algorithm="lloyd",
        smoothness=0.02,
        init="auto",
        n_init="auto",
        max_iter=300,
        tol=1e-4,
        learning_rate=1e-3,
        batch_size=64,
        n_epochs=5,
        lr_milestones=(0.6, 0.8),
        growth_epsilon=0.01,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.algorithm = algorithm
        self.smoothness = smoothness
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.lr_milestones = lr_milestones
        self.growth_epsilon = growth_epsilon
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    # ------------------------------------------------------------ validation
    def _validate_fit_input(self, X, sample_weight, reset=True):
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C",
                          ensure_min_samples=1, reset=reset)
        n = X.shape[0]
        if n < self.n_clusters:
            raise ValueError(
                f"n_samples={n} should be >= n_clusters={self.n_clusters}: a curve "
                "needs at least as many rows as corners."
            )
        check_spread(X)
        return X, training_weights(sample_weight, X)

    def _initial_corners(self, X):
        """``init`` as an array (checked) or the name of an initialisation."""
        if isinstance(self.init, str):
            if self.init == "auto":
                return "norm-quartiles" if self.algorithm == "sgd" else "split"
            if self.init == "split" and self.algorithm == "sgd":
                raise ValueError("init='split' (growth by splitting) is the 'lloyd' trainer's; "
                                 "algorithm='sgd' grows by doubling: use init='auto', "
                                 "'norm-quartiles', 'pca', 'k-means++' or an array.")
            return self.init
        C = np.array(self.init, dtype=np.float64)
        if C.ndim != 2 or C.shape[1] != X.shape[1] or not 1 <= C.shape[0] <= self.n_clusters:
            raise ValueError(
                f"init array must have shape (m, {X.shape[1]}) with 1 <= m <= "
                f"n_clusters={self.n_clusters}; got {C.shape}."
            )
        if not np.isfinite(C).all():
            raise ValueError("init array contains NaN or infinity.")
        if X.dtype == np.float32 and np.abs(C).max() > np.finfo(np.float32).max:
            raise ValueError("init array holds values beyond the float32 range of X.")
        check_spread(X, C, "X with the init array")
        return C

    def _options(self):
        return {
            "smoothness": float(self.smoothness),
            "n_init": self.n_init if isinstance(self.n_init, str) else int(self.n_init),
            "max_iter": int(self.max_iter),
            "tol": float(self.tol),
            "learning_rate": float(self.learning_rate),
            "batch_size": int(self.batch_size),
            "n_epochs": int(self.n_epochs),
            "lr_milestones": tuple(float(m) for m in self.lr_milestones),
            "growth_epsilon": float(self.growth_epsilon),
        }

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Learn the curve.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows (float32 stays float32). A dask array or a dask
            DataFrame of numeric columns trains on the workers of the
            current ``dask.distributed`` client (``algorithm="lloyd"``; the
            rows are never gathered; ``labels_`` is then a NumPy array).
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; a weight of m acts like m copies of the row.

        Returns
        -------
        self : SpaceFillingVQ
        """
        with _features_kept_on_error(self):
            if on_dask(X):
                from ._dask import fit

                return fit(self, X, sample_weight)
            X, w = self._validate_fit_input(X, sample_weight)
            self._fit(X, w)
        return self

    def _fit(self, X, w):
        init = self._initial_corners(X)
        rng = np.random.default_rng(check_random_state(self.random_state).randint(2**31))
        options = self._options()
        if options["n_init"] == "auto":  # as KMeans(n_init="auto") with k-means++
            options["n_init"] = 1
        # numba threads run the kernels; BLAS calls in between stay single-threaded
        # (OpenBLAS threads spinning against numba's on few cores cost ~100x)
        with kernel_threads(self.n_jobs), one_blas_thread():
            # a Python int: numpy's narrow ints (np.uint8(5)) overflowed in the
            # schedule's products (rows x corners x features)
            result = train(self.algorithm, X, w, int(self.n_clusters), init, options, rng,
                           self.verbose)
        # the trainer orients the corners and assigns the rows in X's dtype
        self.cluster_centers_ = np.ascontiguousarray(result.corners, dtype=X.dtype)
        self.labels_ = result.labels
        self.inertia_ = float(np.sum(w * result.dist2))
        self.n_iter_ = int(result.n_iter)
        self.history_ = result.history
        self._stream_mass, self._stream_sums = result.mass, result.sums
        self._stream_smoothness = result.smoothness
        self._warn_dead(self.labels_, w)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Learn from one chunk of a stream of rows.

        The first call trains on its chunk as ``fit`` does (it initialises);
        every later call refines the corners with the new rows without
        re-initialising and without changing the order of the corners, so
        positions stay comparable between calls. The rows seen so far are
        summarised by the weight each corner has collected.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : SpaceFillingVQ
        """
        if on_dask(X):  # a dask array: on the workers
            from ._dask import partial_fit

            with _features_kept_on_error(self):
                return partial_fit(self, X, sample_weight)
        first = not hasattr(self, "cluster_centers_")
        if first:
            with _features_kept_on_error(self):
                X, w = self._validate_fit_input(X, sample_weight)
                self._fit(X, w)
            return self
        X = self._check_X(X)
        check_spread(X, self.cluster_centers_.astype(np.float64), "X with the fitted corners")
        w = training_weights(sample_weight, X)
        with kernel_threads(self.n_jobs):
            C, self._stream_mass, self._stream_sums = refine_online(
                X, w, self.cluster_centers_.astype(np.float64), self._stream_mass,
                self._stream_sums, self._stream_smoothness)
            self.cluster_centers_ = np.ascontiguousarray(C, dtype=X.dtype)
            labels, dist2 = nearest_corner(X, self.cluster_centers_)
        self.labels_ = labels
        self.inertia_ = float(np.sum(w * dist2))
        self.n_iter_ += 1
        return self

    def _warn_dead(self, labels, w):
        used = np.bincount(labels, weights=w, minlength=self.n_clusters) > 0
        self.n_dead_ = int(self.n_clusters - used.sum())
        if self.n_dead_:
            why = "the data may have fewer distinct points than n_clusters"
            if self.algorithm == "sgd":
                # the recipe's small Adam steps leave corners where the rows are not
                why = ("the 'sgd' recipe's steps (learning_rate, n_epochs) may have been "
                       f"too few to bring them to the rows, or {why}")
            elif self._stream_smoothness > 0:
                # the bending penalty pulls corners off the rows where the curve
                # crosses from one group of rows to a separate one
                why = ("the curve may cross empty space between separate groups of rows, "
                       "where the smoothing pulls corners off the data (smoothness=0 "
                       f"keeps them on it), or {why}")
            warnings.warn(
                f"{self.n_dead_} of {self.n_clusters} corners are no training row's "
                f"nearest corner (dead corners); {why}.",
                ConvergenceWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------ inference
    def _check_X(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C", reset=False)
        if X.dtype != self.cluster_centers_.dtype:
            X = X.astype(self.cluster_centers_.dtype)
        return X

    def predict(self, X):
        """Index of the nearest corner (codebook vector) of every row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            A lazy dask array, block by block, for a dask X.
        """
        if on_dask(X):
            from ._dask import predict

            return predict(self, X)
        X = self._check_X(X)
        with kernel_threads(self.n_jobs):
            labels, _ = nearest_corner(X, self.cluster_centers_, distances=False)
        return labels

    def transform(self, X):
        """Position of the exact nearest point of the curve, in ``[0, K - 1]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        positions : ndarray of shape (n_samples, 1)
            ``t = j + lambda``: the point ``(1 - lambda) c_j + lambda c_{j+1}``.
            A lazy dask array, block by block, for a dask X.
        """
        if on_dask(X):
            from ._dask import transform

            return transform(self, X)
        X = self._check_X(X)
        with kernel_threads(self.n_jobs):
            pos = positions(X, self.cluster_centers_)
        return pos[:, None]

    def inverse_transform(self, X):
        """Points of the curve at the given positions.

        Parameters
        ----------
        X : array-like of shape (n_samples, 1)
            Positions in ``[0, n_clusters - 1]``, as returned by ``transform``.

        Returns
        -------
        points : ndarray of shape (n_samples, n_features)
            A lazy dask array, block by block, for dask positions.
        """
        if on_dask(X):
            from ._dask import inverse_transform

            return inverse_transform(self, X)
        check_is_fitted(self)
        T = check_array(X, dtype=[np.float64, np.float32], input_name="positions")
        if T.shape[1] != 1:
            raise ValueError(
                f"inverse_transform expects positions of shape (n_samples, 1); got "
                f"{T.shape[1]} columns."
            )
        k = self.cluster_centers_.shape[0]  # the fitted corners (n_clusters may be set since)
        t = T[:, 0]
        if t.min() < 0 or t.max() > k - 1:
            raise ValueError(
                f"positions must lie in [0, {k - 1}] (corners - 1); got values in "
                f"[{t.min()}, {t.max()}]."
            )
        with kernel_threads(self.n_jobs):
            return curve_points(t, self.cluster_centers_)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the (weighted) sum of squared distances to the nearest corner.

        The same value :class:`~sklearn.cluster.KMeans` ``score`` gives, so the two
        compare directly.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
            Also for a dask X (computed on its scheduler).
        """
        if on_dask(X):
            from ._dask import score

            return score(self, X, sample_weight)
        X = self._check_X(X)
        w = _check_sample_weight(sample_weight, X, dtype=np.float64)
        with kernel_threads(self.n_jobs):
            _, dist2 = nearest_corner(X, self.cluster_centers_)
        return -float(np.sum(w * dist2))

    @property
    def _n_features_out(self):
        # absent until fitted, so that get_feature_names_out raises NotFittedError
        if not hasattr(self, "cluster_centers_"):
            raise AttributeError("_n_features_out: the estimator is not fitted yet")
        return 1
