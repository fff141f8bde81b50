"""The compile helper: a second process that compiles the kernels on a cold cache.

What the tests hold it to: its jobs compile every specialization that a fit,
transform and predict in float64 and float32 need (nothing is left to
compile after them); a first process and its helper share the compiles
(the claims: the first process leaves the helper's first jobs to it) and
leave every one in the cache (the save locks); it starts only where the
cache is cold and it may, and stops with its first process; and a cold
process with a helper fits exactly what one without it fits.
"""

import inspect
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from sksfvq import _compile_helper as helper

def _fits():
    """Fit, transform and predict in float64, then float32 (the cold-start case of
    benchmarks/bench_speed.py): a digest of the results per dtype."""
    import numpy as np

    from sksfvq import SpaceFillingVQ

    X = np.random.default_rng(0).standard_normal((10_000, 16))
    out = {}
    for dt in ("float64", "float32"):
        Xd = X.astype(dt)
        est = SpaceFillingVQ(n_clusters=64, random_state=0).fit(Xd)
        out[dt] = [est.cluster_centers_.tolist(), est.transform(Xd)[:50, 0].tolist(),
                   est.predict(Xd).tolist()]
    return out


#: :func:`_fits` in a process of its own, printing what compiled and the digest
_WORKLOAD = inspect.getsource(_fits) + r"""
import json, sys
import numpy as np
from numba.core import event
from sksfvq import SpaceFillingVQ
from sksfvq import _compile_helper

compiled = []

class Record(event.Listener):
    def on_start(self, ev):
        f = ev.data["dispatcher"].py_func
        if f.__module__.startswith("sksfvq."):
            compiled.append(f"{f.__module__}.{f.__qualname__}{ev.data['args']}")

    def on_end(self, ev):
        pass

event.register("numba:compile", Record())
out = {"helper": _compile_helper._state.role}
out.update(_fits())
X = np.random.default_rng(0).standard_normal((10_000, 16))
if "--parallel" in sys.argv:  # enough rows for the parallel drivers
    Xp = np.random.default_rng(1).standard_normal((20_000, 16))
    for dt in ("float64", "float32"):
        est = SpaceFillingVQ(n_clusters=64, random_state=0).fit(X.astype(dt))
        est.transform(Xp.astype(dt))
        est.predict(Xp.astype(dt))
out["compiled"] = compiled
print(json.dumps(out))
"""


