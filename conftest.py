"""Root pytest configuration: doctest collection of optional modules.

``sksfvq/torch.py`` raises ImportError when torch is not installed (by
design, naming the extra); its doctests are then not collected, nor those of
the private modules it re-exports (``sksfvq/_torch_*.py``), nor those of the
``sksfvq/_dask*.py`` modules without dask.
"""

import importlib.util


def _installed(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


collect_ignore = [] if _installed("torch") else ["sksfvq/torch.py"]
collect_ignore_glob = [] if _installed("torch") else ["sksfvq/_torch_*.py"]
if not _installed("dask"):  # the sksfvq/_dask*.py modules are imported only for dask inputs
    collect_ignore_glob.append("sksfvq/_dask*.py")
