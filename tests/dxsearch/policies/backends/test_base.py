"""What both backends share: the cut at the first stop string."""

from __future__ import annotations

from dxsearch.policies.backends.base import cut_at_first_stop
from dxsearch.protocol import CLOSING_TAGS


def test_cut_at_first_stop() -> None:
    assert cut_at_first_stop("<reason>a</reason><match>b</match>", CLOSING_TAGS) == ("<reason>a</reason>", "</reason>")
    assert cut_at_first_stop("abc", CLOSING_TAGS) == ("abc", None)
    assert cut_at_first_stop("xab", ["a", "ab"]) == ("xab", "ab")
