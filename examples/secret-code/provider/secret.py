"""Carol's proprietary risk model. Only Carol has this file; the room pins its
SHA-256, and the enclave refuses any other bytes for the code node."""

MODEL = "carol-risk-v3"

# The secret: weights Carol does not want anyone to see.
_WEIGHTS = {"income": -0.000008, "debt": 0.00002, "age": -0.004}
_BIAS = 0.85


def score(row):
    """Risk between 0 and 1 for one applicant (a dict of column -> value)."""
    z = _BIAS
    for column, weight in _WEIGHTS.items():
        z += weight * float(row[column])
    return round(min(1.0, max(0.0, z)), 4)
