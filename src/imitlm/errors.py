"""User-facing errors: the CLI prints these as one line and exits with code 2 (no traceback unless --debug)."""


class UserError(ValueError):
    """A mistake in the user's input (data, config, flags) with a message that names the problem and the fix."""
