"""casebook logreg against scikit-learn's LogisticRegression (default settings).

For each table: one stratified 80/20 split (random_state=0) written as
train/test CSVs; scikit-learn fits a standard pipeline (mean/most-frequent
imputation, standardisation, one-hot) with LogisticRegression(); casebook runs
`logreg train train.csv --holdout 0` then `logreg eval MODEL test.csv`.
Then fit time on a 100 000 x 50 table, optimiser only on both sides.

Needs scikit-learn, pandas and palmerpenguins (pip). Usage:
    python3 bench/logreg_vs_sklearn.py [path/to/casebook]
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

CASEBOOK = sys.argv[1] if len(sys.argv) > 1 else "target/release/casebook"


def tables():
    for name, loader in [("breast-cancer", datasets.load_breast_cancer), ("wine", datasets.load_wine),
                         ("iris", datasets.load_iris), ("digits", datasets.load_digits)]:
        b = loader(as_frame=True)
        df = b.frame.rename(columns={"target": "label"})
        df["label"] = [str(b.target_names[i]) if hasattr(b, "target_names") else str(i) for i in df["label"]]
        yield name, df, "label"
    from palmerpenguins import load_penguins
    yield "penguins", load_penguins(), "species"


def sklearn_accuracy(train, test, target):
    features = [c for c in train.columns if c != target]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(train[c])]
    categorical = [c for c in features if c not in numeric]
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), categorical),
    ])
    model = make_pipeline(pre, LogisticRegression())
    model.fit(train[features], train[target])
    return (model.predict(test[features]) == test[target]).mean()


def casebook(args, cwd):
    out = subprocess.run([os.path.abspath(CASEBOOK)] + args, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"casebook {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def main():
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, df, target in tables():
            df = df[df[target].notna()]
            train, test = train_test_split(df, test_size=0.2, stratify=df[target], random_state=0)
            train.to_csv(f"{work}/{name}-train.csv", index=False)
            test.to_csv(f"{work}/{name}-test.csv", index=False)
            sk = sklearn_accuracy(train, test, target)
            casebook(["logreg", "train", f"{name}-train.csv", "--target", target, "--holdout", "0", "--run", name, "--quiet"], work)
            out = casebook(["logreg", "eval", f"runs/{name}/model.casebook", f"{name}-test.csv", "--run", f"{name}-eval", "--quiet"], work)
            cb = float(re.search(r"accuracy ([0-9.]+)%", out).group(1)) / 100
            rows.append((name, len(train), len(test), sk, cb))

        print(f"{'table':<14} {'train':>6} {'test':>5} {'sklearn':>9} {'casebook':>9} {'diff (pts)':>10}")
        for name, ntr, nte, sk, cb in rows:
            print(f"{name:<14} {ntr:>6} {nte:>5} {100*sk:>8.2f}% {100*cb:>8.2f}% {100*(cb-sk):>+10.2f}")

        # Fit time on 100 000 x 50 (binary), optimiser only.
        rng = np.random.default_rng(0)
        x = rng.standard_normal((100_000, 50))
        w = rng.standard_normal(50)
        y = (rng.random(100_000) < 1 / (1 + np.exp(-(x @ w) / 3))).astype(int)
        big = pd.DataFrame(x, columns=[f"x{i}" for i in range(50)])
        big["y"] = y
        big.to_csv(f"{work}/big.csv", index=False)
        xs = StandardScaler().fit_transform(x)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            LogisticRegression().fit(xs, y)
            times.append(time.perf_counter() - t)
        sk_fit = min(times)
        cb_fits = []
        for i in range(3):
            casebook(["logreg", "train", "big.csv", "--target", "y", "--holdout", "0", "--run", f"big{i}", "--quiet"], work)
            cb_fits.append(json.load(open(f"{work}/runs/big{i}/metrics.json"))["fit"]["seconds"])
        cb_fit = min(cb_fits)
        print(f"\nfit 100000 x 50: sklearn lbfgs {sk_fit:.3f} s, casebook L-BFGS {cb_fit:.3f} s, casebook/sklearn = {cb_fit/sk_fit:.2f}x")


if __name__ == "__main__":
    main()
