#!/usr/bin/python3
"""Makes the validate-data demo: examples/data/reference.csv (the training snapshot) and
examples/data/current.csv (this week's data), from the same customers as examples/generate.py.

current.csv has what a data contract and a drift check should catch:
  - monthly_charges shifted up by about 8 (a price change), tenure_months unchanged;
  - plan: an unseen category `enterprise` on about 6% of rows;
  - days_since_last_login empty on about 8% of rows (a broken upstream join), its other values unchanged;
  - three rows with age -1, two duplicated customer_id values, one `n/a` in tenure_months.

    /usr/bin/python3 examples/data/generate.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(HERE.parent))
from generate import customers  # noqa: E402


def with_ids_and_plan(df, start, seed):
    rng = np.random.default_rng(seed)
    df.insert(0, "customer_id", [f"C{start + i:06d}" for i in range(len(df))])
    df.insert(2, "plan", rng.choice(["basic", "pro", "team"], len(df), p=[0.55, 0.3, 0.15]))
    return df


def main():
    reference = with_ids_and_plan(customers(5_000, seed=11), 0, 21)
    current = with_ids_and_plan(customers(5_000, seed=12), 100_000, 22)
    rng = np.random.default_rng(23)

    current["monthly_charges"] = (current["monthly_charges"] + rng.normal(8, 1.5, len(current))).round(2)
    current.loc[rng.random(len(current)) < 0.06, "plan"] = "enterprise"
    current["days_since_last_login"] = current["days_since_last_login"].astype(object)
    current.loc[rng.random(len(current)) < 0.08, "days_since_last_login"] = ""
    current["age"] = current["age"].astype(object)
    current.loc[[17, 1234, 4321], "age"] = -1
    current.loc[[2500, 3600], "customer_id"] = current.loc[[10, 20], "customer_id"].to_numpy()
    current["tenure_months"] = current["tenure_months"].astype(object)
    current.loc[777, "tenure_months"] = "n/a"

    reference.to_csv(HERE / "reference.csv", index=False, lineterminator="\n")
    current.to_csv(HERE / "current.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
