"""The engine around the kernels: back-end choice, fallback, threads, caching, the notice."""

import os
import subprocess
import sys
import warnings

import numba
import numpy as np
import pytest

from sksfvq import _engine, _nearest, _numba
from sksfvq._engine import kernel_threads, nearest_corner, project


@pytest.fixture
def fresh_choice(monkeypatch):
    """The engine's back-end choice made again, and restored after the test."""
    saved = dict(_engine._CHOICE)
    _engine._CHOICE.clear()
    yield monkeypatch
    _engine._CHOICE.clear()
    _engine._CHOICE.update(saved)


@pytest.mark.parametrize("mode", ["portable", "simd"])
def test_environment_forces_a_back_end(fresh_choice, mode):
    fresh_choice.setenv("SKSFVQ_KERNELS", mode)
    assert _engine.backend() == ("portable" if _numba.DISABLE_JIT else mode)


@pytest.mark.parametrize("features,name", [({"sse2", "avx"}, "portable"),
                                           ({"avx2"}, "portable"), ({"avx2", "fma"}, "simd"),
                                           ({"avx512f"}, "simd")])
def test_auto_takes_the_ir_only_where_it_was_measured_faster(fresh_choice, features, name):
    fresh_choice.setenv("SKSFVQ_KERNELS", "auto")
    fresh_choice.setattr(_engine, "compile_target_features", lambda: features)
    assert _engine.backend() == ("portable" if _numba.DISABLE_JIT else name)


def test_unknown_back_end_is_an_error(fresh_choice):
    fresh_choice.setenv("SKSFVQ_KERNELS", "gpu")
    with pytest.raises(ValueError, match="auto, simd or portable"):
        _engine.backend()


def test_ir_that_fails_to_compile_falls_back_once(fresh_choice):
    from numba.core.errors import LoweringError

    fresh_choice.setenv("SKSFVQ_KERNELS", "auto")
    _engine._CHOICE.update(mode="auto", name="simd")
    real = _nearest.nearest_corner

    def failing(X, C, backend, kernel=None, **options):
        if backend == "simd":
            raise LoweringError("no such intrinsic")
        return real(X, C, backend, kernel, **options)

    fresh_choice.setattr(_nearest, "nearest_corner", failing)
    X = np.random.default_rng(0).normal(size=(50, 20))
    with pytest.warns(RuntimeWarning, match="portable kernels instead"):
        labels, _ = nearest_corner(X, X[:30])
    np.testing.assert_array_equal(labels[:30], np.arange(30))
    assert _engine.backend() == "portable"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nearest_corner(X, X[:30])  # no second warning


def test_engine_chunks_rows(monkeypatch):
    rng = np.random.default_rng(1)
    X, C = rng.normal(size=(1000, 7)), rng.normal(size=(30, 7))
    whole = nearest_corner(X, C), project(X, C), _engine.positions(X, C)
    monkeypatch.setattr(_engine, "_CHUNK_ROWS", 77)
    parts = nearest_corner(X, C), project(X, C), _engine.positions(X, C)
    for a, b in zip(whole[0] + whole[1] + (whole[2],), parts[0] + parts[1] + (parts[2],)):
        np.testing.assert_array_equal(a, b)
    # labels only (predict): the same labels, through one chunk's distances
    labels, none = nearest_corner(X, C, distances=False)
    assert none is None
    np.testing.assert_array_equal(labels, whole[0][0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thread_counts_give_bit_identical_results(dtype):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60_000, 7)).astype(dtype)  # large enough for the parallel kernels
    C = rng.normal(size=(40, 7)).astype(dtype)
    results = []
    for threads in (1, 2):  # the parallel kernels, with 1 thread and with 2
        with kernel_threads(threads):
            results.append(project(X, C) + nearest_corner(X, C))
    for u, v in zip(*results):
        np.testing.assert_array_equal(u, v)


