"""The one error type of recording input and output.

Every problem with a recording (a bag, a video file, a folder of frames) or with where results
should go is a :class:`RecordingError` whose message says what is wrong and, where it helps,
which file: the commands print it on one line and exit with status 2.
"""

from __future__ import annotations


class RecordingError(RuntimeError):
    """A recording or an output location cannot be used; the message says why."""
