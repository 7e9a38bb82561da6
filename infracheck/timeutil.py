"""Times as GCP writes them (RFC 3339) and as a person reads a length of time, each named once."""

from __future__ import annotations

import datetime as dt


def parse_rfc3339(text: str) -> dt.datetime:
    """'2027-02-14T09:12:33Z' (or any ISO 8601 time) as an aware datetime; one without a zone is UTC.

    Raises ValueError for text that is not such a time.
    """
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def duration(delta: dt.timedelta) -> str:
    """'3 d 4 h', '1 h 50 min', '12 min': how long, to the precision a person reads."""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        text = f"{days} d {hours} h" if hours else f"{days} d"
    elif hours:
        text = f"{hours} h {mins} min" if mins else f"{hours} h"
    else:
        text = f"{mins} min"
    return text if delta.total_seconds() >= 0 else f"{text} in the future"
