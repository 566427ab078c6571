"""The command line's progress bars: tqdm's, with its label and rate worded in the CLI's language.

tqdm writes "label: 40%|...| 3/9 [00:01<00:02, 2.50day/s]" with the colon and the "/s", "s/" of its rates built in;
`Bar` words them through prompts/cli.toml `progress.label`, `per_second` and `seconds_per` (English as tqdm's own).
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from prompts import say


class Bar(tqdm):
    """A tqdm bar whose label's colon and rate units speak the current language."""

    @staticmethod
    def format_meter(n: float, total: float, elapsed: float, *args: Any, **kwargs: Any) -> str:
        text = str(tqdm.format_meter(n, total, elapsed, *args, **kwargs))
        unit = str(kwargs.get("unit", "it"))
        desc = str(kwargs.get("prefix") or "")
        if desc and text.startswith(desc + ": "):
            text = say("cli.progress.label", desc=desc) + text[len(desc) + 2 :]
        head, sep, rate = text.rpartition(", ")  # the rate ends the right-hand part: ", 2.50day/s]"
        if sep and rate.endswith(f"{unit}/s]"):
            rate = rate[: -len(f"{unit}/s]")] + say("cli.progress.per_second", unit=unit) + "]"
        elif sep and "s/" + unit + "]" in rate:
            number = rate[: rate.index("s/" + unit + "]")]
            rate = number + say("cli.progress.seconds_per", unit=unit) + "]"
        return head + sep + rate if sep else text
