"""A second process that compiles the kernels while the first one starts.

With an empty numba cache, the first fit, transform and predict of a process
compile about fifteen kernel specializations, one after another, on one
core. ``import sksfvq`` therefore starts a helper process where this
package's kernels were never compiled into the cache in use (no marker file,
see :func:`marker_path`): the helper compiles the kernels a fit, transform
and predict need, in float64 and float32, in about the reverse of the order
in which a fit needs them, while the first process imports scikit-learn and
compiles from the other end; they meet in the middle.

Each specialization is compiled by one process only. Before compiling one,
a process claims it by creating a file named after it in a directory the two
share (``O_EXCL``: one of them wins). The process that holds the claim
compiles it, numba writes it to the cache, and a ``.done`` file follows; the
other process then loads it from the cache. The first process waits for a
specialization the helper is compiling; the helper never waits: when the
first process holds a claim it needs, it drops that job and goes on. Saves
of cache entries are locked per function (:func:`_lock_saves`: numba's
index is read, changed and written back unlocked). The first process stops
the helper when it exits; the helper stops by itself when the first process
is gone, removes the claims when it ends, and writes the marker when its
jobs for every fit are done.

``SKSFVQ_COMPILE_HELPER=0`` turns the helper off. It does not start under
``NUMBA_DISABLE_JIT``, where ``sys.executable`` is not a Python interpreter,
where the marker cannot be written, or in a process started by one that
started a helper for the same cache (environment variables mark them:
pools, dask workers); a process forked from the one that started it
compiles alone. Nothing here imports numba or scikit-learn, so ``import
sksfvq`` stays light.
"""

import atexit
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

#: set to 0 (or off, false, no) to never start the helper
ENV = "SKSFVQ_COMPILE_HELPER"
#: in the helper's environment: the claims directory it shares with the first process
CLAIMS_ENV = "_SKSFVQ_COMPILE_CLAIMS"
#: set by a process that started a helper, for the processes it starts: its pid,
#: and the marker of the cache its helper fills (a process on that cache starts
#: no helper of its own; one on another cache, e.g. a fresh NUMBA_CACHE_DIR, may)
STARTED_ENV = "_SKSFVQ_COMPILE_HELPER_STARTED"
STARTED_FOR_ENV = "_SKSFVQ_COMPILE_HELPER_MARKER"
#: seconds after which a lock on a cache index left by a dead process is taken over
STALE_LOCK = 30.0
#: seconds the first process waits at most for one specialization of the helper's
WAIT_LIMIT = 120.0
#: seconds between two looks at a specialization the helper is compiling
POLL = 0.005

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class _State:
    """This process's part: ``role`` None (no helper), "first" or "helper"."""

    def __init__(self):
        self.role = None
        self.claims = None  # the shared directory
        self.proc = None  # the helper (in the first process)
        self.pid = None  # the process that set this state (a fork has another pid)
        self.mine = set()  # claims this process holds


_state = _State()
#: guards ``_state.mine`` (threads of one process may compile at once)
_MINE = threading.Lock()


class Taken(Exception):
    """The first process holds a claim that a job of the helper needs."""


def _disabled():
    return os.environ.get(ENV, "1").strip().lower() in ("0", "off", "false", "no")


def _interpreter():
    """Whether ``sys.executable`` is a Python interpreter (an application that
    embeds Python may name its own binary there, which must not be started)."""
    name = os.path.basename(sys.executable or "").lower()
    return name.startswith(("python", "pypy"))


def _fingerprint():
    """What numba's cache entries of this package depend on, as one string:
    the sources (path, size, modification time), numba's installation, the
    interpreter, the CPU and the settings that change the compiled code."""
    parts = [sys.version, sys.executable, platform.machine()]
    for name in sorted(os.listdir(_PACKAGE_DIR)):
        if name.endswith(".py"):
            st = os.stat(os.path.join(_PACKAGE_DIR, name))
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    from importlib.util import find_spec

    for mod in ("numba", "llvmlite"):
        spec = find_spec(mod)
        origin = getattr(spec, "origin", None) if spec else None
        parts.append(f"{origin}:{os.stat(origin).st_mtime_ns}" if origin else mod)
    try:
        with open("/proc/cpuinfo") as f:  # the first processor's block
            for line in f:
                if not line.strip():
                    break
                if line.startswith(("model name", "flags")):
                    parts.append(line)
    except OSError:
        parts.append(platform.processor())
    for var in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NUMBA_OPT", "SKSFVQ_KERNELS"):
        parts.append(f"{var}={os.environ.get(var, '')}")
    return "\n".join(parts)


