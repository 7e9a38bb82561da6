"""The escalation plan's expected report (seed section 3.2), shared by the tests that check it."""

SEED_CRITICAL = [
    "VPC connector state is 'CREATING', expected 'READY'",
    "Cloud SQL instance state is 'MAINTENANCE', expected 'RUNNABLE'",
    "Secret 'database-url' is missing",
    "Secret 'jwt-secret-staging' is missing",
    "Service 'netra-backend-staging' has incorrect VPC connector: ''",
    "Service 'auth-staging' has incorrect VPC egress: 'private-ranges-only'",
]
SEED_WARNINGS = ["Min instances is 1, should be at least 2", "SSL not required - security risk"]
