class AgentError(Exception):
    """A problem with the bundle, an artifact or the device, explained in one line."""


class UsageError(AgentError):
    """An option the agent cannot honour (out of range, unknown name, a resume that does not match); nothing
    is measured or written."""