def test_kernel_threads_restores_setting():
    before = numba.get_num_threads()
    with kernel_threads(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with kernel_threads(1):
            raise RuntimeError("boom")
    assert numba.get_num_threads() == before


def test_read_only_inputs_accepted():
    rng = np.random.default_rng(3)
    X, C = rng.normal(size=(100, 3)), rng.normal(size=(5, 3))
    X.setflags(write=False)
    C.setflags(write=False)
    project(X, C)
    nearest_corner(X, C)


def _compiled_signatures():
    """Every compiled specialization of this package's kernels, per kernel."""
    from numba.core.dispatcher import Dispatcher

    found = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("sksfvq."):
            for attr, value in list(vars(module).items()):
                if isinstance(value, Dispatcher) and value.py_func.__module__ == name:
                    found[f"{name}.{attr}"] = set(value.signatures)
    return found


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_read_only_data_runs_the_kernels_compiled_for_writeable_data(tmp_path, dtype):
    """numba compiles one specialization per writeable flag: read-only rows,
    weights and positions (a memory map, joblib's memory-mapped inputs) take
    the one writeable data compiled, and give the same results."""
    from sksfvq import SpaceFillingVQ, metrics

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 16)).astype(dtype)
    w = rng.random(3000) + 0.5
    results = []
    for read_only in (False, True):
        Xs, ws = X, w
        if read_only:
            np.save(tmp_path / "X.npy", X)
            Xs = np.load(tmp_path / "X.npy", mmap_mode="r")
            ws = w.copy()
            ws.setflags(write=False)
            before = _compiled_signatures()
        est = SpaceFillingVQ(n_clusters=24, random_state=0).fit(Xs, sample_weight=ws)
        T = est.transform(Xs)
        if read_only:
            T.setflags(write=False)
        results.append((est.cluster_centers_, est.predict(Xs), T, est.inverse_transform(T),
                        est.score(Xs, sample_weight=ws), metrics.mse_curve(Xs, est.cluster_centers_),
                        est.partial_fit(Xs[:500], sample_weight=ws[:500]).cluster_centers_))
        if read_only:
            after = _compiled_signatures()
            grown = {k: after[k] - before.get(k, set()) for k in after}
            assert not {k: v for k, v in grown.items() if v}
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_jit_falls_back_when_caching_fails(monkeypatch):
    real = numba.njit

    def failing_njit(*args, **kwargs):
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return real(*args, **kwargs)

    monkeypatch.setattr(_numba.numba, "njit", failing_njit)
    with pytest.warns(RuntimeWarning, match="cannot cache"):
        f = _numba.jit()(lambda a: a + 1)
    assert f(1) == 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_fit_runs_the_nearest_kernel_its_predict_uses(monkeypatch, dtype):
    """The stages with fewer corners choose the kernel by the final count:
    one nearest-corner kernel to compile per fit (16 features, K=64: the
    products kernel; stages of 2..16 corners would choose the direct one)."""
    from sksfvq import SpaceFillingVQ

    chosen = []
    real = _nearest.path

    def spy(k, d, backend):
        chosen.append(real(k, d, backend))
        return chosen[-1]

    monkeypatch.setattr(_nearest, "path", spy)
    X = np.random.default_rng(0).normal(size=(3000, 16)).astype(dtype)
    est = SpaceFillingVQ(n_clusters=64, random_state=0).fit(X)
    assert set(chosen) == {real(64, 16, _engine.backend())} != {"direct"}
    chosen.clear()
    est.predict(X)
    assert set(chosen) == {real(64, 16, _engine.backend())}


class _Event:
    def __init__(self, module):
        func = type("F", (), {"__module__": module})
        self.data = {"dispatcher": type("D", (), {"py_func": func})}


def test_compile_notice_is_printed_once_for_a_long_compile(monkeypatch, capsys):
    import time

    notice = _numba._CompileNotice()
    monkeypatch.setattr(_numba, "NOTICE_AFTER", 0.05)
    notice.on_start(_Event("numpy"))  # not ours: ignored
    notice.on_start(_Event("sksfvq._nearest"))
    notice.on_end(_Event("sksfvq._nearest"))  # quick: nothing printed
    assert capsys.readouterr().err == ""
    notice.on_start(_Event("sksfvq._nearest"))
    time.sleep(0.3)
    notice.on_end(_Event("sksfvq._nearest"))
    notice.on_start(_Event("sksfvq._project"))
    time.sleep(0.2)
    notice.on_end(_Event("sksfvq._project"))
    assert capsys.readouterr().err.count("compiling kernels, first use only") == 1


def test_compile_notice_ignores_functions_without_a_module():
    # the listener sees every compile in the process: a user's function made
    # by exec has __module__ None, and compiling it must not raise
    import numba

    notice = _numba._CompileNotice()
    notice.on_start(_Event(None))
    notice.on_end(_Event(None))
    assert notice._depth == 0
    namespace = {}
    exec("def plus_one(a):\n    return a + 1.0\n", namespace)
    assert namespace["plus_one"].__module__ is None
    assert numba.njit(namespace["plus_one"])(1.0) == 2.0


