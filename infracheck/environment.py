"""The environment variables infracheck reads, named once: for `--help`, and for the
catalog's "did you mean" when an INFRACHECK_* variable is misspelt.

Kept apart from catalog.py so that `infracheck --help` can list them without
loading the catalog.
"""

PREFIX = "INFRACHECK_"  # INFRACHECK_<NAME> sets a profile name

VARIABLES = {
    "INFRACHECK_NOW": "judge dates (certificate expiry) as of this ISO 8601 time, e.g. to reproduce a past run",
    "INFRACHECK_CA_BUNDLE": "a PEM file of CAs the TLS/HTTPS/WebSocket probes trust besides the system's",
    "INFRACHECK_RESOLVE": "HOST=IP[:PORT],... where the probes connect instead of DNS (like curl --resolve)",
}
