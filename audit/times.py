"""One time convention for every audit filter, in the API and the ``audit`` command line alike.

An instant is ISO 8601 with its zone: ``2026-11-26T09:30:00Z``, ``2026-11-26T10:30+01:00``, or a date
with a zone (``2026-11-26Z``, ``2026-11-26+01:00``), which is that day's midnight there. A time without a
zone is refused rather than guessed: "09:30" means something else in every hospital. The log itself
stores UTC (``created_at`` ends in ``Z``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

#: What every refusal says is wanted.
EXPECTED = "ISO 8601 with a zone, e.g. 2026-11-26T09:30:00Z, 2026-11-26T10:30:00+01:00 or 2026-11-26Z"
#: A date followed by a zone and nothing else (Python's parser reads the date but not the zone).
_DATE_WITH_ZONE = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|z|[+-]\d{2}:?\d{2})")
_LONGEST = 64


class TimeFormatError(ValueError):
    """A time that is not an instant of :data:`EXPECTED`; the message says what was wrong and what is wanted."""


def parse_instant(value: str, name: str = "time") -> datetime:
    """The aware datetime ``value`` names; :class:`TimeFormatError` for anything else (naive included)."""
    text = value.strip()
    if not text or len(text) > _LONGEST:
        raise TimeFormatError(f"{name}: not an ISO 8601 time; give {EXPECTED}")
    date_only = _DATE_WITH_ZONE.fullmatch(text)
    if date_only is not None:
        zone = date_only.group(2)
        text = f"{date_only.group(1)}T00:00:00{'+00:00' if zone in ('Z', 'z') else zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TimeFormatError(f"{name}: not an ISO 8601 time ({value!r}); give {EXPECTED}") from None
    if parsed.tzinfo is None:
        raise TimeFormatError(
            f"{name}: {value!r} has no zone, and times are not guessed; add Z for UTC or an offset ({EXPECTED})"
        )
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise TimeFormatError(f"{name}: {value!r} is outside the years 1 to 9999 once converted to UTC") from None
    return parsed
