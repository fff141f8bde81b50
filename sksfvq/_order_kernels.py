"""Ordering kernels: local moves that improve the order of the corners.

The order of the corners does not change the nearest-corner error at all, but
it is what makes the index readable. Two costs of an order are improved by
local moves from a given order, deterministically (scanned in index order):

* the length of the open path through the corners (``improve_path``: 2-opt
  and or-opt moves), the numerator of ``adj_ratio``: local order;
* the *arrangement cost* ``a_gap * sum_{i<j} W_ij |p_i - p_j| + a_len * length``
  (``arrange_insert``, ``arrange_reverse``), where ``W`` counts the data
  neighbours that fall into corners i and j and ``p`` is the position of a
  corner in the order: data neighbours far apart along the index cost, so
  this is global order (``knn_spread``) traded against local order.
"""

from ._engine import jit


@jit(inline=True)
def _reverse(order, lo, hi):
    """Reverse order[lo..hi] in place."""
    while lo < hi:
        t = order[lo]
        order[lo] = order[hi]
        order[hi] = t
        lo += 1
        hi -= 1


@jit(inline=True)
def _move_stretch(order, i, L, p, rev):
    """Move order[i..i+L-1] (1 <= L <= 3; reversed if ``rev``) to just after
    the element now at position ``p`` (p = -1: the front), with explicit loops
    (numba's concatenation and slice assignment pull in a lot of compiled
    code). The stretch is held in three values: its first, middle (L = 3)
    and last element in their new order."""
    first = order[i + L - 1] if rev else order[i]
    mid = order[i + 1] if L == 3 else first
    last = order[i] if rev else order[i + L - 1]
    if p < i:  # to the left: shift order[p+1 .. i-1] right by L
        for t in range(i - 1, p, -1):
            order[t + L] = order[t]
        q = p + 1
    else:  # to the right: shift order[i+L .. p] left by L
        for t in range(i + L, p + 1):
            order[t - L] = order[t]
        q = p - L + 1
    order[q] = first
    order[q + L - 1] = last
    if L == 3:
        order[q + 1] = mid


@jit()
def improve_path(Dm, order, max_sweeps):
    """Shorten the open path ``order`` through points with distance matrix ``Dm``.

    in: Dm (k, k) float64 symmetric distances; max_sweeps: bound on full scans.
    in/out: order (k,) intp permutation, improved in place.
    Moves: 2-opt (reverse a stretch, including either end of the open path)
    and or-opt (move a stretch of 1-3 points elsewhere, possibly reversed).
    Returns the final path length.
    """
    k = order.shape[0]
    tiny = 1e-12
    for _ in range(max_sweeps):
        improved = False
        # 2-opt: reverse order[i..j]
        for i in range(k - 1):
            for j in range(i + 1, k):
                a = order[i - 1] if i > 0 else -1
                b = order[i]
                c = order[j]
                dn = order[j + 1] if j + 1 < k else -1
                before = 0.0
                after = 0.0
                if a >= 0:
                    before += Dm[a, b]
                    after += Dm[a, c]
                if dn >= 0:
                    before += Dm[c, dn]
                    after += Dm[b, dn]
                if after < before - tiny * (1.0 + before):
                    _reverse(order, i, j)
                    improved = True
        # or-opt: move the stretch order[i..i+L-1] between two other neighbours
        for L in range(1, 4):
            i = 0
            while i + L <= k:
                s0 = order[i]
                s1 = order[i + L - 1]
                a = order[i - 1] if i > 0 else -1
                dn = order[i + L] if i + L < k else -1
                removed = _link(Dm, a, s0) + _link(Dm, s1, dn) - _link(Dm, a, dn)
                best_gain = tiny * (1.0 + removed)
                best_pos = -2
                best_rev = False
                # insert between order[p] and order[p+1] (p = -1: before the start,
                # p = k-1: after the end), outside the stretch and its neighbours
                for p in range(-1, k):
                    if p >= i - 1 and p <= i + L - 1:
                        continue
                    u = order[p] if p >= 0 else -1
                    v = order[p + 1] if p + 1 < k else -1
                    for rev in (False, True):
                        first = s1 if rev else s0
                        last = s0 if rev else s1
                        added = _link(Dm, u, first) + _link(Dm, last, v) - _link(Dm, u, v)
                        gain = removed - added
                        if gain > best_gain:
                            best_gain = gain
                            best_pos = p
                            best_rev = rev
                if best_pos != -2:
                    _move_stretch(order, i, L, best_pos, best_rev)
                    improved = True
                i += 1
        if not improved:
            break
    length = 0.0
    for i in range(k - 1):
        length += Dm[order[i], order[i + 1]]
    return length


