#!/usr/bin/python3
"""Generates the benchmark data set and model.

    /usr/bin/python3 bench/make_bench_model.py --rows 1000000 --out bench/data

writes into DIR:
  data.csv     N rows: f0..f19 (floats, 6 decimals) and `label` (int 0/1); ~190 MB at 1,000,000 rows
  model.onnx   RandomForestClassifier(n_estimators=100, max_depth=8) as skl2onnx writes it by
               default: input `input` float [N, 20], `output_label` int64, `output_probability`
               through ZipMap
  model.joblib the same forest, for bench/sklearn_eval.py (the reference)
The forest is trained on the first 50,000 rows. Everything is deterministic for a given --rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import onnx
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

sys.dont_write_bytecode = True  # no __pycache__ next to the committed scripts
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts" / "fixtures"))
import onnx_convert as oc  # noqa: E402

N_FEATURES = 20
CHUNK = 100_000
TRAIN_ROWS = 50_000
COLUMNS = [f"f{i}" for i in range(N_FEATURES)] + ["label"]


def chunks(rows: int, seed: int = 20240601):
    """Yields (X float64 rounded to 6 decimals, y int) blocks of CHUNK rows."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, N_FEATURES)
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        X = np.round(rng.normal(0, 1, (n, N_FEATURES)), 6)
        # A bit of everything a forest handles: linear terms, an interaction, a threshold.
        score = X @ w * 0.5 + 1.5 * X[:, 0] * X[:, 1] - 2.0 * (X[:, 2] > 0.8) + np.sin(2 * X[:, 3])
        y = (score + rng.logistic(0, 0.6, n) > 0).astype(np.int64)
        yield X, y


def write_csv(rows: int, path: Path) -> pd.DataFrame:
    """Writes the CSV chunk by chunk; returns the first TRAIN_ROWS rows for training."""
    train = []
    kept = 0
    fmt = ",".join(["%.6f"] * N_FEATURES) + ",%d"
    with open(path, "w", newline="\n") as out:
        out.write(",".join(COLUMNS) + "\n")
        for X, y in chunks(rows):
            block = np.column_stack([X, y])
            np.savetxt(out, block, fmt=fmt)
            if kept < TRAIN_ROWS:
                take = min(TRAIN_ROWS - kept, len(y))
                train.append(pd.DataFrame(block[:take], columns=COLUMNS))
                kept += take
    df = pd.concat(train, ignore_index=True)
    df["label"] = df["label"].astype(np.int64)
    return df


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    train = write_csv(args.rows, args.out / "data.csv")
    t1 = time.perf_counter()
    features = COLUMNS[:-1]
    model = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0, n_jobs=-1)
    model.fit(train[features], train["label"])
    model.set_params(n_jobs=None)  # the reference predicts with sklearn's default, one process
    joblib.dump(model, args.out / "model.joblib")
    onnx.save(oc.convert_tree_classifier(model, N_FEATURES, zipmap=True, name="bench_rf"),
              str(args.out / "model.onnx"))
    t2 = time.perf_counter()
    size_mb = (args.out / "data.csv").stat().st_size / 1e6
    print(f"data.csv: {args.rows} rows, {size_mb:.1f} MB in {t1 - t0:.1f} s; "
          f"model trained on {len(train)} rows in {t2 - t1:.1f} s -> {args.out}")


if __name__ == "__main__":
    main()