def marker_path():
    """The file whose presence says this package's kernels are in the cache in
    use: under ``NUMBA_CACHE_DIR`` when it is set, else in the package's
    ``__pycache__`` (where numba writes its cache then), named after
    :func:`_fingerprint`."""
    root = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(_PACKAGE_DIR, "__pycache__")
    digest = hashlib.sha1(_fingerprint().encode()).hexdigest()[:20]
    return os.path.join(root, f"sksfvq-kernels-{digest}.warm")


def _writable(path):
    """Whether the directory of ``path`` exists (it is made if need be) and can be written."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def start():
    """Start the helper if the kernels are not in the cache (see the module doc).

    Returns whether a helper was started. Never raises: anything that goes
    wrong leaves the process compiling alone, as without a helper.
    """
    if (_state.role is not None or _disabled() or CLAIMS_ENV in os.environ
            or os.environ.get("NUMBA_DISABLE_JIT", "0").strip() not in ("", "0")
            or not _interpreter()):
        return False
    try:
        marker = marker_path()
        if (os.path.exists(marker) or not _writable(marker)
                or (STARTED_ENV in os.environ and os.environ.get(STARTED_FOR_ENV) == marker)):
            return False
        claims = tempfile.mkdtemp(prefix="sksfvq-compile-")
    except OSError:
        return False
    # the helper imports this very copy of the package: its folder goes first
    # on sys.path (``python -m`` would put the working directory first)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            f"from {__package__} import _compile_helper as h; sys.exit(h.main())")
    env = dict(os.environ, **{CLAIMS_ENV: claims, STARTED_ENV: str(os.getpid()),
                              STARTED_FOR_ENV: marker, ENV: "0",
                              "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    # its own session (POSIX) or process group (Windows): a Ctrl-C meant for
    # the first process does not stop the helper half-way
    detach = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt"
              else {"start_new_session": True})
    try:
        proc = subprocess.Popen([sys.executable, "-c", code, os.path.dirname(_PACKAGE_DIR)],
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, close_fds=True, **detach)
    except (OSError, ValueError):
        shutil.rmtree(claims, ignore_errors=True)
        return False
    _state.role, _state.claims, _state.proc, _state.pid = "first", claims, proc, os.getpid()
    # processes this one starts (multiprocessing, loky, dask workers) inherit
    # the mark and start no helper of their own on this cache: this one
    # compiles for them
    os.environ[STARTED_ENV] = str(os.getpid())
    os.environ[STARTED_FOR_ENV] = marker
    atexit.register(stop)
    # reap the helper when it ends (no zombie until this process exits)
    threading.Thread(target=proc.wait, name="sksfvq-compile-helper", daemon=True).start()
    return True


def stop():
    """Stop the helper (if it still runs) and remove the claims directory."""
    proc, claims = _state.proc, _state.claims
    if _state.role != "first" or _state.pid != os.getpid():
        return
    _state.role = _state.claims = None
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck helper
            proc.kill()
    if claims:
        shutil.rmtree(claims, ignore_errors=True)


def _key(dispatcher, args):
    """A file name for one specialization, the same in both processes."""
    func = dispatcher.py_func
    text = f"{func.__module__}.{func.__qualname__}{tuple(args)}"
    return hashlib.sha1(text.encode()).hexdigest()[:24]


def _active():
    """Whether this process shares compiles with a helper now."""
    if _state.role is None or _state.pid != os.getpid():
        return False
    if _state.role == "first" and _state.proc.poll() is not None:
        _state.role = None  # the helper has finished (or died): compile alone
        return False
    return True


def _claim(key):
    """Claim one specialization: True if this process compiles it.

    One the other process has compiled (its ``.done`` file) is False. In the
    first process, one the helper is compiling is waited for (the ``.done``
    file, the helper's exit or :data:`WAIT_LIMIT`); then False. In the
    helper, one the first process is compiling raises :class:`Taken`.
    """
    path = os.path.join(_state.claims, key)
    with _MINE:
        if key in _state.mine:
            return False  # another thread of this process compiles it (numba's lock orders them)
        _state.mine.add(key)
    try:
        _create(path)
        return True
    except FileExistsError:
        with _MINE:
            _state.mine.discard(key)
    except OSError:  # the directory is gone: the other process has ended
        if _state.role == "helper":
            raise Taken(key) from None
        _state.role = None
        return True
    if os.path.exists(path + ".done"):
        return False  # compiled: numba loads it from the cache
    if _state.role == "helper":
        raise Taken(key)
    deadline = time.monotonic() + WAIT_LIMIT
    while (not os.path.exists(path + ".done") and _state.proc.poll() is None
           and time.monotonic() < deadline):
        time.sleep(POLL)
    return False


def _create(path):
    """Make the empty file ``path``; FileExistsError if another process (or
    thread) made it first: the claims and the save locks."""
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))


def _done(key):
    try:
        os.close(os.open(os.path.join(_state.claims, key + ".done"),
                         os.O_CREAT | os.O_WRONLY))
    except OSError:
        pass


def watch(dispatcher):
    """Route ``dispatcher``'s compiles through the claims (a no-op without a helper).

    numba compiles a specialization through ``Dispatcher.compile`` whether it
    is called from Python or typed inside another kernel; the wrapper claims
    the specialization first (or waits for the helper's), then numba loads it
    from the cache or compiles it.
    """
    original = dispatcher.compile
    _lock_saves(dispatcher)

    def compile(sig):
        if not _active():
            return original(sig)
        from numba.core import sigutils

        args, _ = sigutils.normalize_signature(sig)
        if tuple(args) in dispatcher.overloads:
            return original(sig)
        key = _key(dispatcher, args)
        mine = _claim(key)
        try:
            return original(sig)
        finally:
            if mine:
                _done(key)

    dispatcher.compile = compile
    return dispatcher


def _lock_saves(dispatcher):
    """Save ``dispatcher``'s cache entries under a lock file beside its index.

    numba saves an entry by reading the function's index, adding the entry
    (whose data file is named by the count of entries) and writing the index
    back, unlocked: two processes that save two specializations of one
    function at once (the helper's float32 projection and the first process's
    float64 one, say) lose one of them, or name both data files alike. The
    lock (``O_EXCL``; one held longer than :data:`STALE_LOCK` seconds by a
    process that died is taken over) makes those saves one after the other,
    in every process of this package. Without numba's cache object (an
    uncached dispatcher, another numba) nothing changes.
    """
    cache = getattr(dispatcher, "_cache", None)
    save = getattr(cache, "save_overload", None)
    index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
    if save is None or not isinstance(index, str):
        return

    def save_overload(sig, data):
        lock = index + ".lock"
        held = _acquire(lock)
        try:
            return save(sig, data)
        finally:
            if held:
                try:
                    os.unlink(lock)
                except OSError:
                    pass

    cache.save_overload = save_overload


def _acquire(path, limit=60.0):
    """Create the lock file ``path``; False if it cannot be made (no such
    directory yet, not writable) or is not released within ``limit`` s."""
    deadline = time.monotonic() + limit
    while True:
        try:
            _create(path)
            return True
        except FileExistsError:
            try:
                if time.time() - os.stat(path).st_mtime > STALE_LOCK:
                    os.unlink(path)  # its process died while saving
                    continue
            except OSError:
                continue  # released meanwhile
        except OSError:
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)


# ------------------------------------------------------------------ the helper
def _jobs():
    """(name, call) of every job, in the helper's order: first a small kernel
    that a fit meets early (the Lanczos step of the cell axes, the same for
    every dtype), which the helper has compiled by the time the first
    process, still importing scikit-learn, needs it; then the others, which
    the first process needs in about the reverse order (a float64 fit:
    nearest corners, cell axes, corner sums, the neighbour graph, the path,
    the arrangement, the smoothing; then transform; then float32); then the
    parallel drivers, which only calls on more rows need (a transform of
    them first: a fit meets its nearest-corner driver before the helper
    could have it), then :data:`EXTRA_JOBS`."""
    import numpy as np

    from . import _chain, _engine, _init, _order, _order_kernels, _train_kernels

    rng = np.random.default_rng(0)
    k, d = 64, 16  # the vector kernels (see _layout.direct)
    X64 = rng.standard_normal((256, d))
    C64 = rng.standard_normal((k, d))
    w = np.ones(X64.shape[0])
    labels = np.arange(X64.shape[0], dtype=np.intp) % k
    D = _order.distance_matrix(C64)
    W = _order.connect(np.zeros((k, k)), D)

    def arrange():
        rows, left = np.empty(k), np.empty(k)
        order = np.arange(k, dtype=np.intp)
        _order_kernels.arrange_reverse(W, D, 1.0, 1.0, order, _order.ORDER_WINDOW, rows, left)
        _order_kernels.arrange_insert(W, D, 1.0, 1.0, order, _order.ORDER_INSERT_WINDOW, rows,
                                      left, np.empty(k, dtype=np.intp))

    def cell_axes(X):
        _init.cell_axes(X, w, labels, X[:k].astype(np.float64), np.eye(k, d), 2)

    def lanczos():
        Q, Z = np.zeros((2, 2, d)), np.ones((2, d))
        _train_kernels.lanczos_step(Q, np.zeros((2, 2, 2)), Z, -1, np.empty(2, dtype=np.bool_))

    jobs = [("lanczos step", lanczos),
            ("path", lambda: _order.shorten_order(C64)),
            ("smoothing", lambda: _chain.solve_corners(np.ones(k), C64, 1.0, C64, 1e-9)),
            ("arrangement", arrange),
            ("project float32", lambda: _engine.project(X64.astype(np.float32),
                                                        C64.astype(np.float32))),
            ("corner sums float32",
             lambda: _chain.corner_totals(X64.astype(np.float32), w, labels, k)),
            ("cell axes float32", lambda: cell_axes(X64.astype(np.float32))),
            ("project float64", lambda: _engine.project(X64, C64)),
            ("neighbours", lambda: _order.knn_rows(X64, 10, products_dtype=np.float32)),
            ("corner sums float64", lambda: _chain.corner_totals(X64, w, labels, k)),
            ("nearest float32", lambda: _engine.nearest_corner(X64.astype(np.float32),
                                                               C64.astype(np.float32))),
            ("cell axes float64", lambda: cell_axes(X64)),
            ("nearest float64", lambda: _engine.nearest_corner(X64, C64))]
    # larger data: the parallel drivers (enough rows for them; see _numba.serial)
    n_par = (1 << 24) // (k * (d + 8)) + 1
    Xp = rng.standard_normal((n_par, d))
    for dt in (np.float32, np.float64):  # large data: often float32 embeddings
        jobs.append((f"project parallel {np.dtype(dt).name}",
                     lambda dt=dt: _engine.project(Xp.astype(dt), C64.astype(dt))))
    for dt in (np.float32, np.float64):
        jobs.append((f"nearest parallel {np.dtype(dt).name}",
                     lambda dt=dt: _engine.nearest_corner(Xp.astype(dt), C64.astype(dt))))
    for name in EXTRA_JOBS:  # few features: the direct nearest-corner kernel
        dt = np.float32 if name.endswith("float32") else np.float64
        jobs.append((name, lambda dt=dt: _engine.nearest_corner(X64[:, :8].astype(dt),
                                                                C64[:, :8].astype(dt))))
    return jobs


#: jobs after the marker is written: kernels that only some data needs
EXTRA_JOBS = ("direct nearest float64", "direct nearest float32")


def main():
    """The helper: run the jobs, and write the marker before the extra ones.

    A job ends early when the first process holds a claim it needs
    (:class:`Taken`, or numba's error around it when the claim is a kernel
    that the job's kernel calls); any other failure (a kernel that does not
    compile here) is the first process's to meet and report. The marker is
    written either way: starting the helper again would not do better. A
    helper stopped before (its first process exited) writes none.
    """
    _state.role, _state.claims, _state.pid = "helper", os.environ[CLAIMS_ENV], os.getpid()
    # the first process (it may be gone before this line: its pid, not getppid's)
    parent = int(os.environ.get(STARTED_ENV) or os.getppid())
    try:
        jobs = _jobs()
        for number, (_, job) in enumerate(jobs):
            # the first process has exited: by its atexit (the directory is
            # gone) or killed (this process has another parent now, POSIX)
            if not os.path.isdir(_state.claims) or (os.name != "nt" and os.getppid() != parent):
                return 1
            if number == len(jobs) - len(EXTRA_JOBS):
                _write_marker()
            try:
                job()
            except Exception:
                pass
        return 0
    finally:
        # the first process compiles alone once this one has exited, and
        # may have died without removing the directory
        shutil.rmtree(_state.claims, ignore_errors=True)


def _write_marker():
    try:
        with open(marker_path(), "w") as f:
            f.write("the kernels of sksfvq's fits, transforms and predicts are in this cache\n")
    except OSError:
        pass


if __name__ == "__main__":  # by hand: python -m sksfvq._compile_helper (with CLAIMS_ENV)
    # this file is ``__main__`` then; the kernels' wrappers read the state of
    # the package's module
    from sksfvq import _compile_helper

    sys.exit(_compile_helper.main())