# --------------------------------------------------------------------------
# arrangement: sum_{i<j} W_ij |p_i - p_j| (global order) plus path length
# --------------------------------------------------------------------------
#
# ``LW[s]`` is the weight between corner s and the corners placed before it
# (its "left weight"). Moving a corner one place past its right neighbour
# changes the arrangement sum by an amount that only needs the two corners'
# row sums, left weights and mutual weight (``_swap_gain``), so every
# insertion place of a corner is evaluated in O(1) each, O(k) in all.


@jit()
def left_weights(W, order, LW):
    """``LW[s] = sum of W[s, v]`` over the corners v placed before s.

    in: W (k, k) symmetric, order (k,) permutation. out: LW (k,) float64.
    """
    k = order.shape[0]
    for a in range(k):
        s = order[a]
        LW[s] = 0.0
        for b in range(a):
            LW[s] += W[s, order[b]]


@jit(inline=True)
def _swap_gain(W, rows, x, y, lw_x, lw_y):
    """Change of the arrangement sum when x (just before y) and y swap places,
    with ``lw_x``, ``lw_y`` their current left weights."""
    return 2.0 * lw_x - rows[x] + W[x, y] + rows[y] - 2.0 * lw_y + W[y, x]


@jit(inline=True)
def _link(D, a, b):
    """Length of the edge (a, b) of the path; 0 when either end is absent (-1)."""
    if a < 0 or b < 0:
        return 0.0
    return D[a, b]


@jit(inline=True)
def _arrangement_state(W, D, a_gap, a_len, order, rows, LW):
    """Fill ``rows`` (row sums of W) and ``LW`` (left weights of ``order``);
    return the margin a move must beat. The sums are sequential loops, in the
    order of numba's np.sum (same bits)."""
    k = order.shape[0]
    scale = 0.0
    length = 0.0
    for i in range(k):
        r = 0.0
        for j in range(k):
            r += W[i, j]
            length += D[i, j]
        rows[i] = r
        scale += r
    left_weights(W, order, LW)
    return 1e-12 * (a_gap * scale * k + a_len * length / k + 1e-300)


@jit()
def arrange_insert(W, D, a_gap, a_len, order, window, rows, LW, pos):
    """One sweep of insertion moves: each corner goes to its best place
    within ``window`` places of where it is.

    in: W (k, k) symmetric non-negative, zero diagonal; D (k, k) distances;
    a_gap, a_len >= 0 the weights of the two costs.
    in/out: order (k,) permutation. Corners are visited in index order; a
    corner moves when the best place lowers the cost by more than a
    relative 1e-12. Returns the number of moves.
    scratch (overwritten): rows, LW (k,) float64; pos (k,) intp.
    """
    k = order.shape[0]
    tiny = _arrangement_state(W, D, a_gap, a_len, order, rows, LW)
    for t in range(k):
        pos[order[t]] = t
    n_moves = 0
    for u in range(k):
        i = pos[u]
        a = order[i - 1] if i > 0 else -1
        b = order[i + 1] if i + 1 < k else -1
        removed = _link(D, a, u) + _link(D, u, b) - _link(D, a, b)
        best = -tiny
        best_j = -1
        # to the right: u passes order[i+1..j] and lands between order[j], order[j+1]
        gap = 0.0
        lwu = LW[u]
        stop = i + window + 1  # min(k, .): a conditional compiles less than min
        for j in range(i + 1, stop if stop < k else k):
            s = order[j]
            gap += _swap_gain(W, rows, u, s, lwu, LW[s])
            lwu += W[u, s]
            c = s
            d = order[j + 1] if j + 1 < k else -1
            added = D[c, u] + _link(D, u, d) - _link(D, c, d)
            delta = a_gap * gap + a_len * (added - removed)
            if delta < best:
                best = delta
                best_j = j
        # to the left: u passes order[j..i-1] and lands between order[j-1], order[j]
        gap = 0.0
        lwu = LW[u]
        stop = i - window - 1
        for j in range(i - 1, stop if stop > -1 else -1, -1):
            s = order[j]
            gap += _swap_gain(W, rows, s, u, LW[s], lwu)
            lwu -= W[u, s]
            d = s
            c = order[j - 1] if j >= 1 else -1
            added = D[u, d] + _link(D, c, u) - _link(D, c, d)
            delta = a_gap * gap + a_len * (added - removed)
            if delta < best:
                best = delta
                best_j = j
        if best_j < 0:
            continue
        if best_j > i:
            for j in range(i + 1, best_j + 1):
                s = order[j]
                LW[u] += W[u, s]
                LW[s] -= W[s, u]
                order[j - 1] = s
                pos[s] = j - 1
        else:
            for j in range(i - 1, best_j - 1, -1):
                s = order[j]
                LW[u] -= W[u, s]
                LW[s] += W[s, u]
                order[j + 1] = s
                pos[s] = j + 1
        order[best_j] = u
        pos[u] = best_j
        n_moves += 1
    return n_moves


