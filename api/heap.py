"""Keep the cyclic garbage collector off what warm-up loaded: :func:`freeze_warm_heap`.

Why: a warmed server holds millions of long-lived objects (the index's stores, HPO, the term lookup;
2.3 million on the LPO index). CPython runs a full collection once the objects that survived younger
collections reach a quarter of the old generation, and a full collection walks every object while
holding the GIL: about 0.85 s on that heap, during which no other request moves. A request that
allocates many objects at once (a 1 MB FHIR bundle parses into some 100,000) brings that collection
around every few requests, so one client sending big bodies stalled everyone else (issue 16:
``bench/bench_bundle_latency.py``, small requests ~16x slower). ``gc.freeze`` moves every object alive
now to a permanent generation that collections skip, so a full collection walks only what requests
made since. Reference counting still frees frozen objects; only cycles among them are never collected,
which is why it runs once, after warm-up, in the serving process alone (not in apps made by tests).
"""

from __future__ import annotations

import gc


def freeze_warm_heap() -> int:
    """Collect the garbage of warm-up, then freeze what is left; returns the number of objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
