"""Tensor functions of the optional PyTorch layer, re-exported by :mod:`sksfvq.torch`.

Functional pieces without module state: the nearest corner
(:func:`nearest_corner`) and the exact projection onto the curve
(:func:`project_to_curve`), in torch or through the estimator's Numba
kernels; points at curve positions (:func:`points_on_curve`); the growth steps
(:func:`double_corners`, the published doubling, and ``_insert_midpoints``);
the perplexity of a code histogram (:func:`perplexity`); and their helpers.
:class:`sksfvq.torch.SpaceFillingVQLayer` is built on them.
"""

import numpy as np
import torch


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


def _wide(X):
    """dtype of the re-checks: float64 (as the Numba kernels; the distances are
    then rounded once to X's dtype), where the device has it (not on MPS)."""
    return X.dtype if X.device.type == "mps" else torch.float64


def _inverse(dd):
    """1 / dd where dd > 0, else 0 (a segment of length 0 counts as its first corner)."""
    return torch.where(dd > 0, 1 / torch.where(dd > 0, dd, torch.ones_like(dd)),
                       torch.zeros_like(dd))


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


def _check_pair(X, C):
    """ValueError unless X (n, d) and C (k >= 1, d) are 2-D with one width
    (the Numba kernels index by these shapes without bounds checks)."""
    if X.ndim != 2 or C.ndim != 2:
        raise ValueError(f"X and C must be 2-D (rows, features); got shapes {tuple(X.shape)} "
                         f"and {tuple(C.shape)}.")
    if X.shape[1] != C.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features but C has {C.shape[1]}.")
    if C.shape[0] < 1:
        raise ValueError("C needs at least one corner.")


def _position_dtype(dtype):
    """Positions ``j + lambda`` in at least float32: half precisions hold no
    integer above 256 (bfloat16) or 2048 (float16) exactly."""
    return torch.promote_types(dtype, torch.float32)


