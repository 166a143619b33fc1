#!/usr/bin/env python3
"""Public entry script: everyone can read it in the room definition.

It imports Carol's secret module, mounted from the code node at
/input/secret.py, scores every applicant in /input/data.csv and writes
/output/result.json. It never prints the model or the rows.
"""
import csv
import json
import os
import sys

sys.path.insert(0, "/input")
import secret  # noqa: E402  (the code node, mounted at /input/secret.py)


def main():
    scores = {}
    with open("/input/data.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            scores[row["id"]] = secret.score(row)
    result = {
        "model": secret.MODEL,
        "count": len(scores),
        "mean_score": round(sum(scores.values()) / len(scores), 4) if scores else None,
        "scores": scores,
    }
    os.makedirs("/output", exist_ok=True)
    with open("/output/result.json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
