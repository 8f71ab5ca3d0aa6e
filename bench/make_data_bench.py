#!/usr/bin/python3
"""Generates the validate-data benchmark: DIR/data.csv and DIR/reference.csv, N rows x 20 columns
(14 numeric, 6 categorical), and DIR/schema.json with a range or enum constraint on every column.
data.csv drifts from reference.csv in 4 numeric and 2 categorical columns and breaks the schema in
a few hundred rows. Deterministic for a given --rows.

    /usr/bin/python3 bench/make_data_bench.py --rows 1000000 --out bench/data/validate-data/1000000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.dont_write_bytecode = True
NUMERIC = [f"x{i}" for i in range(14)]
CATEGORICAL = [f"c{i}" for i in range(6)]
LEVELS = [[f"v{k}" for k in range(3 + 2 * i)] for i in range(6)]


def frame(rows: int, seed: int, drift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {}
    for i, name in enumerate(NUMERIC):
        shift = 0.5 if drift and i < 4 else 0.0
        columns[name] = np.round(rng.normal(10 * i + shift, 1 + i, rows), 4)
    for i, name in enumerate(CATEGORICAL):
        p = np.linspace(1, 2, len(LEVELS[i]))
        if drift and i < 2:
            p = p[::-1]
        columns[name] = rng.choice(LEVELS[i], rows, p=p / p.sum())
    df = pd.DataFrame(columns)
    if drift:
        bad = rng.choice(rows, 300, replace=False)
        df.loc[bad[:100], "x0"] = -1000.0
        df.loc[bad[100:200], "c0"] = "unknown"
        df.loc[bad[200:], "x5"] = np.nan
    return df


def schema() -> dict:
    fields = [{"name": n, "type": "number", "constraints": {"required": True, "minimum": -500, "maximum": 1000}} for n in NUMERIC]
    fields += [{"name": n, "type": "string", "constraints": {"required": True, "enum": LEVELS[i]}} for i, n in enumerate(CATEGORICAL)]
    return {"fields": fields, "missingValues": [""]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    frame(args.rows, 1, drift=False).to_csv(args.out / "reference.csv", index=False)
    frame(args.rows, 2, drift=True).to_csv(args.out / "data.csv", index=False)
    (args.out / "schema.json").write_text(json.dumps(schema(), indent=2))


if __name__ == "__main__":
    main()