def _working_pair(X, C):
    """X and C detached, in X's dtype, at least float32: in a half precision
    the squared lengths of short segments underflow (their inverse, lambda
    and the positions become inf or NaN) and the rounding margin lets most
    corners through."""
    work = _position_dtype(X.dtype)
    return X.detach().to(work), C.detach().to(work)


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
        float64 from the numba back end (exact for data of any unit), X's
        dtype from the torch one.
    """
    _check_pair(X, C)
    if _use_numba(backend, X):
        from ._engine import nearest_corner as assign_corners

        with _numba_threads(n_jobs):
            labels, dist2 = assign_corners(*_as_numpy_pair(X, C))
        return torch.from_numpy(labels).long(), torch.from_numpy(dist2)
    out_dtype = X.dtype
    X, C = _working_pair(X, C)
    center, Cc, cc = _centred(C)
    cmax = cc.max()
    labels, dist2 = [], []
    chunk_size = _chunk_rows(chunk_size, C.shape[0])
    wide = _wide(X)
    Cw = C.to(wide)
    for start in range(0, X.shape[0], chunk_size):
        part = X[start:start + chunk_size].detach()
        xc = part - center
        xx = (xc * xc).sum(dim=1)
        approx = xx[:, None] - 2 * (xc @ Cc.T) + cc
        best = approx.min(dim=1).values
        cand = approx <= (best + _margin(xx, cmax, X.shape[1], X.dtype))[:, None]
        rows, cols = cand.nonzero(as_tuple=True)
        # the candidates again from the rows and corners as given: the centring
        # rounds each coordinate by about eps |x - center|, more than the gaps
        # between corners next to one far from the others
        diff = part[rows].to(wide) - Cw[cols]
        exact = torch.full_like(approx, float("inf"))
        exact[rows, cols] = (diff * diff).sum(dim=1).to(approx.dtype)
        d2, lab = exact.min(dim=1)
        labels.append(lab)
        dist2.append(d2)
    return torch.cat(labels), torch.cat(dist2).to(out_dtype)


@torch.no_grad()
def project_to_curve(X, C, chunk_size=None, backend="auto", n_jobs=None):
    """Exact nearest point of the polyline through the corners, for every row.

    The algebra of the estimator's Numba kernel: with ``G = X C^T`` (one matrix
    product per chunk, rows and corners centred on the mean corner) and
    ``d_j = c_{j+1} - c_j``, segment ``j`` gives
    ``a = G[:, j+1] - G[:, j] - c_j.d_j``, ``lambda = clip(a / |d_j|^2, 0, 1)``
    and ``dist^2 = |x|^2 - 2 G[:, j] + |c_j|^2 - 2 lambda a + lambda^2 |d_j|^2``.
    Every segment within a rounding margin of the best is then re-projected
    directly from the rows and corners as given, so the winner, its
    ``lambda`` and its distance are exact to working precision; ties go to
    the lowest segment. A projection onto the far end of a segment is
    reported as the start of the next one, so positions are unique.
    Zero-length segments count as their first corner.

    Parameters
    ----------
    X : Tensor of shape (n, d)
        The rows.
    C : Tensor of shape (k, d)
        The corners of the curve, in order.
    chunk_size : int, default=None
        As in :func:`nearest_corner` (rows per chunk of the scratch tensors);
        torch backend only.
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
        ``t = j + lambda`` in ``[0, k - 1]``, in X's dtype or float32 for
        half precisions (which hold no integer above 256 or 2048 exactly).
    segments : Tensor of shape (n,), int64
    dist2 : Tensor of shape (n,)
        Squared distance to the curve: float64 from the numba back end
        (exact for data of any unit), X's dtype from the torch one.
    """
    _check_pair(X, C)
    n, d = X.shape
    if _use_numba(backend, X):
        from ._engine import project

        with _numba_threads(n_jobs):
            pos, seg, dist2 = project(*_as_numpy_pair(X, C))
        return torch.from_numpy(pos), torch.from_numpy(seg).long(), torch.from_numpy(dist2)
    out_dtype = X.dtype
    X, C = _working_pair(X, C)
    k = C.shape[0]
    if k == 1:
        diff = X.detach() - C[0]
        return (torch.zeros(n, dtype=X.dtype, device=X.device),
                torch.zeros(n, dtype=torch.int64, device=X.device),
                (diff * diff).sum(dim=1).to(out_dtype))
    center, Cc, cc = _centred(C)
    cmax = cc.max()
    Dseg = Cc[1:] - Cc[:-1]
    dd = (Dseg * Dseg).sum(dim=1)
    cd = (Cc[:-1] * Dseg).sum(dim=1)
    inv_dd = _inverse(dd)
    # the re-check's segments, from the corners as given (see nearest_corner)
    wide = _wide(X)
    Cw = C.to(wide)
    Draw = Cw[1:] - Cw[:-1]
    inv_raw = _inverse((Draw * Draw).sum(dim=1))
    nseg = k - 1
    out_pos, out_seg, out_d2 = [], [], []
    chunk_size = _chunk_rows(chunk_size, k)
    for start in range(0, n, chunk_size):
        part = X[start:start + chunk_size].detach()
        xc = part - center
        xx = (xc * xc).sum(dim=1)
        G = xc @ Cc.T
        a = G[:, 1:] - G[:, :-1] - cd
        lam = (a * inv_dd).clamp(0, 1)
        approx = xx[:, None] - 2 * G[:, :-1] + cc[:-1] - 2 * lam * a + lam * lam * dd
        best = approx.min(dim=1).values
        cand = approx <= (best + _margin(xx, cmax, d, X.dtype))[:, None]
        rows, segs = cand.nonzero(as_tuple=True)
        rel = part[rows].to(wide) - Cw[segs]
        lam_c = ((rel * Draw[segs]).sum(dim=1) * inv_raw[segs]).clamp(0, 1)
        res = rel - lam_c[:, None] * Draw[segs]
        exact = torch.full_like(approx, float("inf"))
        exact[rows, segs] = (res * res).sum(dim=1).to(approx.dtype)
        lam_all = torch.zeros_like(approx)
        lam_all[rows, segs] = lam_c.to(approx.dtype)
        d2, bj = exact.min(dim=1)
        bl = lam_all.gather(1, bj[:, None])[:, 0]
        far = (bl >= 1) & (bj + 1 < nseg)
        bj = torch.where(far, bj + 1, bj)
        bl = torch.where(far, torch.zeros_like(bl), bl)
        out_pos.append(bj.to(X.dtype) + bl)  # X: its working dtype, float32 at least
        out_seg.append(bj)
        out_d2.append(d2)
    return torch.cat(out_pos), torch.cat(out_seg), torch.cat(out_d2).to(out_dtype)


def points_on_curve(positions, C):
    """Points of the polyline through ``C`` at ``positions`` (in ``[0, k-1]``).

    ``t = j + lambda`` gives ``(1 - lambda) c_j + lambda c_{j+1}``, as the
    estimator's ``inverse_transform`` (integer positions return corners
    exactly). The arithmetic is done in float64 and rounded once to the
    corners' dtype, like the estimator's kernel, so float32 results agree bit
    for bit. Differentiable with respect to ``C``. Positions outside
    ``[0, k - 1]`` raise a ValueError, as in ``inverse_transform``.
    """
    k = C.shape[0]
    if positions.numel() and (positions.min() < 0 or positions.max() > k - 1):
        raise ValueError(f"positions must lie in [0, {k - 1}] (corners - 1); got values in "
                         f"[{float(positions.min())}, {float(positions.max())}].")
    if k == 1:
        return C[0].expand(positions.shape[0], C.shape[1])
    # float64 from the positions as given (exact): rounding them to a half
    # precision of C first would move them by whole segments
    t = positions.double()
    j = t.floor().long().clamp(0, k - 2)
    lam = (t - j.double())[:, None]
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