@jit()
def arrange_reverse(W, D, a_gap, a_len, order, window, rows, LW):
    """One sweep of reversals: order[i..j] (j - i <= window) is reversed when
    that lowers the arrangement cost (the best j for every i, in order).

    Reversing a stretch keeps the gaps inside it and changes every gap
    between a corner s inside and a corner v outside by ``i + j - 2 p_s``
    (v before the stretch) or its opposite (v after it), which the sums
    below accumulate as the stretch grows. in: as :func:`arrange_insert`.
    in/out: order. scratch (overwritten): rows, LW (k,) float64. Returns the
    number of reversals.
    """
    k = order.shape[0]
    tiny = _arrangement_state(W, D, a_gap, a_len, order, rows, LW)
    n_rev = 0
    for i in range(k - 1):
        a = order[i - 1] if i > 0 else -1
        # A = sum (2 Lout_s - rows_s), B = sum p_s (2 Lout_s - rows_s) over the stretch;
        # S, P: the same with the weights inside the stretch (ordered pairs)
        A = 0.0
        B = 0.0
        S = 0.0
        P = 0.0
        best = -tiny
        best_j = -1
        last = i + window if i + window < k - 1 else k - 1
        for j in range(i, last + 1):
            e = order[j]
            inside = 0.0
            moment = 0.0
            for q in range(i, j):
                wev = W[e, order[q]]
                inside += wev
                moment += (j + q) * wev
            lout = LW[e] - inside
            A += 2.0 * lout - rows[e]
            B += j * (2.0 * lout - rows[e])
            S += 2.0 * inside
            P += moment
            if j == i:
                continue
            gap = (i + j) * (A + S) - 2.0 * (B + P)
            b = order[j + 1] if j + 1 < k else -1
            length = (_link(D, a, e) - _link(D, a, order[i])
                      + _link(D, order[i], b) - _link(D, e, b))
            delta = a_gap * gap + a_len * length
            if delta < best:
                best = delta
                best_j = j
        if best_j < 0:
            continue
        _reverse(order, i, best_j)
        # only the stretch's left weights change
        for q in range(i, best_j + 1):
            s = order[q]
            acc = 0.0
            for r in range(q):
                acc += W[s, order[r]]
            LW[s] = acc
        n_rev += 1
    return n_rev


@jit()
def nearest_by_products(G, sq_rows, sq_cols, skip, n_smallest, out, best):
    """Per row r, the columns j (j != skip[r]) with the ``n_smallest`` smallest
    squared distances ``sq_rows[r] + sq_cols[j] - 2 G[r, j]``, nearest first
    (ties: the lower index first).

    in: G (m, n) float64 or float32 dot products (widened to float64);
    sq_rows (m,), sq_cols (n,) squared norms; skip (m,) a column to leave
    out per row (-1: none); 1 <= n_smallest <= n - 1. out: out (m,
    n_smallest) intp. scratch: best (n_smallest,) float64 (overwritten: the
    distances of a row's list).
    """
    m, n = G.shape
    for r in range(m):
        size = 0
        base = sq_rows[r]
        worst = 0.0  # best[n_smallest - 1] once the list is full (a local: no reload)
        for j in range(n):
            if j == skip[r]:
                continue
            v = base + sq_cols[j] - 2.0 * G[r, j]
            if size == n_smallest and not v < worst:
                continue
            # insertion into the sorted list (strict <: earlier index wins ties)
            p = size if size < n_smallest else n_smallest - 1
            while p > 0 and v < best[p - 1]:
                if p < n_smallest:
                    best[p] = best[p - 1]
                    out[r, p] = out[r, p - 1]
                p -= 1
            best[p] = v
            out[r, p] = j
            if size < n_smallest:
                size += 1
            worst = best[n_smallest - 1]
