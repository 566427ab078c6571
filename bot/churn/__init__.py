"""The churn review: who left in a period, why, what they had in common, and whether the score saw it coming."""
