"""The judge stage: findings in, a verdict out: overall status and counts (verdict), root
causes (causes), mutes, a baseline's changes, and escalation from a report."""
