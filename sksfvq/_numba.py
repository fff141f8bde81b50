"""What every Numba kernel module shares: the decorator, the thread count, the first-use notice.

Nothing here computes. :func:`jit` compiles with the on-disk cache (or
without, when numba cannot write one), :class:`kernel_threads` sets and
restores numba's thread count, and listeners on numba's compile events
print one line to stderr when a first call of this package compiles for
more than a second and pause Python's cyclic garbage collector while it
compiles. Every dispatcher of :func:`jit` shares its compiles with the
compile helper when one runs (:mod:`._compile_helper`).
"""

import builtins
import gc
import sys
import threading
import types
import warnings

import numba
import numpy as np
from numba.core import event

from . import _compile_helper
from ._layout import BLOCK

#: numba's JIT is off (``NUMBA_DISABLE_JIT=1``): the kernels run as Python
DISABLE_JIT = bool(numba.config.DISABLE_JIT)

#: seconds of compiling after which the notice is printed
NOTICE_AFTER = 1.0
NOTICE = "sksfvq: compiling kernels, first use only (cached on disk afterwards)"


def jit(parallel=False, contract=False, inline=False):
    """``numba.njit(cache=True, nogil=True)`` that never breaks the import.

    When numba cannot write (or find) a cache directory, ``cache=True`` raises
    at decoration time; the function is then compiled without caching.
    ``contract=True`` allows fusing ``a * b + c`` into one multiply-add (the
    only fast-math flag used: it rounds once instead of twice and never
    reorders sums). ``inline=True`` inlines the function into its callers at
    numba's level (no call, no refcounted views); a caller's cache entry does
    not notice later edits of an inlined function (see ``docs/dev/kernels.rst``).
    """

    def decorate(func):
        options = dict(nogil=True, parallel=parallel)
        if contract:
            options["fastmath"] = {"contract"}
        if inline:
            options["inline"] = "always"
        try:
            dispatcher = numba.njit(cache=True, **options)(func)
        except Exception as exc:  # pragma: no cover - depends on the filesystem
            warnings.warn(
                f"numba cannot cache {func.__name__} ({exc}); compiling without cache",
                RuntimeWarning,
                stacklevel=2,
            )
            return numba.njit(cache=False, **options)(func)
        if DISABLE_JIT or inline:  # no compiles to share
            return dispatcher
        return _compile_helper.watch(dispatcher)

    return decorate


class kernel_threads:
    """Context manager: run numba kernels with ``n_jobs`` threads, then restore.

    ``None`` keeps the current setting; negative values count back from the
    number of cores (-1 = all), as in joblib.
    """

    def __init__(self, n_jobs):
        self.n_jobs = n_jobs

    def __enter__(self):
        self._saved = numba.get_num_threads()
        if self.n_jobs is not None:
            limit = numba.config.NUMBA_NUM_THREADS
            n = self.n_jobs if self.n_jobs > 0 else limit + 1 + self.n_jobs
            numba.set_num_threads(int(min(max(n, 1), limit)))
        return self

    def __exit__(self, *exc):
        numba.set_num_threads(self._saved)
        return False


def readonly(a):
    """``a`` as a read-only view (no copy): what every kernel gets for the arrays it only reads.

    numba compiles one specialization per writeable flag of an argument, and
    data often arrives read-only (``np.load(..., mmap_mode="r")``, joblib's
    memory-mapped inputs in parallel searches, ``np.frombuffer``): passing
    every input array read-only keeps one specialization (and one cache
    entry) for both.
    """
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def _blocks_driver(X, a, s, *outs):
    """Template of :func:`parallel_over_blocks` (``rows_kernel`` is bound there)."""
    n = X.shape[0]
    slots = s.rows.shape[0]
    nb = (n + BLOCK - 1) // BLOCK
    count = 0
    for t in numba.prange(slots):
        for b in range(t, nb, slots):
            count += rows_kernel(X, b * BLOCK, min(n, b * BLOCK + BLOCK), a, s,  # noqa: F821
                                 np.int64(t), *outs)
    return count


