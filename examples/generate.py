#!/usr/bin/python3
"""Makes the demo: examples/model.onnx, examples/baseline.onnx and examples/test.csv.

A synthetic customer-churn problem with realistic columns. The candidate is a random forest with
50 trees of depth 6 (skl2onnx defaults: input `input` float [N, 9] in FEATURES order,
`output_label` int64 0/1, `output_probability` through ZipMap); the baseline is the "previous
release", a forest of 20 trees of depth 4 on the same features, about 2.5 points less accurate.
`region` is a slice column, not a model feature; `latam` is deliberately tiny (about 40 rows).
Expected output: accuracy 0.8744 (model) and 0.8490 (baseline), churn rate 0.29.

    /usr/bin/python3 examples/generate.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # no __pycache__ next to the committed scripts
sys.path.insert(0, str(HERE.parent / "scripts" / "fixtures"))
import onnx_convert as oc  # noqa: E402

FEATURES = [
    "tenure_months", "monthly_charges", "total_charges", "contract_months", "num_products",
    "support_tickets", "days_since_last_login", "satisfaction_score", "age",
]
REGIONS = ["emea", "north_america", "apac", "latam"]
REGION_SHARE = [0.45, 0.37, 0.172, 0.008]


def customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    contract = rng.choice([1, 12, 24], n, p=[0.5, 0.3, 0.2])
    tenure = np.clip(np.round(rng.gamma(1.6, 14, n) * (1 + contract / 24)), 1, 72).astype(int)
    products = rng.choice([1, 2, 3, 4], n, p=[0.45, 0.3, 0.17, 0.08])
    monthly = np.round(18 + 22 * products + rng.normal(0, 12, n).clip(-15, 40), 2)
    total = np.round(monthly * tenure * rng.uniform(0.93, 1.02, n), 2)
    tickets = rng.poisson(0.6 + 1.2 * (monthly > 85), n)
    last_login = np.round(rng.exponential(9, n), 1)
    satisfaction = np.clip(np.round(rng.normal(7, 1.8, n) - 0.5 * tickets, 1), 1, 10)
    age = np.clip(np.round(rng.normal(44, 14, n)), 18, 90).astype(int)

    logit = (
        -0.3
        - 1.5 * (contract == 12) - 2.6 * (contract == 24)
        - 0.05 * tenure
        + 0.022 * (monthly - 60)
        - 0.45 * (products - 1)
        + 0.8 * tickets
        + 0.09 * last_login
        - 0.45 * (satisfaction - 7)
        + 0.012 * np.abs(age - 40)
    )
    churned = (logit + rng.logistic(0, 0.5, n) > 0).astype(int)
    region = rng.choice(REGIONS, n, p=REGION_SHARE)
    return pd.DataFrame({
        "region": region, "tenure_months": tenure, "monthly_charges": monthly,
        "total_charges": total, "contract_months": contract, "num_products": products,
        "support_tickets": tickets, "days_since_last_login": last_login,
        "satisfaction_score": satisfaction, "age": age, "churned": churned,
    })


def main():
    train = customers(20_000, seed=1)
    test = customers(5_000, seed=2)
    test.to_csv(HERE / "test.csv", index=False, lineterminator="\n")
    test = pd.read_csv(HERE / "test.csv")  # predict on exactly what the file holds

    X, y = train[FEATURES].to_numpy(np.float32), train["churned"]
    model = RandomForestClassifier(n_estimators=50, max_depth=6, random_state=0, n_jobs=-1).fit(X, y)

    baseline = clone(model).set_params(n_estimators=20, max_depth=4).fit(X, y)

    onnx.save(oc.convert_tree_classifier(model, len(FEATURES), zipmap=True, name="churn_rf"),
              str(HERE / "model.onnx"))
    onnx.save(oc.convert_tree_classifier(baseline, len(FEATURES), zipmap=True, name="churn_rf_v1"),
              str(HERE / "baseline.onnx"))

    X_test = test[FEATURES].to_numpy(np.float32)
    for name, m in (("model", model), ("baseline", baseline)):
        acc = accuracy_score(test["churned"], m.predict(X_test))
        print(f"{name}.onnx accuracy on test.csv: {acc:.4f}")
    print("churn rate:", round(test["churned"].mean(), 3),
          "| region rows:", test["region"].value_counts().to_dict())


if __name__ == "__main__":
    main()
