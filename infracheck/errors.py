"""The two ways infracheck refuses to run, apart from the model so that a command
that never loads it (`list`, `explain` from the cache) can still catch them."""


class CannotRun(Exception):
    """infracheck cannot run as asked; the message is the one line a person reads."""


class CatalogError(CannotRun):
    """A catalog or profile problem, worded for the person who edits the file."""
