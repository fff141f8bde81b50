"""Root pytest configuration: doctest collection of optional modules, and no
compile helper in a test session.

``sksfvq/torch.py`` raises ImportError when torch is not installed (by
design, naming the extra); its doctests are then not collected, nor those of
the private modules it re-exports (``sksfvq/_torch_*.py``), nor those of the
``sksfvq/_dask*.py`` modules without dask.
"""

import importlib.util
import os

# no compile helper (sksfvq._compile_helper) in a test session (the tests and
# the doctests) and the processes its tests start: a background compiler
# would compete with the tests for the cores; tests/test_compile_helper.py
# turns it on where it is the subject
os.environ["SKSFVQ_COMPILE_HELPER"] = "0"


def _installed(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


collect_ignore = [] if _installed("torch") else ["sksfvq/torch.py"]
collect_ignore_glob = [] if _installed("torch") else ["sksfvq/_torch_*.py"]
if not _installed("dask"):  # the sksfvq/_dask*.py modules are imported only for dask inputs
    collect_ignore_glob.append("sksfvq/_dask*.py")
