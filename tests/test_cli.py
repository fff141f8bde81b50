"""The ``sksfvq`` command line: fit / transform / compare, data formats, user errors."""

import subprocess
import sys

import numpy as np
import pytest

from sksfvq import SpaceFillingVQ
from sksfvq.cli import UserError, load_data, main

K = 8


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    X = np.random.default_rng(0).normal(size=(400, 3))
    np.save(folder / "X.npy", X)
    np.savetxt(folder / "header.csv", X, delimiter=",", header="a,b,c", comments="")
    np.savetxt(folder / "plain.csv", X, delimiter=",")
    return folder, X


@pytest.fixture(scope="module")
def model(data):
    folder, X = data
    path = folder / "model.joblib"
    assert main(["fit", str(folder / "X.npy"), "--n-clusters", str(K), "-o", str(path)]) == 0
    return path


def test_fit_prints_stages_and_table(data, model, capsys):
    folder, X = data
    out_path = folder / "again.joblib"
    assert main(["fit", str(folder / "X.npy"), "--n-clusters", str(K), "--random-state", "1",
                 "-o", str(out_path)]) == 0
    out = capsys.readouterr().out
    assert "K=" in out and "| method | mse_corner" in out and "| SpaceFillingVQ |" in out
    assert "adj_ratio" in out and "cont10" in out
    import joblib

    est = joblib.load(out_path)
    assert isinstance(est, SpaceFillingVQ) and est.cluster_centers_.shape == (K, 3)
    # the saved model is the same as fitting through the API with the same settings
    ref = SpaceFillingVQ(n_clusters=K, random_state=1).fit(X)
    np.testing.assert_allclose(est.cluster_centers_, ref.cluster_centers_)


@pytest.mark.parametrize("name", ["header.csv", "plain.csv"])
def test_csv_header_detected(data, name):
    folder, X = data
    Y, names, y = load_data(str(folder / name))
    np.testing.assert_allclose(Y, X, rtol=1e-12)
    assert (names == ["a", "b", "c"]) if name == "header.csv" else names is None
    assert y is None


