"""Errors that carry a message meant for the person using the dashboard."""


class UserError(Exception):
    """A problem with something the user gave us; str(error) is one sentence saying what is wrong and what to do."""


class ImageError(UserError):
    """An uploaded or generated image cannot be used (unreadable, corrupt, too large, wrong shape)."""


class ModelError(UserError):
    """An uploaded or selected model cannot be used (unreadable, wrong input shape, wrong outputs)."""
