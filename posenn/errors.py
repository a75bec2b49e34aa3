"""The error users see: one clear message, exit code 2, no traceback."""


class PosennError(Exception):
    """Bad input from the user: a missing file, a wrong config value, unusable labels.

    The message names the file, the field and what was expected. The command line prints it
    alone and exits with code 2.
    """
