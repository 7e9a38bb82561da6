"""Times as GCP writes them: RFC 3339, named once (the rules, their operators and recordings read them)."""

from __future__ import annotations

import datetime as dt


def parse_rfc3339(text: str) -> dt.datetime:
    """'2027-02-14T09:12:33Z' (or any ISO 8601 time) as an aware datetime; one without a zone is UTC.

    Raises ValueError for text that is not such a time.
    """
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
