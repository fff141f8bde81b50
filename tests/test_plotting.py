"""sksfvq.plotting: every plot checked for the artists it draws (Agg backend)."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402

from sksfvq import SpaceFillingVQ  # noqa: E402
from sksfvq import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _draw_and_close():
    yield
    for num in plt.get_fignums():  # drawing catches layout errors the artists hide
        plt.figure(num).canvas.draw()
    plt.close("all")


def fixed_curve(C):
    C = np.asarray(C, dtype=np.float64)
    est = SpaceFillingVQ(C.shape[0], smoothness=0, init=C).fit(C)
    est.cluster_centers_ = C  # the estimator may orient a curve either way; pin this order
    return est


@pytest.fixture(scope="module")
def fitted2d():
    X = np.random.default_rng(0).normal(size=(400, 2))
    return SpaceFillingVQ(8, random_state=0).fit(X), X


@pytest.mark.slow
def test_package_import_does_not_import_matplotlib():
    code = "import sys, sksfvq; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_plot_curve_2d_draws_corners_in_order():
    C = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    X = np.random.default_rng(0).normal(size=(50, 2))
    ax = plotting.plot_curve(fixed_curve(C), X)
    (line,) = ax.lines
    assert_allclose(np.c_[line.get_xdata(), line.get_ydata()], C)
    scat = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scat) == 1 and scat[0].get_offsets().shape == (50, 2)
    assert [t.get_text() for t in ax.texts] == ["0", "2"]


def test_plot_curve_pca_view_and_given_axes():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5)) * [5, 2, 0.1, 0.1, 0.1]
    est = SpaceFillingVQ(6, random_state=0).fit(X)
    fig, ax = plt.subplots()
    out = plotting.plot_curve(est, X, ax=ax, max_points=100)
    assert out is ax
    assert ax.lines[0].get_xdata().shape == (6,)
    assert ax.collections[0].get_offsets().shape == (100, 2)
    # the projection keeps the corners' spread along the main axis
    C = est.cluster_centers_
    assert np.ptp(ax.lines[0].get_xdata()) > 0.9 * np.ptp(C[:, 0])


def test_plot_voronoi_cells():
    C = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    ax = plotting.plot_voronoi(C)
    lc = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lc) == 1
    segs = lc[0].get_segments()
    # four cells of a square grid: the two bisectors x = 1 and y = 1 (as 4 ridges)
    assert len(segs) == 4
    for s in segs:
        s = np.asarray(s)
        assert np.allclose(s[:, 0], 1.0) or np.allclose(s[:, 1], 1.0)
    with pytest.raises(ValueError, match="2-D codebook"):
        plotting.plot_voronoi(np.zeros((4, 3)))


def test_plot_vq_vs_sfvq(fitted2d):
    est, X = fitted2d
    axes = plotting.plot_vq_vs_sfvq(est, X)
    assert len(axes) == 2
    assert any(isinstance(c, LineCollection) for c in axes[0].collections)
    assert axes[1].lines[0].get_xdata().shape == (8,)
    assert "k-means" in axes[0].get_title() and "SFVQ" in axes[1].get_title()
    assert axes[0].get_xlim() == axes[1].get_xlim()


def test_plot_vq_vs_sfvq_on_shared_axes(fitted2d):
    est, X = fitted2d
    fig, axes = plt.subplots(1, 2, sharex=True, sharey=True)
    plotting.plot_vq_vs_sfvq(est, X, axes=axes)
    fig.tight_layout()  # raised for adjustable='datalim' on shared axes


def test_plot_index_profiles_lines_and_image():
    P = np.array([[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.3, 1.0]])
    ax = plotting.plot_index_profiles(P, ["vowel", "fric"])
    assert len(ax.lines) == 4  # two profiles, two peak markers
    assert_allclose(ax.lines[0].get_ydata(), P[0])
    assert ax.lines[1].get_xdata()[0] == 0 and ax.lines[3].get_xdata()[0] == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["vowel", "fric"]
    ax = plotting.plot_index_profiles(P, ["vowel", "fric"], style="image")
    assert_allclose(ax.images[0].get_array(), P)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["vowel", "fric"]
    with pytest.raises(ValueError, match="style"):
        plotting.plot_index_profiles(P, style="bars")


def test_plot_codebook_and_distance_matrix():
    C = np.array([[0.0, 1.0], [3.0, -4.0], [0.0, 0.0]])
    est = fixed_curve(C)
    ax = plotting.plot_codebook(est, feature_names=["a", "b"])
    im = ax.images[0]
    assert_allclose(im.get_array(), C)
    assert im.get_clim() == (-4.0, 4.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    ax = plotting.plot_distance_matrix(est)
    D = np.asarray(ax.images[0].get_array())
    assert_allclose(D, np.linalg.norm(C[:, None] - C[None], axis=2))
    assert sorted(np.round(D[np.triu_indices(3, 1)] ** 2, 9)) == [1, 25, 34]


def test_plot_corner_usage_marks_dead_and_outliers():
    est = fixed_curve([[0.0], [1.0], [50.0], [2.0]])
    X = np.array([[0.0], [0.2], [0.9], [1.1], [1.9], [2.1]])
    ax = plotting.plot_corner_usage(est, X)
    heights = [p.get_height() for p in ax.patches]
    assert heights == [2, 2, 0, 2]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["dead (1)", "outlier (1)"]
    assert ax.lines[0].get_xdata().tolist() == [2]


def test_plot_transition_matrix():
    T = np.array([[0.0, 1.0], [0.5, 0.5]])
    ax = plotting.plot_transition_matrix(T, log=False)
    assert_allclose(ax.images[0].get_array(), T)
    ax = plotting.plot_transition_matrix(T)
    assert_allclose(ax.images[0].get_array(), np.log1p(100 * T))


@pytest.mark.parametrize("plot", [
    lambda e, X: plotting.plot_curve(e, X),
    lambda e, X: plotting.plot_voronoi(e, X),
    lambda e, X: plotting.plot_vq_vs_sfvq(e, X),
    lambda e, X: plotting.plot_codebook(e),
    lambda e, X: plotting.plot_distance_matrix(e),
    lambda e, X: plotting.plot_corner_usage(e, X),
])
def test_plots_of_an_unfitted_estimator_raise_not_fitted(plot):
    from sklearn.exceptions import NotFittedError

    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(NotFittedError):
        plot(SpaceFillingVQ(4), X)
    assert not plt.get_fignums()  # refused before a figure was made


def test_voronoi_of_two_corners_draws_their_border():
    ax = plotting.plot_voronoi(np.array([[0.0, 0.0], [1.0, 0.0]]))
    (borders,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(borders.get_segments()) == 1


@pytest.mark.parametrize("plot, match", [
    (lambda: plotting.plot_voronoi(np.zeros((4, 3))), "2-D codebook"),
    (lambda: plotting.plot_vq_vs_sfvq(SpaceFillingVQ(2).fit(np.eye(3)), np.eye(3)), "2-D data"),
    (lambda: plotting.plot_index_profiles([[1.0, 0.0]], style="bars"), "style"),
    (lambda: plotting.plot_index_profiles(np.eye(3), ["a", "b"]), "3 profiles but 2"),
    (lambda: plotting.plot_transition_matrix([1.0, 2.0, 3.0]), "square"),
])
def test_refused_plots_open_no_figure(plot, match):
    with pytest.raises(ValueError, match=match):
        plot()
    assert not plt.get_fignums()
