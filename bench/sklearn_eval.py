#!/usr/bin/python3
"""Reference (a) for the evaluation benchmark: what a team would run without mlgate.

    /usr/bin/python3 bench/sklearn_eval.py DATA.csv MODEL.joblib LABEL

Times pd.read_csv + model.predict + accuracy_score (model loading included, interpreter and
import start-up excluded) and prints one JSON line:
    {"rows": ..., "seconds": ..., "accuracy": ..., "peak_rss_mb": ...}
peak_rss_mb is the process's peak resident set size (getrusage ru_maxrss, KiB on Linux).
"""

from __future__ import annotations

import json
import resource
import sys
import time

import joblib
import pandas as pd
from sklearn.metrics import accuracy_score


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    data, model_path, label = sys.argv[1:]
    t0 = time.perf_counter()
    model = joblib.load(model_path)
    df = pd.read_csv(data)
    y = df.pop(label)
    accuracy = accuracy_score(y, model.predict(df))
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": len(y), "seconds": round(seconds, 3),
                      "accuracy": round(float(accuracy), 6), "peak_rss_mb": round(peak, 1)}))


if __name__ == "__main__":
    main()
