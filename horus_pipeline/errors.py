"""The pipeline's one exception base: commands print its message and exit non-zero, no traceback."""


class PipelineError(Exception):
    """A problem the user can fix; the message says what and how."""
