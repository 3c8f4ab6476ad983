"""Errors that carry a message meant for the person using the dashboard."""


class UserError(Exception):
    """A problem with something the user gave us; str(error) is one sentence saying what is wrong and what to do."""


class ImageError(UserError):
    """An uploaded or generated image cannot be used (unreadable, corrupt, too large, wrong shape)."""


class ModelError(UserError):
    """An uploaded or selected model cannot be used (unreadable, wrong input shape, wrong outputs)."""


class UntrustedModelError(ModelError):
    """A model that would run code stored in its file. `reason` says why; the message ends with how to allow it,
    by default the command line's switch; other front ends name their own with `allowed_by`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(self.allowed_by("--trusted"))

    def allowed_by(self, switch: str) -> str:
        return f"{self.reason}; load it only if you trust its author, by marking it trusted ({switch})."


class MethodError(UserError, ValueError):
    """An explanation method or one of its parameters cannot be used as given (unknown name, wrong type, out of
    range). Also a ValueError, as these errors were before they had a class of their own."""
