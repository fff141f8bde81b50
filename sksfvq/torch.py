"""Optional PyTorch layer: space-filling vector quantization inside a network.

Install with ``pip install sksfvq[torch]`` (the extra pins ``torch==2.13.0``).
``import sksfvq`` never needs PyTorch; importing this module without it raises
an :class:`ImportError` that names the extra.

:class:`SpaceFillingVQLayer` is an ``nn.Module`` whose parameter ``corners``
holds the corners of the curve in index order, exactly like
``SpaceFillingVQ.cluster_centers_``:

* in **training** mode it quantizes every input to its nearest *dithered*
  point (one random point per segment and batch, as in the published recipe)
  and returns either that point (standalone training with an MSE loss) or the
  noise-substituted output ``x + |x - q| v / |v|`` (training inside a network);
* in **eval** mode it returns the exact projection onto the curve (positions
  and points), with the same algebra as the estimator's Numba kernel;
* :meth:`SpaceFillingVQLayer.grow` doubles the corners between training
  phases (published schedule, ``growth_epsilon``);
* :meth:`SpaceFillingVQLayer.to_estimator` and
  :meth:`SpaceFillingVQLayer.from_estimator` convert to and from a fitted
  :class:`~sksfvq.SpaceFillingVQ` with the same corners in the same order.

The layer and its output type are defined here; the tensor functions
(:func:`project_to_curve`, :func:`nearest_corner`, ...) in ``sksfvq._torch_ops``
and :func:`train_standalone` in ``sksfvq._torch_train``, all importable from
this module.
"""

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised without torch only
    raise ImportError(
        "sksfvq.torch needs PyTorch. Install the optional extra with "
        "`pip install sksfvq[torch]` (it pins torch==2.13.0; on a machine without "
        "a GPU install the CPU wheel of that version first)."
    ) from exc

from numbers import Integral, Real
from typing import NamedTuple

import numpy as np

from . import _init
from ._torch_ops import (_insert_midpoints, _position_dtype, double_corners, nearest_corner,
                         perplexity, points_on_curve, project_to_curve)
from ._torch_train import train_standalone

__all__ = [
    "SpaceFillingVQLayer",
    "QuantizerOutput",
    "project_to_curve",
    "nearest_corner",
    "points_on_curve",
    "double_corners",
    "perplexity",
    "train_standalone",
]


class QuantizerOutput(NamedTuple):
    """What :class:`SpaceFillingVQLayer` returns.

    Attributes
    ----------
    output : Tensor of shape (..., n_features)
        Training: the dithered point (``output="dithered"``) or the
        noise-substituted input (``output="nsvq"``). Eval: the exact nearest
        point of the curve.
    positions : Tensor of shape (...)
        Position ``t = j + lambda`` in ``[0, K - 1]`` of the point the input was
        quantized to (training: the chosen dithered point; eval: the exact
        projection). Not differentiable. In the corners' dtype, or float32
        for half-precision corners (which hold no integer above 256 or
        2048 exactly).
    segments : Tensor of shape (...), int64
        Segment index ``j`` of that point, in ``[0, K - 2]`` (0 when K = 1).
    """

    output: torch.Tensor
    positions: torch.Tensor
    segments: torch.Tensor


# --------------------------------------------------------------------------
# the layer
# --------------------------------------------------------------------------


