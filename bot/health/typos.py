"""The typo step's ranking without scoring every name: rapidfuzz's `WRatio` of the query and each name, the best
first as `process.extract` ranks them (score, then the names' order), at 50,000 names in a fraction of a full pass.

Each name has a ceiling its score cannot pass, from what the query and the name share: their letters and digits
counted (an Indel ratio is at most 2 x the characters in common / the lengths, a partial ratio at most 2c / (m + c)
for the shorter length m), in the three forms WRatio compares (as folded, tokens sorted, tokens sorted once each),
scaled as WRatio scales them; a name that shares a word with the query has none (WRatio's token steps can reach 100).
Names are scored from the highest ceiling down until every name left has a ceiling below the `limit`-th best score:
those can rank no higher, so the `limit` best are exactly the full pass's."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from rapidfuzz import fuzz, process

BINS = 38  # a-z, 0-9, space, anything else (counted together: a ceiling still)
_BIN = np.full(128, BINS - 1, dtype=np.int64)
_BIN[ord("a") : ord("z") + 1] = np.arange(26)
_BIN[ord("0") : ord("9") + 1] = np.arange(26, 36)
_BIN[ord(" ")] = 36
FIRST = 64  # names scored before the ceilings are read: enough for a floor
EPSILON = 1e-9  # a ceiling this close to the floor is scored (float rounding never drops a tie)


def _forms(folded: str) -> tuple[str, str]:
    """The query's or a name's tokens sorted, and sorted once each, joined by one space: what WRatio's token steps
    compare when no token is shared."""
    tokens = folded.split()
    return " ".join(sorted(tokens)), " ".join(sorted(set(tokens)))


def _counts(texts: list[str]) -> np.ndarray:
    """Characters of each text counted per bin: len(texts) x BINS."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    bins = np.where(codes < 128, _BIN[np.minimum(codes, 127)], BINS - 1)
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    return np.bincount(rows * BINS + bins, minlength=len(texts) * BINS).reshape(len(texts), BINS)


def _partial(common: np.ndarray, a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Ceiling of a partial ratio: the shorter text (m) against windows of the longer, at most 2c / (m + c)."""
    m = np.minimum(a, b)
    c = np.minimum(common, m)
    return 200.0 * c / np.maximum(m + c, 1)


class Typos:
    """The folded names (in the order that breaks ties), prepared for `closest`."""

    def __init__(self, folded: list[str]) -> None:
        self.folded = folded
        forms = [_forms(f) for f in folded]
        texts = (folded, [s for s, _ in forms], [u for _, u in forms])
        self._texts = texts
        self._lengths = [np.fromiter(map(len, t), dtype=np.int64, count=len(t)) for t in texts]
        self._counts = [_counts(t) for t in texts]
        holders: defaultdict[str, list[int]] = defaultdict(list)
        for i, f in enumerate(folded):
            for token in set(f.split()):
                holders[token].append(i)
        self._holders = {token: np.array(at, dtype=np.int64) for token, at in holders.items()}

    def ceilings(self, query: str) -> np.ndarray:
        """The most each name can score against `query` (folded), 0-100."""
        if not self.folded:
            return np.zeros(0)
        q_forms = (query, *_forms(query))
        lengths = self._lengths[0]
        longer, shorter = np.maximum(lengths, len(query)), np.minimum(lengths, len(query))
        len_ratio = longer / np.maximum(shorter, 1)
        # WRatio's branches by the length ratio (< 1.5: its token steps; else its partial steps, scaled 0.9 up to 8,
        # then 0.6); at a boundary the larger of both ceilings, whichever way the comparison falls
        near, far = len_ratio < 1.5 - EPSILON, len_ratio > 1.5 + EPSILON
        # near: with no word shared, WRatio is max(ratio, 0.95 x the ratio of the sorted tokens, or of the set's),
        # each a cheap Indel ratio of texts made once per name: the ceiling is the score itself
        ratios = [self._ratios(text, k) for k, text in enumerate(q_forms)]
        ceiling = np.maximum(ratios[0], 0.95 * np.maximum(ratios[1], ratios[2]))
        at = np.flatnonzero(~near)  # far: partial ratios (the costly part of WRatio) bounded by shared characters
        if len(at):
            common = [np.minimum(counts[at], _counts([text])[0]).sum(axis=1) for counts, text in
                      zip(self._counts, q_forms, strict=True)]  # fmt: skip
            q_len = [len(t) for t in q_forms]
            partial = _partial(common[0], q_len[0], lengths[at])
            partial_token = np.maximum(*(_partial(common[k], q_len[k], self._lengths[k][at]) for k in (1, 2)))
            scale = np.where(len_ratio[at] <= 8.0 + EPSILON, 0.9, 0.6)
            bound = np.maximum.reduce([ratios[0][at], scale * partial, 0.95 * scale * partial_token])
            ceiling[at] = np.where(far[at], bound, np.maximum(ceiling[at], bound))
        shared = [self._holders[t] for t in set(query.split()) if t in self._holders]
        if shared:  # a word in common: WRatio's token steps can reach 100
            ceiling[np.concatenate(shared)] = 100.0
        ceiling[shorter == 0] = 0.0  # WRatio of an empty text is 0
        return ceiling

    def _ratios(self, text: str, form: int) -> np.ndarray:
        """fuzz.ratio of `text` and each name's `form` (0: as folded, 1: tokens sorted, 2: sorted once each)."""
        return process.cdist([text], self._texts[form], scorer=fuzz.ratio, processor=None, dtype=np.float64)[0]

    def closest(self, query: str, limit: int) -> list[tuple[float, int]]:
        """(score, position) of the `limit` best names for `query` (folded), best first, ties by position: what
        `process.extract(query, names, scorer=WRatio, processor=None, limit=limit)` returns, not holding the GIL."""
        n = len(self.folded)
        if not n or limit <= 0:
            return []
        scores = np.full(n, np.nan)
        ceiling = self.ceilings(query)
        first = np.argsort(-ceiling, kind="stable")[: max(FIRST, limit)]
        self._score(query, first, scores)
        known = scores[~np.isnan(scores)]
        floor = np.sort(known)[-limit] if len(known) >= limit else -np.inf
        self._score(query, np.flatnonzero(np.isnan(scores) & (ceiling >= floor - EPSILON)), scores)
        scored = np.flatnonzero(~np.isnan(scores))
        best = scored[np.lexsort((scored, -scores[scored]))][:limit]
        return [(float(scores[i]), int(i)) for i in best]

    def _score(self, query: str, at: np.ndarray, scores: np.ndarray) -> None:
        if len(at):
            names = [self.folded[i] for i in at]
            scores[at] = process.cdist([query], names, scorer=fuzz.WRatio, processor=None, dtype=np.float64)[0]
