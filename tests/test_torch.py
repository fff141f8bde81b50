"""The optional PyTorch layer: projection, conversion, growth, training.

Everything runs on CPU. Tests that need torch get it through
``pytest.importorskip``; the import-guard test runs without it.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sksfvq import SpaceFillingVQ, metrics

pytestmark = pytest.mark.slow  # the optional PyTorch stack
from sksfvq._init import double_published
from sksfvq.datasets import load_standard


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def st(torch):
    """The module under test (imported only when torch is there)."""
    import sksfvq.torch as st

    return st


@pytest.fixture
def one_thread(torch):
    """Tiny minibatch steps are much faster on one intra-op thread; restore after."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _curve_reference(X, C):
    """Brute-force float64 projection onto every segment (positions, distances)."""
    X = np.asarray(X, dtype=np.float64)
    C = np.asarray(C, dtype=np.float64)
    best_d = np.full(X.shape[0], np.inf)
    best_t = np.zeros(X.shape[0])
    for j in range(C.shape[0] - 1):
        dj = C[j + 1] - C[j]
        dd = dj @ dj
        lam = np.zeros(X.shape[0]) if dd == 0 else np.clip((X - C[j]) @ dj / dd, 0, 1)
        d2 = np.sum((X - C[j] - lam[:, None] * dj) ** 2, axis=1)
        better = d2 < best_d
        best_d[better] = d2[better]
        best_t[better] = j + lam[better]
    return best_t, best_d


# --------------------------------------------------------------- import guard


