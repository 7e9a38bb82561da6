"""Keep each dependency in the one module that owns it (STYLE.md: this drifts when nothing checks it)."""

import re
import sys
from pathlib import Path

OWNERS = {
    "sh": {"infracheck/runner/gcloud.py", "infracheck/runner/warm.py"},
    "subprocess": set(),
    # One JMESPath dialect: the journey's expect/wait_for go through rules.query.
    "jmespath": {"infracheck/rules/dialect.py"},
    "colorama": {"infracheck/report/text.py"},
    "cryptography": {"infracheck/runner/probes.py"},
    "websockets": {"infracheck/runner/net.py"},
}

root = Path(__file__).resolve().parents[2]
problems = []
for path in sorted((root / "infracheck").rglob("*.py")):
    rel = path.relative_to(root).as_posix()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = re.match(r"\s*(?:import|from)\s+([a-z_]+)", line)
        if match and match.group(1) in OWNERS and rel not in OWNERS[match.group(1)]:
            problems.append(f"{rel}:{number}: imports {match.group(1)} (only {sorted(OWNERS[match.group(1)]) or 'no module'} may)")
print("\n".join(problems) or "lint: each dependency stays in its own module")
sys.exit(1 if problems else 0)
