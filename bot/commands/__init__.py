"""The `healthbot` commands, one module per group; `bot/cli.py` parses the command line and calls them."""
