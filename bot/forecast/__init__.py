"""The churn forecast: expected churned accounts and MRR churn for a period, with an interval, per segment;
stored, and checked against what happened."""
