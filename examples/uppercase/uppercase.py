#!/usr/bin/env python3
"""Upper-case the text file mounted at /input/text.txt into /output/upper.txt."""
import os

INPUT = "/input/text.txt"
OUTPUT_DIR = "/output"


def main():
    with open(INPUT, encoding="utf-8", errors="surrogateescape") as f:
        text = f.read()
    os.makedirs(OUTPUT_DIR, exist_ok=True)
    with open(os.path.join(OUTPUT_DIR, "upper.txt"), "w", encoding="utf-8",
              errors="surrogateescape") as f:
        f.write(text.upper())
    print(f"upper-cased {len(text)} characters")


if __name__ == "__main__":
    main()
