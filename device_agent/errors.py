class AgentError(Exception):
    """A problem with the bundle, an artifact or the device, explained in one line."""
