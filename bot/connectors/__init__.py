"""Data connectors: pull accounts and metrics from HTTP APIs (`healthbot sync`), accept pushed metrics."""
