"""Test-suite guard: in CI, an optional dependency that is missing is a failure.

Locally a missing extra (torch, dask, ...) skips its tests. With ``CI`` set,
as ``.ci/run`` does after installing every extra the tests use, a skip for a
module that could not be imported means the install step is broken, and the
run fails instead of passing silently.
"""

import os

_missing = []


def pytest_runtest_logreport(report):
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if "could not import" in reason:
            _missing.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("CI") and _missing and exitstatus == 0:
        print("\nCI: tests were skipped for a missing optional dependency:")
        for line in _missing:
            print("  " + line)
        session.exitstatus = 1