def _python(code, env, *args, argv=()):
    res = subprocess.run([sys.executable, *args] + (["-c", code] if code else []) + list(argv),
                         env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    return res


def _env(cache, **more):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    env.pop("SKSFVQ_COMPILE_HELPER", None)  # the test session's setting
    env.update(more)
    return env


@pytest.mark.slow
def test_the_jobs_compile_what_a_fit_transform_and_predict_need(tmp_path):
    claims = tmp_path / "claims"
    claims.mkdir()
    env = _env(tmp_path / "cache", **{helper.CLAIMS_ENV: str(claims)})
    _python(None, env, "-m", "sksfvq._compile_helper")
    assert not claims.exists()  # the helper removes the claims when it ends
    # it wrote the marker: a new process starts no helper, and it compiles
    # nothing for a fit, transform and predict in float64 and float32, also
    # of enough rows for the parallel drivers
    res = _python(_WORKLOAD, _env(tmp_path / "cache"), argv=["--parallel"])
    out = json.loads(res.stdout.splitlines()[-1])
    assert out["helper"] is None
    assert out["compiled"] == []


@pytest.mark.slow
def test_a_cold_process_with_a_helper_fits_what_one_alone_fits(tmp_path):
    tmp = tmp_path / "tmp"  # where the claims directory goes
    tmp.mkdir()
    shared = json.loads(_python(_WORKLOAD, _env(tmp_path / "cache", TMPDIR=str(tmp)))
                        .stdout.splitlines()[-1])
    assert shared["helper"] == "first"
    alone = _fits()  # in this process; json keeps every float exactly
    for dt in ("float64", "float32"):
        assert shared[dt] == alone[dt]
    # the first process left the helper's first jobs (the path and the
    # arrangement: it starts them about a second before the first process
    # could need them) to the helper
    assert not any(name.startswith(("sksfvq._order_kernels.improve_path",
                                    "sksfvq._order_kernels.arrange_"))
                   for name in shared["compiled"])
    assert os.listdir(tmp) == []  # the claims are gone with the first process
    # every specialization either process compiled is in the cache (their
    # saves to one function's index are locked): a warm run compiles nothing
    warm = json.loads(_python(_WORKLOAD, _env(tmp_path / "cache", SKSFVQ_COMPILE_HELPER="0"))
                      .stdout.splitlines()[-1])
    assert warm["compiled"] == []


_STARTED = ("import os, sksfvq; from sksfvq import _compile_helper as h; "
            "print(h._state.role, h._state.proc is not None, "
            "os.environ.get(h.STARTED_ENV) == str(os.getpid()))")


@pytest.mark.slow
def test_the_helper_starts_only_on_a_cold_cache_and_where_allowed(tmp_path):
    cache = tmp_path / "cache"
    # started, and the processes this one starts will know
    assert _python(_STARTED, _env(cache)).stdout.split() == ["first", "True", "True"]
    # the marker of this cache (same sources, interpreter, CPU and settings)
    marker = _python("from sksfvq import _compile_helper as h; print(h.marker_path())",
                     _env(cache)).stdout.strip()
    assert os.path.dirname(marker) == str(cache)
    # a process started by one whose helper fills this very cache
    by_parent = {helper.STARTED_ENV: "12345", helper.STARTED_FOR_ENV: marker}
    for off in ({"SKSFVQ_COMPILE_HELPER": "0"}, {"SKSFVQ_COMPILE_HELPER": "off"},
                {"NUMBA_DISABLE_JIT": "1"}, {helper.CLAIMS_ENV: str(tmp_path)}, by_parent):
        assert _python(_STARTED, dict(_env(cache), **off)).stdout.split()[:2] == \
            ["None", "False"]
    # ... but on another cache (a fresh NUMBA_CACHE_DIR) it starts its own
    assert _python(_STARTED, dict(_env(tmp_path / "other"), **by_parent)).stdout.split() == \
        ["first", "True", "True"]
    open(marker, "w").close()
    assert _python(_STARTED, _env(cache)).stdout.split()[:2] == ["None", "False"]
    # a cache directory that cannot be made: no helper
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert _python(_STARTED, _env(blocker / "sub")).stdout.split()[:2] == ["None", "False"]


def test_marker_follows_the_settings_that_change_the_compiled_code(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    first = helper.marker_path()
    assert first == helper.marker_path() and first.startswith(str(tmp_path))
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    assert helper.marker_path() != first
    monkeypatch.delenv("NUMBA_CPU_NAME")
    monkeypatch.setenv("SKSFVQ_KERNELS", "portable")
    assert helper.marker_path() != first


class _Proc:
    """A stand-in for the helper's Popen: running until ``exit_after`` seconds."""

    def __init__(self, exit_after=None):
        self.until = None if exit_after is None else time.monotonic() + exit_after

    def poll(self):
        return None if self.until is None or time.monotonic() < self.until else 0


@pytest.fixture
def role(monkeypatch, tmp_path):
    """Set this process's part in the claims (in ``tmp_path``) for a test."""
    def set_role(name, proc=None):
        monkeypatch.setattr(helper._state, "role", name)
        monkeypatch.setattr(helper._state, "claims", str(tmp_path))
        monkeypatch.setattr(helper._state, "proc", proc)
        monkeypatch.setattr(helper._state, "pid", os.getpid())
        monkeypatch.setattr(helper._state, "mine", set())
    return set_role


def test_a_free_specialization_is_claimed_once(role, tmp_path):
    role("first", _Proc())
    assert helper._claim("k1") is True
    assert (tmp_path / "k1").exists() and "k1" in helper._state.mine
    assert helper._claim("k1") is False  # a second thread of the same process: no wait


def test_the_first_process_waits_for_what_the_helper_compiles(role, tmp_path, monkeypatch):
    role("first", _Proc())
    (tmp_path / "k2").touch()  # the helper's claim
    threading.Timer(0.2, lambda: (tmp_path / "k2.done").touch()).start()
    t = time.monotonic()
    assert helper._claim("k2") is False
    assert 0.15 < time.monotonic() - t < 5
    # a helper that exits without finishing is not waited for any longer
    role("first", _Proc(exit_after=0.2))
    (tmp_path / "k3").touch()
    t = time.monotonic()
    assert helper._claim("k3") is False and 0.15 < time.monotonic() - t < 5
    # nor beyond the limit
    monkeypatch.setattr(helper, "WAIT_LIMIT", 0.1)
    role("first", _Proc())
    (tmp_path / "k4").touch()
    assert helper._claim("k4") is False


def test_the_helper_gives_way_to_the_first_process(role, tmp_path):
    role("helper")
    (tmp_path / "k5").touch()  # the first process compiles it
    with pytest.raises(helper.Taken):
        helper._claim("k5")
    (tmp_path / "k5.done").touch()  # compiled: the helper loads it
    assert helper._claim("k5") is False
    assert helper._claim("k6") is True


def test_claims_end_with_the_shared_directory(role, tmp_path):
    role("helper")
    os.rmdir(tmp_path)
    with pytest.raises(helper.Taken):
        helper._claim("k7")
    role("first", _Proc())
    assert helper._claim("k7") is True and helper._state.role is None


def test_watch_claims_each_new_specialization_and_marks_it_done(role, tmp_path):
    import numba

    role("first", _Proc())
    calls = []

    @numba.njit
    def plus(a):
        return a + 1

    original = plus.compile
    plus.compile = lambda sig: (calls.append(sig), original(sig))[1]
    helper.watch(plus)
    assert plus(1) == 2 and plus(2) == 3 and plus(1.5) == 2.5
    assert len(calls) == 2  # int64, float64: one compile each
    assert len(list(tmp_path.glob("*.done"))) == len(helper._state.mine) == 2
    # without a helper the wrapper only passes the call on
    role(None)
    assert plus(np.float32(1)) == 2 and len(calls) == 3
    assert len(list(tmp_path.glob("*.done"))) == 2


@pytest.mark.slow
def test_the_helper_stops_when_its_first_process_dies(tmp_path):
    # the first process ends without its atexit (as when killed)
    code = ("import os, sksfvq; from sksfvq import _compile_helper as h; "
            "print(h._state.proc.pid, h._state.claims, flush=True); os._exit(0)")
    pid, claims = _python(code, _env(tmp_path / "cache")).stdout.split()
    deadline = time.monotonic() + 60
    while os.path.exists(claims) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(claims)  # it noticed, and cleaned up
    deadline = time.monotonic() + 10
    while _alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(int(pid))


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_saves_to_one_index_wait_for_the_lock(tmp_path):
    lock = str(tmp_path / "f.nbi.lock")
    assert helper._acquire(lock) is True and os.path.exists(lock)
    threading.Timer(0.2, os.unlink, (lock,)).start()
    t = time.monotonic()
    assert helper._acquire(lock) is True  # once the other save is done
    assert time.monotonic() - t > 0.15
    # a lock left by a process that died while saving is taken over
    old = time.time() - helper.STALE_LOCK - 1
    os.utime(lock, (old, old))
    assert helper._acquire(lock, limit=1.0) is True
    # no lock without a directory: the save goes on unlocked
    assert helper._acquire(str(tmp_path / "missing" / "f.lock")) is False


def test_a_cached_dispatcher_saves_under_the_lock(tmp_path, monkeypatch):
    import numba

    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))  # read per function
    seen = []

    def twice(a):
        return 2 * a

    disp = numba.njit(cache=True)(twice)
    index = disp._cache._cache_file._index_path
    real = disp._cache.save_overload
    disp._cache.save_overload = lambda sig, data: (seen.append(os.path.exists(index + ".lock")),
                                                   real(sig, data))[1]
    helper._lock_saves(disp)
    assert disp(3) == 6 and disp(1.5) == 3.0
    assert seen == [True, True] and not os.path.exists(index + ".lock")