class SpaceFillingVQLayer(nn.Module):
    """Space-filling vector quantization as a PyTorch layer.

    The ``corners`` parameter (shape ``(k, n_features)``, index order) defines a
    piecewise-linear curve. The layer starts with ``start_clusters`` corners and
    reaches ``n_clusters`` by calling :meth:`grow` between training phases
    (the published schedule: 4, 8, 16, ... corners, a fresh optimizer per
    phase, because growth replaces the parameter).

    Parameters
    ----------
    n_clusters : int
        Target number of corners (the K of :class:`~sksfvq.SpaceFillingVQ`).
    n_features : int
        Size of the last input dimension.
    output : {"dithered", "nsvq"}, default="dithered"
        Training-mode output. ``"dithered"``: the nearest dithered point
        ``q = (1 - lambda_j) c_j + lambda_j c_{j+1}``; train the layer alone
        with ``mse(output, x)`` (the published standalone recipe; gradients
        reach both corners of the segment with weights ``1 - lambda`` and
        ``lambda``, none reaches ``x``). ``"nsvq"``: noise substitution for a
        layer inside a network, ``x + |x - q| v / |v|`` with ``v ~ N(0, I)``;
        gradients reach ``x`` (identity plus the norm) and the corners
        (through ``|x - q|``) from any downstream loss.
    start_clusters : int or None, default=4
        Corners at construction (the published start); ``None`` or a value
        >= ``n_clusters`` starts at ``n_clusters`` (no growth).
    growth_epsilon : float, default=0.01
        Offset of the new corners in :meth:`grow` (published value).
    init_scale : float, default=1.0
        The initial corners lie evenly on a straight segment of half-length
        ``init_scale`` through the origin, in a random direction (from
        torch's global generator). Use :meth:`init_from_data` for the
        published data-driven start.
    backend : {"auto", "torch", "numba"}, default="auto"
        Implementation of the eval-mode projection and of :meth:`usage`:
        ``"auto"`` runs the estimator's Numba kernel on CPU float32/float64
        tensors (bit-identical to ``SpaceFillingVQ.transform``) and the torch
        implementation otherwise (e.g. on a GPU); see :func:`project_to_curve`.
    n_jobs : int or None, default=None
        Threads of the Numba kernel (``None``: Numba's current setting, ``-1``:
        all cores). Torch's own thread count is left as it was.
    device, dtype : optional
        Of the ``corners`` parameter (default: torch's defaults).

    Attributes
    ----------
    corners : nn.Parameter of shape (k, n_features)
        The corners in curve order; ``k = n_corners`` grows to ``n_clusters``.

    Notes
    -----
    **Noise substitution and its epsilon.** The NSVQ paper writes the output
    as ``x + |x - q| v / |v|``. The authors' published code adds a small
    epsilon to the ratio, ``(|x - q| / |v| + eps) v``: that always adds noise
    of size ``eps |v|`` (even for an input that sits on its codeword), does
    not protect the division by ``|v|``, and leaves the gradient of
    ``|x - q|`` at ``x = q`` as ``0 / 0 = NaN`` (autograd's derivative of the
    square root of 0). This layer puts epsilon *inside both square roots*:
    ``sqrt(|x - q|^2 + eps^2) v / sqrt(|v|^2 + eps^2)`` with
    ``eps^2 = finfo(dtype).tiny`` (the smallest normal number, so ``eps^2``
    neither underflows nor matters: ``eps`` is about 1e-19 in float32). The
    gradient ``(x - q) / sqrt(|x - q|^2 + eps^2)`` then has norm below 1 and
    is exactly 0 at ``x = q``, the division never sees 0, and the noise
    magnitude is biased by at most ``eps``.

    **Dither.** In training mode one ``lambda_j ~ U[0, 1)`` per segment is
    drawn per call (per batch) from torch's global generator; seed it with
    ``torch.manual_seed`` for reproducible runs. The nearest dithered point is
    found with the expanded distance form (one matrix product); a rounding-level
    tie only changes which of two equally good points is trained.

    **Eval mode** returns the exact projection onto the whole curve (not the
    published nearest-corner-then-neighbours shortcut), with the algebra and
    the exact recheck of the estimator's kernel: see :func:`project_to_curve`.
    On CPU (float32/float64, ``backend="auto"``) it *is* the estimator's
    kernel, so positions equal ``SpaceFillingVQ.transform`` bit for bit; the
    torch implementation (other devices) agrees up to a few ulps.

    **Conversion.** :meth:`to_estimator` keeps the corners *in the layer's
    order*: it does not apply the estimator's canonical orientation (which may
    reverse a fitted curve), so positions are identical, not mirrored
    (``t`` is not replaced by ``K - 1 - t``).

    Examples
    --------
    >>> import torch
    >>> from sksfvq.torch import SpaceFillingVQLayer
    >>> _ = torch.manual_seed(0)
    >>> layer = SpaceFillingVQLayer(n_clusters=8, n_features=3)
    >>> layer.n_corners
    4
    >>> out = layer(torch.randn(10, 3))          # training mode: dithered points
    >>> out.output.shape, out.positions.shape
    (torch.Size([10, 3]), torch.Size([10]))
    >>> layer.grow().n_corners
    8
    >>> t = layer.eval()(torch.randn(5, 3)).positions  # exact projection
    >>> bool(((t >= 0) & (t <= 7)).all())
    True
    """

    def __init__(self, n_clusters, n_features, *, output="dithered", start_clusters=4,
                 growth_epsilon=0.01, init_scale=1.0, backend="auto", n_jobs=None,
                 device=None, dtype=None):
        super().__init__()
        for name, value in (("n_clusters", n_clusters), ("n_features", n_features),
                            ("start_clusters", start_clusters)):
            if (not isinstance(value, Integral) or isinstance(value, bool)) and not (
                    name == "start_clusters" and value is None):
                raise TypeError(f"{name} must be an int; got {value!r}.")
        if int(n_clusters) < 1:
            raise ValueError(f"n_clusters must be >= 1; got {n_clusters}.")
        if int(n_features) < 1:
            raise ValueError(f"n_features must be >= 1; got {n_features}.")
        if not isinstance(init_scale, Real) or not 0 < init_scale < np.inf:
            raise ValueError(f"init_scale must be a positive finite number; got {init_scale!r}.")
        if n_jobs is not None and (not isinstance(n_jobs, Integral) or isinstance(n_jobs, bool)
                                   or n_jobs == 0):
            raise ValueError(f"n_jobs must be None or a non-zero int; got {n_jobs!r}.")
        if output not in ("dithered", "nsvq"):
            raise ValueError(f'output must be "dithered" or "nsvq"; got {output!r}.')
        if not 0 < growth_epsilon < 0.5:
            raise ValueError(f"growth_epsilon must lie in (0, 0.5); got {growth_epsilon}.")
        self.n_clusters = int(n_clusters)
        self.n_features = int(n_features)
        self.output = output
        self.growth_epsilon = float(growth_epsilon)
        if backend not in ("auto", "torch", "numba"):
            raise ValueError(f'backend must be "auto", "torch" or "numba"; got {backend!r}.')
        self.backend = backend
        self.n_jobs = n_jobs
        k = self.n_clusters if start_clusters is None else min(int(start_clusters),
                                                               self.n_clusters)
        if k < 1:
            raise ValueError(f"start_clusters must be >= 1; got {start_clusters}.")
        u = torch.randn(self.n_features, device=device, dtype=dtype)
        u = u / u.norm().clamp_min(torch.finfo(u.dtype).tiny)
        s = torch.linspace(-init_scale, init_scale, k, device=device, dtype=u.dtype)
        self.corners = nn.Parameter(s[:, None] * u)

    # ------------------------------------------------------------- state
    @property
    def n_corners(self):
        """Current number of corners (``n_clusters`` once growth is done)."""
        return self.corners.shape[0]

    def extra_repr(self):
        return (f"n_clusters={self.n_clusters}, n_features={self.n_features}, "
                f"n_corners={self.n_corners}, output={self.output!r}")

    def _set_corners(self, C):
        """A new ``corners`` parameter (a new corner count), frozen if the old one was."""
        self.corners = nn.Parameter(C.detach().clone().contiguous(),
                                    requires_grad=self.corners.requires_grad)

    def _rows(self, x, what):
        """``x`` (..., n_features) as rows (n, n_features), still in the graph;
        ValueError for another width or for NaN / infinity (a NaN row would be
        quantized to a finite corner and hide the fault)."""
        if x.ndim < 1 or x.shape[-1] != self.n_features:
            raise ValueError(f"{what} expects inputs with last dimension {self.n_features}; "
                             f"got shape {tuple(x.shape)}.")
        X = x.reshape(-1, self.n_features)
        if not bool(torch.isfinite(X.detach()).all()):
            raise ValueError(f"{what}: the input contains NaN or infinity.")
        return X

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a state saved after growth has more corners than a fresh layer: resize
        # the parameter first, so load_state_dict restores any training phase.
        # Resized in place: an optimizer built on the layer before the load
        # keeps training the same parameter object.
        saved = state_dict.get(prefix + "corners")
        if (saved is not None and saved.ndim == 2 and saved.shape[1] == self.n_features
                and saved.shape[0] != self.n_corners):
            if saved.shape[0] > self.n_clusters:
                raise ValueError(f"the saved state has {saved.shape[0]} corners, more than "
                                 f"n_clusters={self.n_clusters}.")
            self.corners.data = torch.zeros(saved.shape, dtype=self.corners.dtype,
                                            device=self.corners.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def init_from_data(self, x):
        """Published start: sort rows by norm, cut into ``n_corners`` equal groups, means.

        Parameters
        ----------
        x : Tensor of shape (..., n_features)
            At least ``n_corners`` rows (e.g. the encoder's first outputs).

        The corners are overwritten in place (same parameter, same
        ``requires_grad``): an optimizer made before keeps training them.

        Returns
        -------
        self
        """
        X = self._rows(x, "init_from_data").detach().double().cpu().numpy()
        if X.shape[0] < self.n_corners:
            raise ValueError(f"init_from_data needs at least n_corners={self.n_corners} "
                             f"rows; got {X.shape[0]}.")
        C = _init.norm_groups_init(X, np.ones(X.shape[0]), self.n_corners)
        self.corners.copy_(torch.as_tensor(C).to(self.corners))
        return self

    @torch.no_grad()
    def grow(self):
        """Next training phase: double the corners (or fill up to ``n_clusters``).

        While ``2 k <= n_clusters`` the published doubling is applied (the curve
        keeps its shape, see :func:`double_corners`); the last step to a
        ``n_clusters`` that is not ``k`` times a power of two inserts the
        missing corners at the midpoints of the longest segments. Nothing
        happens once ``n_corners == n_clusters``.

        The ``corners`` parameter is **replaced** (its ``requires_grad`` is
        kept): create a new optimizer (or re-register the parameters) after
        calling it.

        Returns
        -------
        self
        """
        k = self.n_corners
        if k >= self.n_clusters:
            return self
        C = self.corners.detach()
        if 2 * k <= self.n_clusters:
            C = double_corners(C, self.growth_epsilon)
        else:
            C = _insert_midpoints(C, self.n_clusters - k)
        self._set_corners(C)
        return self

    # ----------------------------------------------------------- forward
    def forward(self, x):
        """Quantize ``x`` of shape ``(..., n_features)``.

        Returns
        -------
        QuantizerOutput
            ``(output, positions, segments)``; see :class:`QuantizerOutput`.
            Training mode: dithered or noise-substituted output (``output``
            parameter). Eval mode: exact projection onto the curve; ``output``
            is differentiable with respect to the corners.
        """
        X = self._rows(x, "forward")
        lead = x.shape[:-1]
        C = self.corners
        if X.dtype != C.dtype:
            X = X.to(C.dtype)
        if self.training:
            out, pos, seg = self._train_forward(X, C)
        else:
            pos, seg, _ = project_to_curve(X, C, backend=self.backend, n_jobs=self.n_jobs)
            pos, seg = pos.to(X.device), seg.to(X.device)
            out = points_on_curve(pos, C)
        return QuantizerOutput(out.reshape(*lead, self.n_features), pos.reshape(lead),
                               seg.reshape(lead))

    def _train_forward(self, X, C):
        k = C.shape[0]
        n = X.shape[0]
        if k == 1:
            seg = torch.zeros(n, dtype=torch.int64, device=X.device)
            q = C[seg]
            pos = torch.zeros(n, dtype=_position_dtype(C.dtype), device=X.device)
        else:
            lam = torch.rand(k - 1, dtype=C.dtype, device=C.device)
            P = (1 - lam)[:, None] * C[:-1] + lam[:, None] * C[1:]
            with torch.no_grad():
                m = P.mean(dim=0)
                Pc = P - m
                d2 = (Pc * Pc).sum(dim=1) - 2 * ((X - m) @ Pc.T)
                seg = d2.argmin(dim=1)
            q = P[seg]
            pos_dtype = _position_dtype(C.dtype)
            pos = seg.to(pos_dtype) + lam[seg].to(pos_dtype)
        if self.output == "dithered":
            return q, pos, seg
        tiny = torch.finfo(C.dtype).tiny
        r = X - q
        v = torch.randn_like(X)
        r_norm = torch.sqrt((r * r).sum(dim=1, keepdim=True) + tiny)
        v_norm = torch.sqrt((v * v).sum(dim=1, keepdim=True) + tiny)
        return X + (r_norm / v_norm) * v, pos, seg

    # ----------------------------------------------------------- logging
    @torch.no_grad()
    def usage(self, x):
        """Codebook use of ``x``: nearest-corner perplexity, usage and dead corners.

        Returns
        -------
        dict
            ``perplexity`` (exp of the entropy of the nearest-corner histogram),
            ``usage`` (perplexity / n_corners, as ``sksfvq.metrics.usage``),
            ``dead`` (corners that are no row's nearest) and ``mse_corner``.
        """
        X = self._rows(x, "usage").detach().to(self.corners.dtype)
        labels, dist2 = nearest_corner(X, self.corners, backend=self.backend,
                                       n_jobs=self.n_jobs)
        k = self.n_corners
        p = perplexity(labels, k)
        dead = int((torch.bincount(labels, minlength=k) == 0).sum())
        return {"perplexity": p, "usage": p / k, "dead": dead,
                "mse_corner": float(dist2.double().mean()) / self.n_features}

    # -------------------------------------------------------- conversion
    def to_estimator(self, X=None):
        """A fitted :class:`~sksfvq.SpaceFillingVQ` with the same corners, same order.

        This is the conversion path: a new ``SpaceFillingVQ(n_clusters=k)``
        receives the fitted attributes directly (nothing is trained):
        ``cluster_centers_`` (a NumPy copy of ``corners``, same dtype),
        ``n_features_in_``, ``n_iter_ = 0``, ``history_ = []``, and, from ``X``
        when given, ``labels_``, ``inertia_`` and ``n_dead_`` (without ``X``:
        an empty ``labels_``, ``inertia_ = nan``, ``n_dead_ = 0``). The corners
        are **not** reoriented, so ``transform`` gives the layer's positions.
        ``partial_fit`` refines the estimator from there as online k-means
        (MacQueen) updates that keep the order, without a bending penalty
        (the layer's training had none), counting the rows of ``X`` as seen.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), default=None
            Rows to compute ``labels_``, ``inertia_`` and ``n_dead_`` on.

        Returns
        -------
        SpaceFillingVQ
        """
        from ._chain import corner_totals
        from ._engine import nearest_corner as assign_corners
        from ._sfvq import SpaceFillingVQ

        C = self.corners.detach().cpu()
        if C.dtype not in (torch.float32, torch.float64):
            C = C.float()  # half precisions: the estimator works in float32
        C = C.numpy().copy()
        k = C.shape[0]
        est = SpaceFillingVQ(n_clusters=k)
        est.cluster_centers_ = np.ascontiguousarray(C)
        est.n_features_in_ = self.n_features
        est.n_iter_ = 0
        est.history_ = []
        # the streaming state partial_fit continues from (what a fit leaves)
        est._stream_mass = np.zeros(k)
        est._stream_sums = np.zeros((k, C.shape[1]))
        est._stream_smoothness = 0.0
        if X is None:
            est.labels_ = np.empty(0, dtype=np.intp)
            est.inertia_ = float("nan")
            est.n_dead_ = 0
        else:
            X = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
            Xa = np.ascontiguousarray(self._rows(X, "to_estimator").detach().cpu().numpy(), dtype=C.dtype)
            labels, dist2 = assign_corners(Xa, est.cluster_centers_)
            est.labels_ = labels
            est.inertia_ = float(np.sum(dist2, dtype=np.float64))
            est._stream_mass, est._stream_sums = corner_totals(Xa, np.ones(Xa.shape[0]), labels, k)
            est.n_dead_ = int(k - np.count_nonzero(est._stream_mass))
        return est

    @classmethod
    def from_estimator(cls, estimator, **kwargs):
        """A layer whose corners are a fitted estimator's ``cluster_centers_``.

        Parameters
        ----------
        estimator : fitted SpaceFillingVQ
        **kwargs
            Passed to the constructor (``output``, ``growth_epsilon``,
            ``device``, ``n_clusters`` to keep growing beyond the estimator's
            corners, ...). ``dtype`` defaults to the corners' dtype;
            ``start_clusters`` is always the estimator's number of corners.

        Returns
        -------
        SpaceFillingVQLayer
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator, "cluster_centers_")
        C = np.asarray(estimator.cluster_centers_)
        k, d = C.shape
        if kwargs.pop("n_features", d) != d:
            raise ValueError(f"the estimator's corners have {d} features; n_features can only "
                             f"be {d}.")
        kwargs.setdefault("n_clusters", k)
        kwargs.setdefault("dtype", torch.from_numpy(np.ascontiguousarray(C[:1])).dtype)
        if kwargs["n_clusters"] < k:
            raise ValueError(f"n_clusters={kwargs['n_clusters']} is smaller than the "
                             f"estimator's {k} corners.")
        kwargs["start_clusters"] = k
        layer = cls(n_features=d, **kwargs)
        layer._set_corners(torch.as_tensor(np.array(C)).to(layer.corners))
        return layer
