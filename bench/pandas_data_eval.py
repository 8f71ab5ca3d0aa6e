#!/usr/bin/python3
"""Reference for the validate-data benchmark: what a team would write with pandas and SciPy.

    /usr/bin/python3 bench/pandas_data_eval.py DATA.csv REFERENCE.csv SCHEMA.json

read_csv both files; per column: null count, range or enum check against the schema; drift with
ks_2samp (numeric) or chi2_contingency (categorical). Prints one JSON line:
    {"rows": ..., "seconds": ..., "failed_checks": ..., "drifted": ..., "peak_rss_mb": ...}
"""

from __future__ import annotations

import json
import resource
import sys
import time

import pandas as pd
from scipy.stats import chi2_contingency, ks_2samp


def main():
    data_path, reference_path, schema_path = sys.argv[1:4]
    schema = json.load(open(schema_path))
    t0 = time.perf_counter()
    data = pd.read_csv(data_path)
    reference = pd.read_csv(reference_path)
    failed = 0
    drifted = []
    for field in schema["fields"]:
        name, c = field["name"], field.get("constraints", {})
        col = data[name]
        failed += int(col.isna().sum() > 0 and c.get("required", False))
        if field["type"] == "number":
            failed += int(((col < c["minimum"]) | (col > c["maximum"])).sum() > 0)
            p = ks_2samp(col.dropna(), reference[name].dropna()).pvalue
        else:
            failed += int((~col.isin(c["enum"]) & col.notna()).sum() > 0)
            table = pd.crosstab(pd.concat([col, reference[name]]), [0] * len(col) + [1] * len(reference[name]))
            p = chi2_contingency(table.to_numpy())[1]
        if p < 0.05:
            drifted.append(name)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": len(data), "seconds": round(seconds, 3), "failed_checks": failed, "drifted": drifted, "peak_rss_mb": round(rss, 1)}))


if __name__ == "__main__":
    main()
