"""Data files of the ``sksfvq`` command line: reading tables, writing results.

``UserError`` (importable from :mod:`sksfvq.cli`, as ``load_data`` is) and
``_one_line`` live here so that the readers raise and word their errors
without importing the command line.
"""

import csv
import os
import re
import warnings


class UserError(Exception):
    """A problem with the user's input: reported in one line, exit code 2."""


def _one_line(exc):
    return re.sub(r"\s+", " ", str(exc)).strip() or type(exc).__name__


def _column_index(spec, names, n_columns, path):
    """The 0-based index of the column ``spec``: a header name or a number."""
    if names is not None and spec in names:
        return names.index(spec)
    try:
        j = int(spec)
    except ValueError:
        known = f"columns: {', '.join(names)}" if names else "the file has no header"
        raise UserError(f"{path}: no column {spec!r} ({known}; or give a 0-based "
                        "column number)") from None
    if not -n_columns <= j < n_columns:
        raise UserError(f"{path}: column {j} does not exist ({n_columns} columns)")
    return j % n_columns


def existing_file(path, what):
    """Refuse a ``path`` that is a folder or does not exist (``what`` it should hold)."""
    if os.path.isdir(path):
        raise UserError(f"{path}: is a folder, not {what}")
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")


def _first_lines(path, n=6):
    """The first ``n`` non-blank lines of a text file, whole (a byte-order
    mark is dropped)."""
    lines = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        for line in f:
            if line.strip():
                lines.append(line.rstrip("\r\n"))
                if len(lines) == n:
                    break
    return lines


