#!/usr/bin/env bash
# Build the documentation with warnings as errors; exits non-zero on failure.
# Needs the docs extra: pip install -e ".[docs]"  (installed here if missing).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python}"
if ! "$PY" -c "import sphinx, numpydoc, sphinx_gallery, pydata_sphinx_theme, myst_parser" 2>/dev/null; then
  "$PY" -m pip install -q -e "..[docs]"
fi
export MPLBACKEND=Agg
rm -rf _build generated auto_examples _generated
"$PY" -m sphinx -W --keep-going -b html -j 1 . _build/html "$@"
echo "docs built in $(pwd)/_build/html"
