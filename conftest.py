"""Root pytest configuration: doctest collection of optional modules.

``sksfvq/torch.py`` raises ImportError when torch is not installed (by
design, naming the extra); its doctests are then not collected.
"""

import importlib.util


def _installed(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


collect_ignore = [] if _installed("torch") else ["sksfvq/torch.py"]
