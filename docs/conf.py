"""Sphinx configuration of the sksfvq documentation."""

import glob
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # sksfvq and benchmarks.data from this checkout

import sksfvq  # noqa: E402

project = "sksfvq"
author = "the sksfvq developers"
copyright = "2026, the sksfvq developers"
release = version = sksfvq.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

# included Markdown results may start at any heading level
suppress_warnings = ["myst.header"]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated/*.inc", "phones/*", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5",
                    "examples/*"]
templates_path = []

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping = {}  # the build machine is offline: no inventories

html_theme = "pydata_sphinx_theme"
html_title = "sksfvq"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
}
html_static_path = []

warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "show_memory": False,
    "min_reported_time": 1,
}


def _write_generated():
    """Fragments that depend on which optional pages and results exist."""
    out = os.path.join(HERE, "_generated")
    os.makedirs(out, exist_ok=True)
    # pages other people write: in the toctree only when present
    extra = [name for name in ("scaling",) if os.path.exists(os.path.join(HERE, name + ".rst"))]
    with open(os.path.join(out, "extra_toctree.inc"), "w", encoding="utf-8") as fh:
        if extra:
            fh.write(".. toctree::\n   :maxdepth: 2\n\n")
            fh.writelines(f"   {name}\n" for name in extra)
    # benchmark results written by the benchmark scripts
    results = os.path.join(ROOT, "benchmarks", "results")
    mds = sorted(glob.glob(os.path.join(results, "*.md")))
    pngs = sorted(glob.glob(os.path.join(results, "*.png")))
    lines = []
    if not mds and not pngs:
        lines.append("No benchmark results are stored in ``benchmarks/results/`` yet.\n")
    for md in mds:
        # Sphinx resolves include paths against the including document (docs/)
        rel = os.path.relpath(md, HERE).replace(os.sep, "/")
        lines += [f".. include:: {rel}\n", "   :parser: myst_parser.sphinx_\n", "\n"]
    for png in pngs:
        rel = os.path.relpath(png, HERE).replace(os.sep, "/")
        name = os.path.splitext(os.path.basename(png))[0]
        lines += [f".. figure:: {rel}\n", "   :width: 90%\n", "\n",
                  f"   ``{name}``\n", "\n"]
    with open(os.path.join(out, "benchmark_results.inc"), "w", encoding="utf-8") as fh:
        fh.writelines(lines)


_write_generated()

# Docstring text that docutils would misread (until the sources change):
# ``|t_i - t_j|`` is a substitution reference and ``n_features_in_,`` a
# hyperlink reference in reStructuredText.
_LITERAL_FIXES = [
    ("|t_i - t_j|", "``|t_i - t_j|``"),
    ("(n_features_in_,)", "(``n_features_in_``,)"),
]


def _fix_docstring(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        for old, new in _LITERAL_FIXES:
            if old in line and new not in line:
                line = line.replace(old, new)
        lines[i] = line


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's generated metadata-routing setters document sklearn's own glossary
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def _torch_api_from_docstrings():
    """Without PyTorch, import ``sksfvq.torch`` against Sphinx's stand-in modules.

    autosummary then finds the module and renders its pages from the
    docstrings. The stand-in ``torch.no_grad()`` swallows the functions it
    decorates and ``nn.Module`` hides the layer's signature: both restored.
    The gallery example imports ``torch`` itself first, so it still skips.
    """
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    import inspect

    from sphinx.ext.autodoc.mock import ismock, mock, undecorate

    with mock(["torch"]):
        import sksfvq.torch as layer
    for name in layer.__all__:
        obj = getattr(layer, name)
        if not isinstance(obj, type) and ismock(obj):
            setattr(layer, name, undecorate(obj))
    cls = layer.SpaceFillingVQLayer
    sig = inspect.signature(cls.__init__)
    cls.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])


_torch_api_from_docstrings()


def setup(app):
    app.connect("autodoc-process-docstring", _fix_docstring, priority=100)
    app.connect("autodoc-skip-member", _skip_member)
