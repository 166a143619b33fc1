"""Carol's secret module: the room pins its SHA-256, nobody else reads it.

summarize(tables) takes the sales tables as CSV bytes and returns the
summary as CSV bytes: revenue and Carol's estimate of profit per region.
"""
import io

import pandas as pd

# Carol's secret: the margin she estimates for each region.
MARGINS = {"north": 0.31, "south": 0.27}
DEFAULT_MARGIN = 0.2


def summarize(tables):
    sales = pd.concat([pd.read_csv(io.BytesIO(t)) for t in tables], ignore_index=True)
    sales["profit"] = sales["revenue"] * sales["region"].map(MARGINS).fillna(DEFAULT_MARGIN)
    summary = sales.groupby("region", as_index=False)[["revenue", "profit"]].sum()
    return summary.sort_values("region").to_csv(index=False, float_format="%.2f").encode()