def test_csv_semicolon_and_quoted_header(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text('"x";"y"\n1.5;2\n3;4\n')
    Y, names, _ = load_data(str(path))
    np.testing.assert_array_equal(Y, [[1.5, 2], [3, 4]])
    assert names == ["x", "y"]


def test_csv_row_index_column_is_not_a_feature(data, tmp_path):
    """pandas' ``to_csv`` writes the row index first under an empty name
    (",a,b,c" or ",0,1,2"): it is not read as a feature (it was, or the
    numeric header was taken for data and the read failed)."""
    _, X = data
    rows = "".join(f"{i}," + ",".join(f"{v:.17g}" for v in x) + "\n" for i, x in enumerate(X))
    for head, names in ((",a,b,c", ["a", "b", "c"]), (",0,1,2", ["0", "1", "2"])):
        path = tmp_path / "indexed.csv"
        path.write_text(head + "\n" + rows)
        with pytest.warns(UserWarning, match="row index"):
            Y, got, y = load_data(str(path))
        np.testing.assert_array_equal(Y, X)
        assert got == names and y is None
    # a label column counts among the named columns, after the index
    path.write_text(",a,kind,c\n" + "".join(f"{i},{x[0]:.17g},{i % 2},{x[2]:.17g}\n"
                                            for i, x in enumerate(X)))
    for spec in ("kind", "1"):
        with pytest.warns(UserWarning, match="row index"):
            Y, got, y = load_data(str(path), labels=spec)
        np.testing.assert_array_equal(Y, X[:, [0, 2]])
        assert got == ["a", "c"] and y.tolist() == [str(i % 2) for i in range(len(X))]


def test_parquet(data, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    _, X = data
    path = tmp_path / "X.parquet"
    pd.DataFrame(X, columns=["a", "b", "c"]).to_parquet(path)
    Y, names, _ = load_data(str(path))
    np.testing.assert_array_equal(Y, X)
    assert names == ["a", "b", "c"]
    labelled = tmp_path / "labelled.parquet"
    pd.DataFrame(X, columns=["a", "b", "c"]).assign(kind=["u", "v"] * 200).to_parquet(labelled)
    Y, names, y = load_data(str(labelled), labels="kind")
    np.testing.assert_array_equal(Y, X)
    assert names == ["a", "b", "c"] and y.tolist() == ["u", "v"] * 200
    assert main(["fit", str(path), "--n-clusters", "4", "-o", str(tmp_path / "m.joblib")]) == 0


@pytest.mark.parametrize("what", ["position", "index", "point"])
@pytest.mark.parametrize("ext", [".npy", ".csv"])
def test_transform_outputs(data, model, tmp_path, what, ext):
    import joblib

    folder, X = data
    out = tmp_path / f"out{ext}"
    assert main(["transform", str(model), str(folder / "header.csv"), "-o", str(out),
                 "--what", what]) == 0
    est = joblib.load(model)
    expected = {"position": est.transform(X)[:, 0], "index": est.predict(X),
                "point": est.inverse_transform(est.transform(X))}[what]
    if ext == ".npy":
        got = np.load(out)
        np.testing.assert_array_equal(got, expected)
    else:
        got = np.loadtxt(out, delimiter=",", skiprows=1, ndmin=1)
        np.testing.assert_array_equal(got, expected)  # every digit that reads back
        header = out.read_text().splitlines()[0]
        assert header == {"position": "position", "index": "index", "point": "x0,x1,x2"}[what]


def test_float32_positions_in_csv_read_back_exactly(data, tmp_path):
    import joblib

    folder, X = data
    path = tmp_path / "m32.joblib"
    assert main(["fit", str(folder / "X.npy"), "--n-clusters", str(K), "--float32",
                 "-o", str(path)]) == 0
    out = tmp_path / "pos.csv"
    assert main(["transform", str(path), str(folder / "X.npy"), "-o", str(out)]) == 0
    est = joblib.load(path)
    expected = est.transform(X.astype(np.float32))[:, 0]
    assert expected.dtype == np.float32
    got = np.loadtxt(out, delimiter=",", skiprows=1, ndmin=1, dtype=np.float32)
    np.testing.assert_array_equal(got, expected)
    assert len(out.read_text().splitlines()[1]) <= 12  # 9 digits, not float64's 17


def test_compare_table_and_plot(data, tmp_path, capsys):
    folder, _ = data
    png = tmp_path / "cmp.png"
    assert main(["compare", str(folder / "X.npy"), "--n-clusters", "6", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    for name in ("SpaceFillingVQ", "KMeans", "plain VQ (LBG)"):
        assert f"| {name}" in out
    assert "knn_spread" in out and "label_spread" not in out
    assert out.strip().endswith(f"wrote {png}")
    assert png.stat().st_size > 1000


def test_timed_fits_come_after_a_warm_up_of_the_same_kernels(data, tmp_path, monkeypatch):
    """fit and compare fit a few rows first with the same corner count and
    trainer (the same kernels), so that their fit_s is the fit, not numba
    loading its kernels (0.36 s printed for a 0.01 s fit on 178 rows)."""
    from sksfvq import cli

    folder, _ = data
    calls = []
    real = cli._warm_up

    def record(X, k, algorithms=("lloyd",)):
        calls.append((X.shape[1], k, tuple(algorithms)))
        return real(X, k, algorithms)

    monkeypatch.setattr(cli, "_warm_up", record)
    assert main(["compare", str(folder / "X.npy"), "--n-clusters", "6",
                 "--algorithm", "sgd"]) == 0
    assert main(["fit", str(folder / "X.npy"), "--n-clusters", "5",
                 "-o", str(tmp_path / "m.joblib")]) == 0
    assert calls == [(3, 6, ("sgd",)), (3, 5, ("lloyd",))]


def _table(out):
    """The Markdown table of a run: {method: {column: cell}}."""
    rows = [ln.strip("|").split("|") for ln in out.splitlines() if ln.startswith("| ")]
    head = [c.strip() for c in rows[0]]
    return {r[0].strip(): dict(zip(head[1:], (c.strip() for c in r[1:]))) for r in rows[1:]}


def test_compare_labels_column(tmp_path, capsys):
    """--labels takes a column out of the features and adds label_spread."""
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(-4, 1, (150, 2)), rng.normal(4, 1, (150, 2))]
    kind = ["left"] * 150 + ["right"] * 150
    path = tmp_path / "labelled.csv"
    path.write_text("x,kind,y\n" + "".join(f"{a:.17g},\"{k}\",{b:.17g}\n"
                                           for (a, b), k in zip(X, kind)))
    Y, names, y = load_data(str(path), labels="kind")
    np.testing.assert_array_equal(Y, X)
    assert names == ["x", "y"] and y.tolist() == kind
    assert main(["compare", str(path), "--n-clusters", "8", "--labels", "kind"]) == 0
    out = capsys.readouterr().out
    assert "D=2," in out and "column 'kind', 2 distinct values" in out
    table = _table(out)
    assert set(table) == {"SpaceFillingVQ", "KMeans(n_init=1)", "plain VQ (LBG)"}
    for row in table.values():
        assert float(row["label_spread"]) >= 0 and float(row["knn_spread"]) >= 0
    # two far-apart groups: the curve keeps each group in one stretch of the index
    assert float(table["SpaceFillingVQ"]["label_spread"]) < 0.5
    # a .npy file has no header: the label column is given by number, here the last
    np.save(tmp_path / "labelled.npy", np.c_[X, np.repeat([0, 1], 150)])
    Y, _, y = load_data(str(tmp_path / "labelled.npy"), labels="-1")
    np.testing.assert_array_equal(Y, X)
    np.testing.assert_array_equal(y, np.repeat([0, 1], 150))


def test_demo_writes_the_file_it_names(tmp_path, capsys):
    """A name without extension gets .png, and the printed path is the file written."""
    argv = ["demo", "--n-samples", "600", "--n-clusters", "6"]
    assert main(argv + ["--out", str(tmp_path / "picture")]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith(f"wrote {tmp_path / 'picture.png'}")
    assert "| SpaceFillingVQ |" in out and "| KMeans(n_init=1) |" in out
    assert (tmp_path / "picture.png").stat().st_size > 1000
    assert main(argv + ["--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"wrote {tmp_path / 'sksfvq_demo.png'}")
    assert (tmp_path / "sksfvq_demo.png").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["picture.png", "sksfvq_demo.png"]


def _error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_user_errors_are_one_line_exit_2(data, model, tmp_path, capsys):
    folder, _ = data
    npy = str(folder / "X.npy")
    assert "no such file" in _error(capsys, ["fit", str(tmp_path / "missing.npy"), "-o",
                                             str(tmp_path / "m.joblib")])
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not numpy at all")
    assert "cannot read" in _error(capsys, ["fit", str(bad), "-o", str(tmp_path / "m.joblib")])
    text = tmp_path / "words.csv"
    text.write_text("a,b\nx,y\n")
    assert "holds text ('a')" in _error(capsys, ["fit", str(text), "-o",
                                                str(tmp_path / "m.joblib")])
    nan = tmp_path / "nan.npy"
    np.save(nan, np.array([[1.0, np.nan], [2.0, 3.0]]))
    assert "NaN" in _error(capsys, ["fit", str(nan), "-o", str(tmp_path / "m.joblib")])
    one_d = tmp_path / "one_d.npy"
    np.save(one_d, np.arange(5.0))
    assert "2-D" in _error(capsys, ["fit", str(one_d), "-o", str(tmp_path / "m.joblib")])
    assert "unknown data format" in _error(capsys, ["fit", str(folder / "model.joblib"),
                                                    "-o", str(tmp_path / "m.joblib")])
    assert "fewer than --n-clusters" in _error(capsys, ["fit", npy, "--n-clusters", "1000",
                                                        "-o", str(tmp_path / "m.joblib")])
    assert "does not exist" in _error(capsys, ["fit", npy, "-o",
                                               str(tmp_path / "no" / "m.joblib")])
    assert "not a saved model" in _error(capsys, ["transform", npy, npy, "-o",
                                                  str(tmp_path / "o.npy")])
    assert "unknown output format" in _error(capsys, ["transform", str(model), npy, "-o",
                                                      str(tmp_path / "o.txt")])
    assert "no column 'kind'" in _error(capsys, ["compare", str(folder / "header.csv"),
                                                 "--labels", "kind"])
    assert "column 7 does not exist" in _error(capsys, ["compare", npy, "--labels", "7"])
    assert "cannot write .v2 figures" in _error(capsys, ["demo", "--out",
                                                         str(tmp_path / "d.v2")])
    assert "does not exist" in _error(capsys, ["compare", npy, "--plot",
                                               str(tmp_path / "no" / "p.png")])
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((5, 4)))
    assert "features" in _error(capsys, ["transform", str(model), str(wide), "-o",
                                         str(tmp_path / "o.npy")])


@pytest.mark.parametrize("argv", [["fit", "X.npy", "--n-clusters", "many", "-o", "m"],
                                  ["fit", "X.npy"],
                                  ["transform", "m.joblib", "X.npy", "-o", "o.npy",
                                   "--what", "everything"],
                                  ["nonsense"], []])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [[], ["fit"], ["transform"], ["compare"], ["demo"]])
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as info:
        main(command + ["--help"])
    assert info.value.code == 0
    assert "usage: sksfvq" in capsys.readouterr().out


@pytest.mark.slow
def test_python_dash_m_runs_and_reports_errors(tmp_path):
    """One real process: `python -m sksfvq`, a user error, no traceback."""
    res = subprocess.run([sys.executable, "-m", "sksfvq", "transform", str(tmp_path / "m.joblib"),
                          str(tmp_path / "X.npy"), "-o", str(tmp_path / "o.npy")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr.strip() == f"sksfvq transform: error: {tmp_path / 'm.joblib'}: no such file"


def test_csv_files_as_other_tools_write_them(tmp_path):
    rng = np.random.default_rng(1)
    # wide and headerless: the first line is read whole
    wide = tmp_path / "wide.csv"
    np.savetxt(wide, rng.normal(size=(5, 3000)), delimiter=",")
    assert load_data(str(wide))[0].shape == (5, 3000)
    # headerless with a text label column (UCI iris.data): line 1 is a row
    iris = tmp_path / "iris.csv"
    iris.write_text("5.1,3.5,1.4,0.2,Iris-setosa\n4.9,3.0,1.4,0.2,Iris-setosa\n"
                    "6.3,3.3,6.0,2.5,Iris-virginica\n")
    X, names, y = load_data(str(iris), labels="4")
    assert X.shape == (3, 4) and names is None and y.tolist()[0] == "Iris-setosa"
    # a quoted label holding the delimiter, first
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('lab,a,b\n"x, y",1,2\n"z",3,4\n')
    X, names, y = load_data(str(quoted), labels="lab")
    assert X.tolist() == [[1, 2], [3, 4]] and names == ["a", "b"] and y.tolist() == ["x, y", "z"]
    # columns aligned by runs of spaces
    aligned = tmp_path / "aligned.txt"
    np.savetxt(aligned, np.arange(6.0).reshape(3, 2), fmt="%10.4f")
    assert load_data(str(aligned))[0].tolist() == [[0, 1], [2, 3], [4, 5]]
    refused = [
        # a header with fewer names than the rows' values is refused, not cut
        ("short.csv", "a,b,c\n1,2,3,4\n5,6,7,8\n", "header has 3 fields, the rows 4"),
        # an empty first cell over numbers is an empty cell, not a pandas index
        ("empty.csv", ",2,3\n4,5,6\n7,8,9\n", "line 1, column 0 is empty"),
        # the bad cell is named by its line in the file and its column as --labels counts
        ("gap.csv", "a,b,c\n1,2,3\n\n4,,6\n", "line 4, column 1 'b' is empty"),
        ("short_row.csv", "1 2 3\n4 5 6\n7 8\n", "line 3, column 2 is missing"),
    ]
    for name, text, message in refused:
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(UserError, match=message):
            load_data(str(path))
    stray = tmp_path / "stray.csv"
    stray.write_text(",a,b\n0,1,2\n1,3,4\n2,5,n/a\n")
    with pytest.warns(UserWarning, match="row index"):
        with pytest.raises(UserError, match="line 4, column 1 'b' holds 'n/a'"):
            load_data(str(stray))


def test_csv_files_as_pandas_writes_them(tmp_path):
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(2).normal(size=(20, 3))
    frame = pd.DataFrame(X)  # default names 0, 1, 2
    frame.to_csv(tmp_path / "plain.csv", index=False)
    with pytest.warns(UserWarning, match="read as column names"):
        assert np.allclose(load_data(str(tmp_path / "plain.csv"))[0], X)
    named = pd.DataFrame(X, columns=list("abc"))
    named.to_csv(tmp_path / "bom.csv", encoding="utf-8-sig")  # a byte-order mark and an index
    with pytest.warns(UserWarning, match="row index"):
        assert np.allclose(load_data(str(tmp_path / "bom.csv"))[0], X)
    named.to_csv(tmp_path / "spaces.csv", sep=" ")  # " a b c": the index has no field
    with pytest.warns(UserWarning, match="row index"):
        X2, names, _ = load_data(str(tmp_path / "spaces.csv"))
    assert np.allclose(X2, X) and names == ["a", "b", "c"]


def test_command_line_refuses_early_and_names_things(data, tmp_path, capsys):
    folder, X = data
    npy = str(folder / "X.npy")
    import joblib

    joblib.dump(SpaceFillingVQ(4), tmp_path / "unfitted.joblib")
    assert "never fitted" in _error(capsys, ["transform", str(tmp_path / "unfitted.joblib"),
                                             npy, "-o", str(tmp_path / "o.npy")])
    (tmp_path / "out").mkdir()
    assert "is a folder" in _error(capsys, ["fit", npy, "-o", str(tmp_path / "out")])
    assert "is a folder" in _error(capsys, ["fit", str(tmp_path / "out"), "-o",
                                            str(tmp_path / "m.joblib")])
    assert "--n-clusters must be >= 1" in _error(capsys, ["demo", "--n-clusters", "0",
                                                          "--out", str(tmp_path / "d.png")])
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("a,b,kind\n1,2,x\n3,4,y\n5,6,x\n")
    assert "column 2 'kind' holds text" in _error(capsys, ["fit", str(labelled), "-o",
                                                           str(tmp_path / "m.joblib")])
    assert not list(tmp_path.glob("m.joblib"))


def test_compare_one_feature_plot_and_labels_with_gaps(tmp_path, capsys):
    X = np.random.default_rng(3).normal(size=(200, 1))
    np.save(tmp_path / "one.npy", X)
    assert main(["compare", str(tmp_path / "one.npy"), "--n-clusters", "4", "--plot",
                 str(tmp_path / "one.png")]) == 0
    assert (tmp_path / "one.png").stat().st_size > 1000
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(np.random.default_rng(4).normal(size=(60, 2)), columns=["a", "b"])
    frame["kind"] = ["x", None, "y"] * 20
    frame.to_parquet(tmp_path / "gaps.parquet")
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "gaps.parquet"), "--n-clusters", "4",
                 "--labels", "kind"]) == 0
    assert "3 distinct values" in capsys.readouterr().out


@pytest.mark.slow
def test_output_piped_into_head_still_writes_the_model(data, tmp_path):
    """`sksfvq fit ... | head -1`: the reader leaves after one line; the fit goes
    on, writes its model and exits 0 (it stopped at the next progress line)."""
    folder, _ = data
    model = tmp_path / "m.joblib"
    res = subprocess.run(["bash", "-c", f"set -o pipefail; '{sys.executable}' -m sksfvq fit "
                          f"'{folder / 'X.npy'}' --n-clusters 4 -o '{model}' | head -1"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert model.is_file() and "Traceback" not in res.stderr
