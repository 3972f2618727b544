"""The errors padseg raises for damaged inputs and bad numbers."""

__all__ = ['UnreadableFileError', 'NonFiniteError']


class UnreadableFileError(OSError):
    """A checkpoint, image or label map that exists but cannot be used; the
    message names the file and what is wrong with it."""


class NonFiniteError(RuntimeError):
    """Training met a non-finite loss, gradient or weight."""
