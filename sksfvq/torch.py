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

from typing import NamedTuple

import numpy as np

from . import _init

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
        projection). Not differentiable.
    segments : Tensor of shape (...), int64
        Segment index ``j`` of that point, in ``[0, K - 2]`` (0 when K = 1).
    """

    output: torch.Tensor
    positions: torch.Tensor
    segments: torch.Tensor


# --------------------------------------------------------------------------
# functional pieces (no module state)
# --------------------------------------------------------------------------


def _centred(C):
    """Corners shifted by their mean and the constants the projections use.

    Shifting rows and corners by the same point leaves every distance
    unchanged and removes the rounding error of a large common offset (the
    estimator's kernels do the same).
    """
    center = C.mean(dim=0)
    Cc = C - center
    cc = (Cc * Cc).sum(dim=1)
    return center, Cc, cc


def _chunk_rows(chunk_size, k):
    """Rows per chunk: the given value, or about 2**20 scratch elements per tensor."""
    if chunk_size is None:
        return max(256, (1 << 20) // max(k, 1))
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}.")
    return int(chunk_size)


def _use_numba(backend, X):
    """Whether to run the estimator's Numba kernel (CPU float32/float64 only)."""
    if backend not in ("auto", "torch", "numba"):
        raise ValueError(f'backend must be "auto", "torch" or "numba"; got {backend!r}.')
    cpu_ok = X.device.type == "cpu" and X.dtype in (torch.float32, torch.float64)
    if backend == "numba" and not cpu_ok:
        raise ValueError('backend="numba" needs CPU float32 or float64 tensors; got '
                         f"{X.dtype} on {X.device}.")
    return backend == "numba" or (backend == "auto" and cpu_ok)


class _numba_threads:
    """Run a Numba kernel with ``n_jobs`` threads and keep torch's thread count.

    Launching Numba's OpenMP thread pool resets the process-wide OpenMP
    thread count, which torch reads: a ``torch.set_num_threads(1)`` made
    before would silently become Numba's count (several-fold slower minibatch
    training on a busy CPU in our runs). Torch's setting is restored on exit.
    """

    def __init__(self, n_jobs):
        from ._engine import kernel_threads

        self._kernel_threads = kernel_threads(n_jobs)

    def __enter__(self):
        self._torch_threads = torch.get_num_threads()
        self._kernel_threads.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            self._kernel_threads.__exit__(*exc)
        finally:
            if torch.get_num_threads() != self._torch_threads:
                torch.set_num_threads(self._torch_threads)
        return False


def _as_numpy_pair(X, C):
    Xn = np.ascontiguousarray(X.detach().numpy())
    Cn = np.ascontiguousarray(C.detach().to(X.dtype).numpy())
    return Xn, Cn


def _margin(xx, cmax, d, dtype):
    """Rounding margin of the expanded distance form (as in ``_kernels``)."""
    eps = torch.finfo(dtype).eps
    return 8 * eps * (xx + cmax) * (d + 2)


@torch.no_grad()
def nearest_corner(X, C, chunk_size=None, backend="auto", n_jobs=None):
    """Index of and squared distance to the nearest corner of every row.

    Expanded form ``|x|^2 - 2 x.c + |c|^2`` with one matrix product per chunk
    of rows, then every candidate within a rounding margin of the best is
    re-evaluated directly; ties go to the lowest index.

    Parameters
    ----------
    X : Tensor of shape (n, d)
    C : Tensor of shape (k, d)
    chunk_size : int, default=None
        Rows per chunk; it bounds the ``chunk_size x k`` scratch tensors. By
        default about 2**20 / k rows (at least 256): a few MB per temporary.
    backend : {"auto", "torch", "numba"}, default="auto"
        ``"numba"``: the estimator's kernel (CPU float32/float64 tensors only;
        results identical to ``SpaceFillingVQ.predict``); ``"torch"``: the
        same algebra in torch (any device; equal up to float rounding);
        ``"auto"``: numba when possible, else torch.
    n_jobs : int or None, default=None
        Threads of the Numba kernel (as the estimator's ``n_jobs``).

    Returns
    -------
    labels : Tensor of shape (n,), int64
    dist2 : Tensor of shape (n,)
    """
    if _use_numba(backend, X):
        from ._engine import nearest_corner as assign_corners

        with _numba_threads(n_jobs):
            labels, dist2 = assign_corners(*_as_numpy_pair(X, C))
        return torch.from_numpy(labels).long(), torch.from_numpy(dist2)
    C = C.detach().to(X.dtype)
    center, Cc, cc = _centred(C)
    cmax = cc.max()
    labels, dist2 = [], []
    chunk_size = _chunk_rows(chunk_size, C.shape[0])
    for start in range(0, X.shape[0], chunk_size):
        xc = X[start:start + chunk_size].detach() - center
        xx = (xc * xc).sum(dim=1)
        approx = xx[:, None] - 2 * (xc @ Cc.T) + cc
        best = approx.min(dim=1).values
        cand = approx <= (best + _margin(xx, cmax, X.shape[1], X.dtype))[:, None]
        rows, cols = cand.nonzero(as_tuple=True)
        diff = xc[rows] - Cc[cols]
        exact = torch.full_like(approx, float("inf"))
        exact[rows, cols] = (diff * diff).sum(dim=1)
        d2, lab = exact.min(dim=1)
        labels.append(lab)
        dist2.append(d2)
    return torch.cat(labels), torch.cat(dist2)


@torch.no_grad()
def project_to_curve(X, C, chunk_size=None, backend="auto", n_jobs=None):
    """Exact nearest point of the polyline through the corners, for every row.

    The algebra of the estimator's Numba kernel: with ``G = X C^T`` (one matrix
    product per chunk, rows and corners centred on the mean corner) and
    ``d_j = c_{j+1} - c_j``, segment ``j`` gives
    ``a = G[:, j+1] - G[:, j] - c_j.d_j``, ``lambda = clip(a / |d_j|^2, 0, 1)``
    and ``dist^2 = |x|^2 - 2 G[:, j] + |c_j|^2 - 2 lambda a + lambda^2 |d_j|^2``.
    Every segment within a rounding margin of the best is then re-projected
    directly, so the winner, its ``lambda`` and its distance are exact to
    working precision; ties go to the lowest segment. A projection onto the
    far end of a segment is reported as the start of the next one, so
    positions are unique. Zero-length segments count as their first corner.

    Parameters
    ----------
    X : Tensor of shape (n, d)
    C : Tensor of shape (k, d)
    chunk_size : int, default=None
        Rows per chunk; it bounds the ``chunk_size x k`` scratch tensors. By
        default about 2**20 / k rows (at least 256): a few MB per temporary.
        Torch backend only.
    backend : {"auto", "torch", "numba"}, default="auto"
        ``"numba"``: the estimator's kernel itself (CPU float32/float64 tensors
        only; results bit-identical to ``SpaceFillingVQ.transform``);
        ``"torch"``: the algebra above in torch (any device; equal to the
        kernel up to float rounding, a few ulps, because summation orders
        differ); ``"auto"``: numba when possible, else torch.
    n_jobs : int or None, default=None
        Threads of the Numba kernel (as the estimator's ``n_jobs``).

    Returns
    -------
    positions : Tensor of shape (n,)
        ``t = j + lambda`` in ``[0, k - 1]``.
    segments : Tensor of shape (n,), int64
    dist2 : Tensor of shape (n,)
        Squared distance to the curve.
    """
    n, d = X.shape
    if _use_numba(backend, X):
        from ._engine import project

        with _numba_threads(n_jobs):
            pos, seg, dist2 = project(*_as_numpy_pair(X, C))
        return torch.from_numpy(pos), torch.from_numpy(seg).long(), torch.from_numpy(dist2)
    C = C.detach().to(X.dtype)
    k = C.shape[0]
    if k == 1:
        diff = X.detach() - C[0]
        return (torch.zeros(n, dtype=X.dtype, device=X.device),
                torch.zeros(n, dtype=torch.int64, device=X.device),
                (diff * diff).sum(dim=1))
    center, Cc, cc = _centred(C)
    cmax = cc.max()
    Dseg = Cc[1:] - Cc[:-1]
    dd = (Dseg * Dseg).sum(dim=1)
    cd = (Cc[:-1] * Dseg).sum(dim=1)
    inv_dd = torch.where(dd > 0, 1 / torch.where(dd > 0, dd, torch.ones_like(dd)),
                         torch.zeros_like(dd))
    nseg = k - 1
    out_pos, out_seg, out_d2 = [], [], []
    chunk_size = _chunk_rows(chunk_size, k)
    for start in range(0, n, chunk_size):
        xc = X[start:start + chunk_size].detach() - center
        xx = (xc * xc).sum(dim=1)
        G = xc @ Cc.T
        a = G[:, 1:] - G[:, :-1] - cd
        lam = (a * inv_dd).clamp(0, 1)
        approx = xx[:, None] - 2 * G[:, :-1] + cc[:-1] - 2 * lam * a + lam * lam * dd
        best = approx.min(dim=1).values
        cand = approx <= (best + _margin(xx, cmax, d, X.dtype))[:, None]
        rows, segs = cand.nonzero(as_tuple=True)
        rel = xc[rows] - Cc[segs]
        lam_c = ((rel * Dseg[segs]).sum(dim=1) * inv_dd[segs]).clamp(0, 1)
        res = rel - lam_c[:, None] * Dseg[segs]
        exact = torch.full_like(approx, float("inf"))
        exact[rows, segs] = (res * res).sum(dim=1)
        lam_all = torch.zeros_like(approx)
        lam_all[rows, segs] = lam_c
        d2, bj = exact.min(dim=1)
        bl = lam_all.gather(1, bj[:, None])[:, 0]
        far = (bl >= 1) & (bj + 1 < nseg)
        bj = torch.where(far, bj + 1, bj)
        bl = torch.where(far, torch.zeros_like(bl), bl)
        out_pos.append(bj.to(X.dtype) + bl)
        out_seg.append(bj)
        out_d2.append(d2)
    return torch.cat(out_pos), torch.cat(out_seg), torch.cat(out_d2)


def points_on_curve(positions, C):
    """Points of the polyline through ``C`` at ``positions`` (in ``[0, k-1]``).

    ``t = j + lambda`` gives ``(1 - lambda) c_j + lambda c_{j+1}``, as the
    estimator's ``inverse_transform`` (integer positions return corners
    exactly). The arithmetic is done in float64 and rounded once to the
    corners' dtype, like the estimator's kernel, so float32 results agree bit
    for bit. Differentiable with respect to ``C``.
    """
    k = C.shape[0]
    if k == 1:
        return C[0].expand(positions.shape[0], C.shape[1])
    t = positions.to(C.dtype)
    j = t.floor().long().clamp(0, k - 2)
    lam = (t - j.to(C.dtype)).double()[:, None]
    C64 = C.double()
    return ((1 - lam) * C64[j] + lam * C64[j + 1]).to(C.dtype)


def double_corners(C, eps=0.01):
    """The published growth: ``k`` corners become ``2k``, the curve keeps its shape.

    Corner ``i`` of the left half becomes positions ``(i, i + eps)``, corner
    ``i`` of the right half ``(i - eps, i)`` (:func:`sksfvq._init.double_published`
    in torch).
    """
    k = C.shape[0]
    if k == 1:
        return C.repeat(2, 1)
    half = k // 2
    t = []
    for i in range(k):
        t.extend((i, i + eps) if i < half else (i - eps, i))
    t = torch.tensor(t, dtype=torch.float64, device=C.device)
    j = t.floor().long().clamp(0, k - 2)
    lam = (t - j.to(torch.float64)).to(C.dtype)[:, None]
    return C[j] + lam * (C[j + 1] - C[j])


def _insert_midpoints(C, n_new):
    """Add ``n_new`` corners at the midpoints of the longest segments (shape kept)."""
    if n_new <= 0:
        return C
    if C.shape[0] == 1:
        return C.repeat(1 + n_new, 1)
    lengths = (C[1:] - C[:-1]).norm(dim=1)
    # stable order: longest first, ties to the lower index
    order = torch.from_numpy(np.argsort(-lengths.cpu().double().numpy(), kind="stable"))
    chosen = set(order[:n_new].tolist())
    rows = []
    for j in range(C.shape[0]):
        rows.append(C[j])
        if j in chosen:
            rows.append(0.5 * (C[j] + C[j + 1]))
    return torch.stack(rows)


def perplexity(codes, n_codes):
    """Perplexity ``exp(entropy)`` of the histogram of integer ``codes``.

    Equals ``n_codes`` when all codes are used equally, 1 when one code takes
    everything. Divide by ``n_codes`` for the ``usage`` of ``docs/metrics.rst``.
    """
    counts = torch.bincount(codes.reshape(-1), minlength=n_codes).double()
    p = counts[counts > 0] / counts.sum()
    return float(torch.exp(-(p * p.log()).sum()))


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
        if int(n_clusters) < 1:
            raise ValueError(f"n_clusters must be >= 1; got {n_clusters}.")
        if int(n_features) < 1:
            raise ValueError(f"n_features must be >= 1; got {n_features}.")
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
        self.corners = nn.Parameter(C.detach().clone().contiguous())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a state saved after growth has more corners than a fresh layer: resize
        # the parameter first, so load_state_dict restores any training phase.
        saved = state_dict.get(prefix + "corners")
        if (saved is not None and saved.ndim == 2 and saved.shape[1] == self.n_features
                and saved.shape[0] != self.n_corners):
            if saved.shape[0] > self.n_clusters:
                raise ValueError(f"the saved state has {saved.shape[0]} corners, more than "
                                 f"n_clusters={self.n_clusters}.")
            self._set_corners(torch.zeros(saved.shape, dtype=self.corners.dtype,
                                          device=self.corners.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def init_from_data(self, x):
        """Published start: sort rows by norm, cut into ``n_corners`` equal groups, means.

        Parameters
        ----------
        x : Tensor of shape (..., n_features)
            At least ``n_corners`` rows (e.g. the encoder's first outputs).

        Returns
        -------
        self
        """
        X = x.detach().reshape(-1, self.n_features).double().cpu().numpy()
        if X.shape[0] < self.n_corners:
            raise ValueError(f"init_from_data needs at least n_corners={self.n_corners} "
                             f"rows; got {X.shape[0]}.")
        C = _init.norm_groups_init(X, np.ones(X.shape[0]), self.n_corners)
        self._set_corners(torch.as_tensor(C).to(self.corners))
        return self

    @torch.no_grad()
    def grow(self):
        """Next training phase: double the corners (or fill up to ``n_clusters``).

        While ``2 k <= n_clusters`` the published doubling is applied (the curve
        keeps its shape, see :func:`double_corners`); the last step to a
        ``n_clusters`` that is not ``k`` times a power of two inserts the
        missing corners at the midpoints of the longest segments. Nothing
        happens once ``n_corners == n_clusters``.

        The ``corners`` parameter is **replaced**: create a new optimizer (or
        re-register the parameters) after calling it.

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
        if x.shape[-1] != self.n_features:
            raise ValueError(f"expected inputs with last dimension {self.n_features}; "
                             f"got shape {tuple(x.shape)}.")
        lead = x.shape[:-1]
        X = x.reshape(-1, self.n_features)
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
            pos = torch.zeros(n, dtype=C.dtype, device=X.device)
        else:
            lam = torch.rand(k - 1, dtype=C.dtype, device=C.device)
            P = (1 - lam)[:, None] * C[:-1] + lam[:, None] * C[1:]
            with torch.no_grad():
                m = P.mean(dim=0)
                Pc = P - m
                d2 = (Pc * Pc).sum(dim=1) - 2 * ((X - m) @ Pc.T)
                seg = d2.argmin(dim=1)
            q = P[seg]
            pos = seg.to(C.dtype) + lam[seg]
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
        X = x.detach().reshape(-1, self.n_features).to(self.corners.dtype)
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

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), default=None
            Rows to compute ``labels_``, ``inertia_`` and ``n_dead_`` on.

        Returns
        -------
        SpaceFillingVQ
        """
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
        if X is None:
            est.labels_ = np.empty(0, dtype=np.intp)
            est.inertia_ = float("nan")
            est.n_dead_ = 0
        else:
            if isinstance(X, torch.Tensor):
                X = X.detach().cpu().numpy()
            Xa = np.ascontiguousarray(np.asarray(X).reshape(-1, self.n_features), dtype=C.dtype)
            labels, dist2 = assign_corners(Xa, est.cluster_centers_)
            est.labels_ = labels
            est.inertia_ = float(np.sum(dist2, dtype=np.float64))
            est.n_dead_ = int(k - np.count_nonzero(np.bincount(labels, minlength=k)))
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
        kwargs.setdefault("n_clusters", k)
        kwargs.setdefault("dtype", torch.from_numpy(np.ascontiguousarray(C[:1])).dtype)
        if kwargs["n_clusters"] < k:
            raise ValueError(f"n_clusters={kwargs['n_clusters']} is smaller than the "
                             f"estimator's {k} corners.")
        kwargs["start_clusters"] = k
        layer = cls(n_features=d, **kwargs)
        layer._set_corners(torch.as_tensor(np.array(C)).to(layer.corners))
        return layer


# --------------------------------------------------------------------------
# standalone training with the published schedule
# --------------------------------------------------------------------------


def train_standalone(layer, X, *, n_epochs=5, batch_size=64, learning_rate=1e-3,
                     lr_milestones=(0.6, 0.8), verbose=0):
    """Train a layer alone on data with the published recipe, growing to ``n_clusters``.

    Per phase: a fresh Adam optimizer, ``n_epochs`` epochs of shuffled
    minibatches, loss ``mse(dithered point, x)``, the learning rate halved at
    each fraction of ``lr_milestones`` of the phase's epochs; then
    :meth:`SpaceFillingVQLayer.grow` until ``n_clusters`` corners are reached
    (the last phase runs at ``n_clusters``). Uses torch's global generator.

    Parameters
    ----------
    layer : SpaceFillingVQLayer
        Trained in place (its ``output`` is used as is; use ``"dithered"``).
    X : Tensor of shape (n, n_features)
    n_epochs, batch_size, learning_rate, lr_milestones
        The published values by default.
    verbose : int, default=0
        Print one line per phase when > 0.

    Returns
    -------
    history : list of dict
        One entry per phase: ``n_clusters`` and ``loss`` (mean of the last
        epoch's batch losses, per feature).
    """
    X = torch.as_tensor(X).to(layer.corners)
    n = X.shape[0]
    history = []
    layer.train()
    while True:
        opt = torch.optim.Adam(layer.parameters(), lr=learning_rate)
        steps = [int(m * n_epochs) for m in lr_milestones]
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=steps, gamma=0.5)
        loss_sum = torch.zeros((), dtype=torch.float64)
        for _ in range(n_epochs):
            order = torch.randperm(n, device=X.device)
            loss_sum, n_batches = torch.zeros((), dtype=torch.float64), 0
            for start in range(0, n, batch_size):
                xb = X[order[start:start + batch_size]]
                q = layer(xb).output
                loss = ((q - xb) ** 2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.detach().double().cpu()
                n_batches += 1
            sched.step()
            loss_sum = float(loss_sum) / max(n_batches, 1)
        history.append({"n_clusters": layer.n_corners, "loss": float(loss_sum)})
        if verbose:
            print(f"[SpaceFillingVQLayer] K={layer.n_corners:5d}  loss={loss_sum:.6g}",
                  flush=True)
        if layer.n_corners >= layer.n_clusters:
            return history
        layer.grow()
