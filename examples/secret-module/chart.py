"""Public script: revenue per region as a bar chart, /output/revenue.png."""
import matplotlib

matplotlib.use("Agg")  # no display in the sandbox
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

sales = pd.read_csv("/input/sales.csv")
revenue = sales.groupby("region")["revenue"].sum().sort_index()
fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
ax.bar(revenue.index, revenue.values)
ax.set_ylabel("revenue")
ax.set_title("Revenue per region")
fig.tight_layout()
fig.savefig("/output/revenue.png")