def _numeric(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _read_csv(path, label):
    import numpy as np

    lines = _first_lines(path)
    if not lines:
        raise UserError(f"{path}: the file is empty")
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t ").delimiter
    except csv.Error:  # e.g. columns aligned by runs of spaces
        delimiter = "," if any(c in lines[0] for c in ",;\t") else " "
    split = None if delimiter == " " else delimiter  # None: runs of white space

    def cells(line):
        if split is None:
            return [c.strip('"').strip("'") for c in line.split()]
        # quoted fields may hold the delimiter ("x, y")
        return [c.strip().strip("'") for c in next(csv.reader([line], delimiter=split))]

    first = cells(lines[0])
    second = cells(lines[1]) if len(lines) > 1 else None
    named = [c for c in first if c != ""]
    # pandas' default column names over rows that are not all integers
    range_names = (len(named) >= 2 and named == [str(i) for i in range(len(named))]
                   and second is not None
                   and any(not re.fullmatch(r"[+-]?\d+", c) for c in second if c != ""))
    if second is None:
        header = not all(_numeric(c) for c in named)
    else:
        # a name over a number in its column; a text column (labels) over
        # more text is data, not a header
        header = range_names or any(a != "" and not _numeric(a) and _numeric(b)
                                    for a, b in zip(first, second))
    # pandas' to_csv writes the row index first, under an empty name (",a,b"
    # or ",0,1"; separated by spaces, the empty name is no field at all)
    if header and split is None and second is not None and len(second) == len(first) + 1:
        first = [""] + first
    index_column = (len(first) > 1 and first[0] == "" and all(first[1:])
                    and (header or range_names))
    header = header or index_column
    if header and second is not None and len(second) != len(first):
        raise UserError(f"{path}: the header has {len(first)} fields, the rows "
                        f"{len(second)}")
    if range_names and not index_column:
        warnings.warn(f"{path}: line 1 ({', '.join(named[:3])}, ...) read as column names, "
                      "as pandas writes them, not as a row", stacklevel=2)
    names = first if header else None
    columns = list(range(len(first)))
    if index_column:
        warnings.warn(f"{path}: the first column has no name: read as the row index "
                      "(as pandas' to_csv writes it), not as a feature", stacklevel=2)
        columns, names = columns[1:], names[1:]
    y = None
    if label is not None:
        j = columns[_column_index(label, names, len(columns), path)]
        try:
            y = np.loadtxt(path, delimiter=split, skiprows=1 if header else 0, usecols=[j],
                           dtype=str, quotechar='"', ndmin=1, encoding="utf-8-sig")
        except ValueError as exc:
            raise UserError(f"{path}: cannot read column {label!r} ({_one_line(exc)})") from None
        if names is not None:
            names = [n for i, n in zip(columns, names) if i != j]
        columns = [i for i in columns if i != j]
    try:
        X = np.loadtxt(path, delimiter=split, skiprows=1 if header else 0, usecols=columns,
                       ndmin=2, dtype=np.float64, encoding="utf-8-sig", quotechar='"')
    except ValueError as exc:
        row = second if header else first
        text = [i for i in columns if row is not None and i < len(row) and row[i] != ""
                and not _numeric(row[i])]
        if text:  # name the column as --labels takes it (0-based, without the index)
            j = columns.index(text[0])
            name = f" {names[j]!r}" if names is not None else ""
            raise UserError(f"{path}: column {j}{name} holds text ({row[text[0]]!r}), not "
                            "numbers (a label column? compare takes it as --labels)") from None
        bad = _first_bad_cell(path, cells, 1 if header else 0, columns)
        if bad is not None:
            number, j, cell = bad
            name = f" {names[j]!r}" if names is not None else ""
            what = "is empty" if cell == "" else (
                "is missing (fewer fields than the first row)" if cell is None
                else f"holds {cell!r}")
            raise UserError(f"{path}: line {number}, column {j}{name} {what}: not a table "
                            "of numbers") from None
        raise UserError(f"{path}: not a table of numbers ({_one_line(exc)})") from None
    return X, names, y


def _first_bad_cell(path, cells, skip, columns):
    """(line number in the file, position in ``columns`` -- 0-based, as
    --labels counts --, the cell or None if the line is too short) of the
    first selected cell that is not a number, after ``skip`` lines of header;
    lines are counted as loadtxt reads them (blank lines and ``#`` comments
    left out). None if every cell reads."""
    seen = 0
    with open(path, newline="", encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            seen += 1
            if seen <= skip:
                continue
            row = cells(line.rstrip("\r\n"))
            for j, i in enumerate(columns):
                cell = row[i] if i < len(row) else None
                if cell is None or not _numeric(cell):
                    return number, j, cell
    return None


def _read_parquet(path, label):
    try:
        import pandas as pd
    except ImportError:
        raise UserError("reading .parquet needs pandas and pyarrow "
                        "(pip install pandas pyarrow)") from None
    try:
        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise UserError(f"reading .parquet needs pyarrow ({_one_line(exc)})") from None
    except Exception as exc:  # pyarrow raises its own error types
        raise UserError(f"{path}: cannot read parquet ({_one_line(exc)})") from None
    y = None
    if label is not None:
        names = [str(c) for c in frame.columns]
        column = frame.columns[_column_index(label, names, len(names), path)]
        y = frame[column].to_numpy()
        frame = frame.drop(columns=[column])
    try:
        X = frame.to_numpy(dtype="float64")
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: columns must be numeric ({_one_line(exc)})") from None
    return X, [str(c) for c in frame.columns], y


def _read_npy(path, label):
    import numpy as np

    X = np.load(path, allow_pickle=False)
    if label is None or X.ndim != 2:
        return X, None, None
    j = _column_index(label, None, X.shape[1], path)
    return np.delete(X, j, axis=1), None, X[:, j]


def load_data(path, labels=None):
    """Rows of ``path`` (.npy, .csv with or without header, .parquet) as a 2-D array.

    ``labels`` names a column (header name, or 0-based number; negative
    counts from the end) that holds a label per row instead of a feature: it
    is taken out of ``X``. Returns ``(X, column_names_or_None, y_or_None)``.
    """
    import numpy as np

    existing_file(path, "a data file")
    ext = os.path.splitext(path)[1].lower()
    readers = {".npy": _read_npy, ".csv": _read_csv, ".txt": _read_csv, ".tsv": _read_csv,
               ".parquet": _read_parquet, ".pq": _read_parquet}
    if ext not in readers:
        raise UserError(f"{path}: unknown data format {ext or '(none)'!r}; "
                        "use .npy, .csv or .parquet")
    try:
        X, names, y = readers[ext](path, labels)
    except UserError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: cannot read ({_one_line(exc)})") from None
    if X.ndim != 2:
        raise UserError(f"{path}: expected a 2-D table (rows x features), got shape {X.shape}")
    if X.dtype.kind not in "fiub":
        raise UserError(f"{path}: expected numbers, got dtype {X.dtype}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise UserError(f"{path}: no data (shape {X.shape})")
    if not np.isfinite(X).all():
        bad = int(np.count_nonzero(~np.isfinite(X).all(axis=1)))
        raise UserError(f"{path}: {bad} row(s) contain NaN or infinity")
    return X, names, y


def _save(path, values, header):
    import numpy as np

    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        np.save(path, values)
    elif ext == ".csv":
        # as many digits as read back to the same value (float32: 9, float64: 17)
        fmt = ("%d" if values.dtype.kind in "iu"
               else "%.9g" if values.dtype == np.float32 else "%.17g")
        np.savetxt(path, values.reshape(len(values), -1), delimiter=",", fmt=fmt,
                   header=",".join(header), comments="")
    else:
        raise UserError(f"{path}: unknown output format {ext or '(none)'!r}; use .npy or .csv")