def parallel_over_blocks(rows_kernel, name):
    """The parallel driver of a job's rows kernel, compiled with ``prange``.

    ``rows_kernel(X, start, stop, a, s, t, *outs)`` computes rows ``start ..
    stop`` with scratch slot ``t`` and returns a count; the driver
    ``name(X, a, s, *outs)`` gives block b of BLOCK rows to slot b mod slots
    (one slot per thread: ``s.rows.shape[0]`` of them) and returns the summed
    count. Rows are computed independently, so results do not depend on the
    number of threads.

    The driver is a copy of :func:`_blocks_driver` whose globals bind
    ``rows_kernel`` (a closure would not do: numba keys a closure's cache entry
    on its pickled cells, and a dispatcher pickles differently in every
    process, so the entry would never be found again). It is compiled and
    cached as if written in the rows kernel's module, under its own name: its
    cache entry follows edits of that file, and two drivers never share one.
    """
    home = getattr(rows_kernel, "py_func", rows_kernel)  # a plain function without the JIT
    scope = {"__builtins__": builtins, "numba": numba, "np": np, "BLOCK": BLOCK,
             "rows_kernel": rows_kernel}
    code = _blocks_driver.__code__.replace(co_filename=home.__code__.co_filename, co_name=name)
    driver = types.FunctionType(code, scope, name)
    driver.__qualname__ = name
    driver.__module__ = home.__module__
    driver.__doc__ = f"Parallel driver of {home.__name__} (see _numba.parallel_over_blocks)."
    return jit(parallel=True)(driver)


#: held while a parallel kernel runs (see :func:`parallel_slot`)
_PARALLEL = threading.Lock()


class parallel_slot:
    """Context: whether this call may launch a parallel kernel (``as`` gives a
    bool); one at a time per process, the others take the serial kernel,
    whose results are the same.

    numba's workqueue threading layer (taken where neither TBB nor OpenMP is
    installed) aborts the process when two threads launch parallel kernels at
    once ("Concurrent access has been detected"): a grid search with
    joblib's threading backend, or a thread pool calling ``predict``.
    """

    def __init__(self, wanted):
        self.wanted = wanted
        self.held = False

    def __enter__(self):
        self.held = bool(self.wanted) and _PARALLEL.acquire(blocking=False)
        return self.held

    def __exit__(self, *exc):
        if self.held:
            _PARALLEL.release()
        return False


def serial(work):
    """Whether a call of ``work`` multiply-adds should skip the parallel launch.

    Launching the parallel region can cost more than small work (milliseconds
    on a busy machine); results are the same either way.
    """
    return numba.get_num_threads() == 1 or work < (1 << 24)


def _ours(ev):
    """Whether a compile event is for a function of this package.

    A listener sees every compile in the process: a function of the user's
    may have no module at all (``__module__`` None, e.g. made by ``exec``),
    and nothing here may raise into their compile.
    """
    func = getattr(ev.data.get("dispatcher"), "py_func", None)
    module = getattr(func, "__module__", None)
    return isinstance(module, str) and module.startswith(__package__ + ".")


class _OutermostCompile(event.Listener):
    """Calls :meth:`begin` when the outermost compile of one of this package's
    functions starts and :meth:`finish` when it ends (a kernel's compile holds
    those of its callees; numba's compiler lock runs compiles one at a time)."""

    def __init__(self):
        self._depth = 0

    def on_start(self, ev):
        if _ours(ev):
            self._depth += 1
            if self._depth == 1:
                self.begin()

    def on_end(self, ev):
        if self._depth and _ours(ev):
            self._depth -= 1
            if self._depth == 0:
                self.finish()


class _PauseGC(_OutermostCompile):
    """Pause Python's cyclic garbage collector while this package's kernels compile.

    Compiling builds and drops many small objects (numba's IR, types, llvmlite
    values), which trigger full collections that find little: a cold start
    (every kernel of a fit, transform and predict in both float types)
    compiles in about 0.8 s less without them. The collector is enabled
    again when the outermost compile ends (only if it was enabled when it
    started), and collects what the compile left then.
    """

    def __init__(self):
        super().__init__()
        self._resume = False

    def begin(self):
        self._resume = gc.isenabled()
        if self._resume:
            gc.disable()

    def finish(self):
        if self._resume:
            self._resume = False
            gc.enable()


class _CompileNotice(_OutermostCompile):
    """Print :data:`NOTICE` once when compiling this package's kernels lasts long.

    A timer starts with the outermost compile of one of this package's
    functions and is cancelled when it ends; if it fires first, the line is
    printed (once per process) while the compile goes on.
    """

    def __init__(self):
        super().__init__()
        self._timer = None
        self.printed = False

    def begin(self):
        if not self.printed:
            self._timer = threading.Timer(NOTICE_AFTER, self._print)
            self._timer.daemon = True
            self._timer.start()

    def finish(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _print(self):
        if not self.printed:
            self.printed = True
            print(NOTICE, file=sys.stderr, flush=True)


compile_notice = _CompileNotice()
event.register("numba:compile", compile_notice)
pause_gc = _PauseGC()
event.register("numba:compile", pause_gc)