def test_import_without_torch_names_the_extra():
    code = textwrap.dedent("""
        import sys

        class NoTorch:                        # any `import torch` now fails
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {name!r}")

        sys.meta_path.insert(0, NoTorch())
        import sksfvq                         # the package itself needs no torch
        import sksfvq.metrics, sksfvq.datasets
        assert "sksfvq.torch" not in sys.modules
        try:
            import sksfvq.torch
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("no ImportError")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert "sksfvq[torch]" in res.stdout


# ----------------------------------------------------------------- projection


@pytest.mark.parametrize("dtype, atol", [(np.float32, 2e-5), (np.float64, 1e-10)])
def test_eval_projection_matches_estimator_kernel(torch, st, dtype, atol):
    rng = np.random.default_rng(0)
    C = np.cumsum(rng.normal(size=(16, 5)), axis=0).astype(dtype)
    C[7] = C[6]  # a zero-length segment
    X = (rng.normal(size=(3000, 5)) * 3 + C.mean(axis=0)).astype(dtype)
    est = SpaceFillingVQ(n_clusters=16)
    est.cluster_centers_ = C
    est.n_features_in_ = 5

    pos_t, seg_t, d2_t = st.project_to_curve(torch.from_numpy(X), torch.from_numpy(C))
    from sksfvq._engine import project

    pos_k, seg_k, d2_k = project(X, C)
    assert pos_t.dtype == torch.from_numpy(X).dtype
    assert_array_equal(seg_t.numpy(), seg_k)
    assert_allclose(pos_t.numpy(), pos_k, rtol=0, atol=atol)
    assert_allclose(d2_t.numpy(), d2_k, rtol=10 * atol, atol=atol)

    t_ref, d_ref = _curve_reference(X, C)
    assert_allclose(d2_t.numpy(), d_ref, rtol=10 * atol, atol=atol)
    assert_allclose(pos_t.numpy(), t_ref, rtol=0, atol=100 * atol)

    layer = st.SpaceFillingVQLayer.from_estimator(est, backend="torch").eval()
    out = layer(torch.from_numpy(X))
    assert_allclose(out.positions.numpy(), est.transform(X)[:, 0], rtol=0, atol=atol)
    assert_allclose(out.output.detach().numpy(),
                    est.inverse_transform(est.transform(X)), rtol=0, atol=100 * atol)

    # on CPU the default backend is the kernel itself: bit-identical
    layer = st.SpaceFillingVQLayer.from_estimator(est).eval()
    out = layer(torch.from_numpy(X))
    assert_array_equal(out.positions.numpy(), est.transform(X)[:, 0])
    assert_array_equal(out.output.detach().numpy(), est.inverse_transform(est.transform(X)))
    assert_array_equal(st.nearest_corner(torch.from_numpy(X), torch.from_numpy(C))[0].numpy(),
                       est.predict(X))


def test_numba_backend_keeps_torch_thread_count(torch, st, one_thread):
    # launching Numba's OpenMP pool resets the process-wide OpenMP thread count
    layer = st.SpaceFillingVQLayer(8, 3, n_jobs=-1).eval()
    layer(torch.randn(600, 3))
    layer.usage(torch.randn(600, 3))
    assert torch.get_num_threads() == 1


def test_backend_choice(torch, st):
    X, C = torch.randn(50, 3), torch.randn(5, 3)
    for backend in ("torch", "numba"):
        pos, seg, d2 = st.project_to_curve(X, C, backend=backend)
        assert pos.dtype == torch.float32 and seg.dtype == torch.int64
    with pytest.raises(ValueError, match="backend must be"):
        st.project_to_curve(X, C, backend="cuda")
    with pytest.raises(ValueError, match="needs CPU float32 or float64"):
        st.project_to_curve(X.half(), C.half(), backend="numba")
    pos, _, _ = st.project_to_curve(X.bfloat16(), C.bfloat16())  # auto -> torch
    assert pos.dtype == torch.float32  # bfloat16 holds no integer above 256 exactly


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_a_corner_far_from_the_others_on_either_backend(torch, st, backend):
    """One corner 1e6 away moves the corners' mean far off the rest: the
    re-checks read the rows and corners as given, so the nearest corner and
    the distance to the curve are float64's (the torch back end's re-check of
    the centred copies gave other corners, 1e-2 apart, in float32)."""
    rng = np.random.default_rng(5)
    C = np.sort(rng.normal(size=(16, 3)), axis=0)
    C[-1] = 1e6
    X = rng.normal(size=(2000, 3))
    Xt, Ct = torch.tensor(X, dtype=torch.float32), torch.tensor(C, dtype=torch.float32)
    X32, C32 = Xt.double().numpy(), Ct.double().numpy()
    D = ((X32[:, None] - C32[None]) ** 2).sum(-1)
    labels, dist2 = st.nearest_corner(Xt, Ct, backend=backend)
    assert_array_equal(labels.numpy(), D.argmin(1))
    assert_allclose(dist2.double().numpy(), D.min(1), rtol=1e-6)
    _, _, d2 = st.project_to_curve(Xt, Ct, backend=backend)
    import _reference as ref

    assert_allclose(d2.double().numpy(), ref.project(X32, C32)[1], rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_projection_of_corners_and_ties(torch, st, backend):
    # a closed square walked twice around: many exact ties, lowest index wins
    C = torch.tensor([[0.0, 0], [1, 0], [1, 1], [0, 1], [0, 0], [1, 0]], dtype=torch.float64)
    X = C.clone()

    def project_to_curve(X, C):
        return st.project_to_curve(X, C, backend=backend)

    pos, seg, d2 = project_to_curve(X, C)
    assert_array_equal(d2.numpy(), 0)
    # corner 4 == corner 0 and corner 5 == corner 1: the first occurrence is reported
    assert_array_equal(pos.numpy(), [0, 1, 2, 3, 0, 1])
    # the far end of segment 0 is reported as corner 1 (also reached by segment 4)
    pos, seg, _ = project_to_curve(torch.tensor([[2.0, -0.5]], dtype=torch.float64), C)
    assert float(pos[0]) == 1.0 and int(seg[0]) == 1
    # ... but the far end of the last segment stays there: t = k - 1
    pos, seg, _ = project_to_curve(torch.tensor([[2.0, 0.0]], dtype=torch.float64), C[:2])
    assert float(pos[0]) == 1.0 and int(seg[0]) == 0
    pos, _, _ = project_to_curve(torch.tensor([[0.5, 0.25]], dtype=torch.float64), C[:2])
    assert float(pos[0]) == 0.5


def test_single_corner(torch, st):
    layer = st.SpaceFillingVQLayer(1, 3).eval()
    x = torch.randn(4, 3)
    out = layer(x)
    assert_array_equal(out.positions.numpy(), 0)
    assert_allclose(out.output.detach().numpy(), layer.corners.detach().expand(4, 3).numpy())


def test_leading_dimensions_and_validation(torch, st):
    layer = st.SpaceFillingVQLayer(8, 4)
    out = layer(torch.randn(2, 7, 4))
    assert out.output.shape == (2, 7, 4) and out.positions.shape == (2, 7)
    assert out.segments.dtype == torch.int64
    layer.eval()
    out = layer(torch.randn(2, 7, 4))
    assert out.output.shape == (2, 7, 4) and out.segments.shape == (2, 7)
    with pytest.raises(ValueError, match="last dimension 4"):
        layer(torch.randn(3, 5))
    with pytest.raises(ValueError, match="output must be"):
        st.SpaceFillingVQLayer(8, 4, output="ste")
    with pytest.raises(ValueError, match="n_clusters must be"):
        st.SpaceFillingVQLayer(0, 4)


# ----------------------------------------------------------------- conversion


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_estimator_layer_estimator(torch, st, dtype):
    X, _, _ = load_standard("gauss2", n_samples=2000)
    X = X.astype(dtype)
    est = SpaceFillingVQ(n_clusters=12).fit(X)
    layer = st.SpaceFillingVQLayer.from_estimator(est)
    assert layer.n_corners == layer.n_clusters == 12
    assert layer.corners.dtype == torch.from_numpy(X).dtype
    assert_array_equal(layer.corners.detach().numpy(), est.cluster_centers_)

    est2 = layer.to_estimator(X)
    assert est2.cluster_centers_.dtype == dtype
    assert_array_equal(est2.cluster_centers_, est.cluster_centers_)
    assert_array_equal(est2.transform(X), est.transform(X))
    assert_array_equal(est2.predict(X), est.predict(X))
    assert_array_equal(est2.labels_, est.labels_)
    assert est2.inertia_ == pytest.approx(est.inertia_, rel=1e-5)
    assert est2.n_dead_ == est.n_dead_ and est2.n_iter_ == 0 and est2.history_ == []

    layer2 = st.SpaceFillingVQLayer.from_estimator(est2).eval()
    a, b = layer.eval()(torch.from_numpy(X)), layer2(torch.from_numpy(X))
    assert_array_equal(a.positions.numpy(), b.positions.numpy())
    assert_array_equal(a.output.detach().numpy(), b.output.detach().numpy())
    # identical projections across the two: positions and points
    assert_array_equal(a.positions.numpy(), est.transform(X)[:, 0])
    assert_array_equal(a.output.detach().numpy(), est.inverse_transform(est.transform(X)))


def test_round_trip_layer_estimator_layer_keeps_order(torch, st):
    torch.manual_seed(0)
    layer = st.SpaceFillingVQLayer(10, 3, start_clusters=None, dtype=torch.float32)
    with torch.no_grad():  # a curve whose canonical orientation is reversed
        layer.corners.copy_(torch.linspace(3, -3, 10)[:, None] * torch.tensor([1.0, 0.5, 0.2]))
    est = layer.to_estimator()
    assert est.cluster_centers_.dtype == np.float32
    assert_array_equal(est.cluster_centers_, layer.corners.detach().numpy())  # no mirror
    assert np.isnan(est.inertia_) and est.labels_.shape == (0,)

    X = torch.randn(500, 3) * 2
    out = layer.eval()(X)
    pos_layer = out.positions.numpy()
    assert_array_equal(est.transform(X.numpy())[:, 0], pos_layer)
    assert_array_equal(est.inverse_transform(pos_layer[:, None]), out.output.detach().numpy())
    assert pos_layer[int(X[:, 0].argmax())] < 4.5  # large first coordinate -> low index

    back = st.SpaceFillingVQLayer.from_estimator(est, output="nsvq")
    assert back.output == "nsvq"
    assert_array_equal(back.corners.detach().numpy(), layer.corners.detach().numpy())
    assert_array_equal(back.eval()(X).positions.numpy(), pos_layer)


def test_from_estimator_needs_a_fitted_estimator(torch, st):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        st.SpaceFillingVQLayer.from_estimator(SpaceFillingVQ(n_clusters=4))
    est = SpaceFillingVQ(n_clusters=4).fit(np.random.default_rng(0).normal(size=(50, 2)))
    with pytest.raises(ValueError, match="smaller than"):
        st.SpaceFillingVQLayer.from_estimator(est, n_clusters=2)
    grown = st.SpaceFillingVQLayer.from_estimator(est, n_clusters=8).grow()
    assert grown.n_corners == 8


# --------------------------------------------------------------------- growth


def test_double_corners_is_the_published_doubling(torch, st):
    rng = np.random.default_rng(1)
    for k in (2, 3, 4, 7):
        C = rng.normal(size=(k, 3))
        got = st.double_corners(torch.from_numpy(C), 0.01).numpy()
        assert_allclose(got, double_published(C, 0.01), rtol=0, atol=1e-12)


def test_grow_schedule_keeps_the_curve(torch, st):
    torch.manual_seed(0)
    layer = st.SpaceFillingVQLayer(24, 2, dtype=torch.float64)
    assert layer.n_corners == 4
    seen = [layer.n_corners]
    while layer.n_corners < layer.n_clusters:
        old = layer.corners.detach().clone()
        layer.grow()
        seen.append(layer.n_corners)
        # every old corner is still on the new curve, and vice versa
        _, _, d2 = st.project_to_curve(old, layer.corners.detach())
        assert float(d2.max()) < 1e-20
        _, _, d2 = st.project_to_curve(layer.corners.detach(), old)
        assert float(d2.max()) < 1e-20
    assert seen == [4, 8, 16, 24]
    assert layer.grow().n_corners == 24  # no-op at the target
    assert isinstance(layer.corners, torch.nn.Parameter) and layer.corners.requires_grad


def test_state_dict_restores_any_phase(torch, st):
    torch.manual_seed(0)
    layer = st.SpaceFillingVQLayer(16, 3).grow().grow()
    assert layer.n_corners == 16
    fresh = st.SpaceFillingVQLayer(16, 3)
    assert fresh.n_corners == 4
    fresh.load_state_dict(layer.state_dict())
    assert_array_equal(fresh.corners.detach().numpy(), layer.corners.detach().numpy())
    with pytest.raises(ValueError, match="more than n_clusters=8"):
        st.SpaceFillingVQLayer(8, 3).load_state_dict(layer.state_dict())


def test_half_precision_layer_converts_to_float32(torch, st):
    layer = st.SpaceFillingVQLayer(6, 2, start_clusters=None, dtype=torch.bfloat16)
    est = layer.to_estimator()
    assert est.cluster_centers_.dtype == np.float32
    assert_array_equal(est.cluster_centers_, layer.corners.detach().float().numpy())


def test_chunking_does_not_change_the_projection(torch, st):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(1000, 4, generator=g)
    C = torch.randn(9, 4, generator=g)
    whole = st.project_to_curve(X, C, backend="torch")
    parts = st.project_to_curve(X, C, chunk_size=7, backend="torch")
    for a, b in zip(whole, parts):
        assert_array_equal(a.numpy(), b.numpy())
    assert_array_equal(st.nearest_corner(X, C, backend="torch")[0].numpy(),
                       st.nearest_corner(X, C, chunk_size=33, backend="torch")[0].numpy())


def test_init_from_data_is_the_published_start(torch, st):
    from sksfvq._init import norm_groups_init

    X = np.random.default_rng(2).normal(size=(400, 3))
    layer = st.SpaceFillingVQLayer(16, 3, dtype=torch.float64)
    layer.init_from_data(torch.from_numpy(X))
    assert_allclose(layer.corners.detach().numpy(), norm_groups_init(X, np.ones(400), 4))


# ------------------------------------------------------------------ training


def test_dithered_forward_is_a_point_on_the_curve(torch, st):
    torch.manual_seed(3)
    layer = st.SpaceFillingVQLayer(8, 3, start_clusters=None, dtype=torch.float64)
    x = torch.randn(200, 3, dtype=torch.float64)
    out = layer(x)
    pts = st.points_on_curve(out.positions, layer.corners.detach())
    assert_allclose(out.output.detach().numpy(), pts.numpy(), atol=1e-12)
    assert_array_equal(out.segments.numpy(), np.floor(out.positions.numpy()).clip(0, 6))
    # the dithered output depends on the corners only, not on the input
    x.requires_grad_(True)
    out = layer(x).output
    assert torch.autograd.grad(out.sum(), x, allow_unused=True)[0] is None
    ((layer(x).output - x) ** 2).mean().backward()
    assert float(layer.corners.grad.abs().sum()) > 0


def test_nsvq_output_has_the_quantization_error_norm(torch, st):
    layer = st.SpaceFillingVQLayer(8, 4, start_clusters=None, dtype=torch.float64)
    x = torch.randn(300, 4, dtype=torch.float64)
    torch.manual_seed(5)
    q = layer(x).output.detach()
    layer.output = "nsvq"
    torch.manual_seed(5)  # same dither draw
    xr = x.clone().requires_grad_(True)
    out = layer(xr)
    assert_allclose((out.output - x).norm(dim=1).detach().numpy(),
                    (x - q).norm(dim=1).numpy(), rtol=1e-12)
    out.output.sum().backward()
    assert torch.isfinite(xr.grad).all() and torch.isfinite(layer.corners.grad).all()
    assert float(layer.corners.grad.abs().sum()) > 0


def test_nsvq_gradient_is_finite_when_input_sits_on_its_codeword(torch, st):
    layer = st.SpaceFillingVQLayer(1, 3, output="nsvq")
    x = layer.corners.detach().clone().requires_grad_(True)  # x == q exactly
    out = layer(x).output
    assert_allclose(out.detach().numpy(), x.detach().numpy(), atol=1e-15)
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(layer.corners.grad).all()
    assert_array_equal(layer.corners.grad.numpy(), 0)  # zero residual, zero pull
    # the published placement, (|r| / |v| + eps) v, gives NaN here
    r = (x - layer.corners)
    bad = r.square().sum(dim=1).sqrt() * 1.0
    bad.sum().backward()
    assert torch.isnan(layer.corners.grad).any()


def test_usage_and_perplexity(torch, st):
    assert st.perplexity(torch.tensor([0, 1, 2, 3]), 4) == pytest.approx(4.0)
    assert st.perplexity(torch.tensor([2, 2, 2]), 4) == pytest.approx(1.0)
    X, _, _ = load_standard("gauss2", n_samples=3000)
    torch.manual_seed(0)
    layer = st.SpaceFillingVQLayer(16, 2, start_clusters=None, dtype=torch.float64)
    rec = layer.usage(torch.from_numpy(X))
    C = layer.corners.detach().numpy()
    assert rec["usage"] == pytest.approx(metrics.usage(X, C), rel=1e-12)
    assert rec["dead"] == metrics.dead(X, C)
    assert rec["mse_corner"] == pytest.approx(metrics.mse_corner(X, C), rel=1e-12)
    assert rec["perplexity"] == pytest.approx(16 * rec["usage"])


def test_standalone_training_reaches_the_estimator_on_gauss16(torch, st, one_thread):
    """Smaller than the full setting (65,536 rows, batch 64, lr 1e-3, 5 epochs per
    phase, see the report): 16,384 rows, batch 256, lr 4e-3, 10 epochs per phase."""
    X, _, K = load_standard("gauss16", n_samples=16384)
    X = X.astype(np.float32)
    ref = metrics.mse_corner(X, SpaceFillingVQ(n_clusters=K).fit(X).cluster_centers_)
    torch.manual_seed(0)
    Xt = torch.from_numpy(X)
    layer = st.SpaceFillingVQLayer(K, 16).init_from_data(Xt)
    history = st.train_standalone(layer, Xt, batch_size=256, learning_rate=4e-3, n_epochs=10)
    assert [h["n_clusters"] for h in history] == [4, 8, 16, 32, 64]
    assert history[-1]["loss"] < history[0]["loss"]
    got = metrics.mse_corner(X, layer.corners.detach().numpy())
    assert got <= 1.05 * ref, (got, ref)
    # the converted estimator pays exactly the layer's corner error
    est = layer.to_estimator(X)
    assert est.inertia_ / X.size == pytest.approx(got, rel=1e-5)


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_tensor_functions_refuse_mismatched_shapes(torch, st, backend):
    # the Numba kernels index by these shapes unchecked: a wider C read and
    # wrote past the arrays (the process crashed)
    for f in (st.project_to_curve, st.nearest_corner):
        for X, C, match in [((4, 3), (5, 2), "3 features but C has 2"),
                            ((4, 3), (5, 4), "3 features but C has 4"),
                            ((4, 3), (0, 3), "at least one corner"),
                            ((4,), (5, 4), "2-D")]:
            with pytest.raises(ValueError, match=match):
                f(torch.randn(*X), torch.randn(*C), backend=backend)
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        st.points_on_curve(torch.tensor([-1.0, 10.0]), torch.randn(5, 2))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_eval_returns_the_nearest_point(torch, st, dtype):
    # positions j + lambda beyond 256 (bfloat16) or 2048 (float16) are not
    # representable in the corners' dtype: they are float32, and the output
    # comes from them unrounded
    k = 3000
    s = torch.linspace(0, 1, k, dtype=torch.float64)
    C = torch.stack([s, torch.sin(40 * s)], dim=1)
    layer = st.SpaceFillingVQLayer(k, 2, start_clusters=None, dtype=getattr(torch, dtype))
    with torch.no_grad():
        layer.corners.copy_(C)
    layer.eval()
    x = C[::7].to(layer.corners.dtype) + 1e-3
    out = layer(x)
    assert out.positions.dtype == torch.float32
    assert_array_equal(out.positions.floor().long().clamp(max=k - 2).numpy(),
                       out.segments.numpy())
    layer.train()
    out = layer(x)
    assert out.positions.dtype == torch.float32
    assert_array_equal(out.positions.floor().long().numpy(), out.segments.numpy())


def test_init_from_data_and_resized_load_keep_the_parameter(torch, st):
    torch.manual_seed(0)
    x = torch.randn(200, 3)
    layer = st.SpaceFillingVQLayer(16, 3)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    layer.init_from_data(x)  # the optimizer made before keeps training the corners
    assert any(p is layer.corners for g in opt.param_groups for p in g["params"])
    before = layer.corners.detach().clone()
    layer(x[:50]).output.pow(2).mean().backward()
    opt.step()
    assert not torch.equal(before, layer.corners.detach())

    grown = st.SpaceFillingVQLayer(16, 3).grow()  # 8 corners
    fresh = st.SpaceFillingVQLayer(16, 3)
    opt = torch.optim.Adam(fresh.parameters(), lr=0.1)
    fresh.load_state_dict(grown.state_dict())  # resume: model and optimizer, then the load
    assert fresh.n_corners == 8
    assert any(p is fresh.corners for g in opt.param_groups for p in g["params"])

    frozen = st.SpaceFillingVQLayer(16, 3).requires_grad_(False)
    frozen.init_from_data(x)
    assert not frozen.corners.requires_grad
    assert not frozen.grow().corners.requires_grad


def test_layer_inputs_checked_before_anything_changes(torch, st):
    layer = st.SpaceFillingVQLayer(8, 3)
    before = layer.corners.detach().clone()
    for call in (layer.usage, layer.init_from_data, layer.to_estimator):
        with pytest.raises(ValueError, match="last dimension 3"):
            call(torch.randn(30, 2))  # 60 values: reshaped to 20 rows before
        with pytest.raises(ValueError, match="NaN"):
            call(torch.tensor([[float("nan"), 0.0, 0.0]] * 10))
    with pytest.raises(ValueError, match="NaN"):
        layer(torch.tensor([[float("nan"), 0.0, 0.0]]))
    assert torch.equal(before, layer.corners.detach())
    with pytest.raises(TypeError, match="n_clusters"):
        st.SpaceFillingVQLayer(2.5, 3)
    with pytest.raises(ValueError, match="init_scale"):
        st.SpaceFillingVQLayer(4, 3, init_scale=float("nan"))
    with pytest.raises(ValueError, match="n_jobs"):
        st.SpaceFillingVQLayer(4, 3, n_jobs="x")
    with pytest.raises(ValueError, match="at least one row"):
        st.train_standalone(layer, torch.randn(0, 3))
    with pytest.raises(ValueError, match="batch_size"):
        st.train_standalone(layer, torch.randn(10, 3), batch_size=0)


def test_converted_estimator_streams_on(torch, st):
    X = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    layer = st.SpaceFillingVQLayer(8, 3, start_clusters=None)
    est = layer.to_estimator(X[:100])
    C0 = est.cluster_centers_.copy()
    est.partial_fit(X[100:])  # online k-means updates from the layer's corners
    assert est.cluster_centers_.shape == C0.shape and not np.array_equal(est.cluster_centers_, C0)
    # the rows given to to_estimator count as seen: the same update as from
    # an estimator that saw them itself
    ref = layer.to_estimator()
    ref.partial_fit(X[:100])
    ref.cluster_centers_ = C0.copy()
    ref.partial_fit(X[100:])
    assert_allclose(est.cluster_centers_, ref.cluster_centers_, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="n_features can only be 3"):
        st.SpaceFillingVQLayer.from_estimator(est, n_features=4)