def test_gc_is_paused_while_our_kernels_compile_and_restored_after():
    import gc

    pause = _numba._PauseGC()
    assert gc.isenabled()
    try:
        pause.on_start(_Event("numpy"))  # not ours: ignored
        assert gc.isenabled()
        pause.on_start(_Event("sksfvq._nearest"))
        assert not gc.isenabled()
        pause.on_start(_Event("sksfvq._simd"))  # nested
        pause.on_end(_Event("sksfvq._simd"))
        assert not gc.isenabled()  # the outer compile goes on
        pause.on_end(_Event("numpy"))
        assert not gc.isenabled()
        pause.on_end(_Event("sksfvq._nearest"))
        assert gc.isenabled()
        # a collector the caller had switched off stays off
        gc.disable()
        pause.on_start(_Event("sksfvq._nearest"))
        pause.on_end(_Event("sksfvq._nearest"))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_gc_is_enabled_again_after_a_compile_that_fails():
    import gc

    from numba.core import event

    # a function of this package's (by its module name) that fails to type
    namespace = {"__name__": "sksfvq._probe"}
    exec("def needs_an_array(a):\n    return a[0] + 1.0\n", namespace)
    func = numba.njit(namespace["needs_an_array"])
    seen = []

    class Probe(event.Listener):
        def on_start(self, ev):
            seen.append(gc.isenabled())

        def on_end(self, ev):
            pass

    probe = Probe()
    event.register("numba:compile", probe)
    try:
        assert gc.isenabled()
        with pytest.raises(numba.core.errors.TypingError):
            func("not an array")
    finally:
        event.unregister("numba:compile", probe)
    assert seen and seen[0] is False  # paused while it compiled
    assert gc.isenabled() and _numba.pause_gc._depth == 0


def _run(code, **env):
    res = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **env),
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return res


@pytest.mark.slow
def test_import_and_kernels_without_writable_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = ("import numpy as np, sksfvq; from sksfvq._engine import project;"
            "p, s, d = project(np.array([[1.0, 1.0]]), np.array([[0.0, 0.0], [2.0, 0.0]]));"
            "assert abs(p[0] - 0.5) < 1e-12 and abs(d[0] - 1) < 1e-12; print('ok')")
    res = _run(code, NUMBA_CACHE_DIR=str(blocker / "sub"), HOME=str(tmp_path))
    assert "ok" in res.stdout


@pytest.mark.slow
def test_disabled_jit_runs_the_portable_back_end():
    code = """
import numpy as np
from sksfvq import _engine
from sksfvq._engine import nearest_corner, project
rng = np.random.default_rng(0)
C = rng.normal(size=(150, 20))
X = rng.normal(size=(21, 20))
X[4] = C[3]
X[5, 0] = np.nan
for dt in (np.float32, np.float64):
    l, d = nearest_corner(X.astype(dt), C.astype(dt))
    D = ((X[:, None] - C[None]) ** 2).sum(-1)
    ok = np.arange(21) != 5
    assert (l[ok] == D[ok].argmin(1)).all() and l[4] == 3 and l[5] == 0
    assert np.allclose(d[ok], D[ok].min(1), rtol=1e-5)
    p, s, e = project(X.astype(dt), C[:3].astype(dt))
    assert p.dtype == dt and s[5] == 0 and np.isinf(e[5])
assert _engine.backend() == "portable"
print('ok')
"""
    res = _run(code, NUMBA_DISABLE_JIT="1", SKSFVQ_KERNELS="simd")
    assert "ok" in res.stdout


@pytest.mark.slow
def test_threads_calling_parallel_kernels_at_once_under_workqueue():
    """numba's workqueue layer (no TBB or OpenMP) aborts the process when two
    threads launch parallel kernels at once; one launch at a time, the other
    calls take the serial kernels, with the same results."""
    code = (
        "import numpy as np, numba\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from sksfvq import SpaceFillingVQ\n"
        "X = np.random.default_rng(0).normal(size=(20000, 32))\n"
        "est = SpaceFillingVQ(64, random_state=0).fit(X[:3000])\n"
        "want = est.transform(X), est.predict(X)\n"
        "assert numba.threading_layer() == 'workqueue'\n"
        "with ThreadPoolExecutor(2) as pool:\n"
        "    jobs = [pool.submit(f, X) for f in (est.transform, est.predict) * 4]\n"
        "    got = [j.result() for j in jobs]\n"
        "for i, g in enumerate(got):\n"
        "    np.testing.assert_array_equal(g, want[i % 2])\n"
        "print('ok')\n")
    # the session's numba cache: the kernels need not be compiled again for
    # another threading layer (it is chosen when a parallel kernel launches)
    res = _run(code, NUMBA_THREADING_LAYER="workqueue")
    assert res.stdout.strip().endswith("ok")
