"""What uvicorn logs about a client's broken input, reworded for the server log.

uvicorn closes a WebSocket connection whose text frame is not UTF-8 with code 1007, as RFC 6455
asks, and logs it as an ERROR with a traceback (`logger.exception`), which reads like a crash
of the server. `ClientMistakes`, a filter on uvicorn's `uvicorn.error` logger, turns that
record into one WARNING line without the traceback; every other record passes unchanged.
"""

from __future__ import annotations

import logging

__all__ = ["ClientMistakes"]

_NOT_UTF8 = "Invalid UTF-8 sequence received from client."


class ClientMistakes(logging.Filter):
    """Rewrite uvicorn's record of a text frame that is not UTF-8 as a one-line warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _NOT_UTF8 and record.levelno == logging.ERROR:
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
            record.msg = (
                "a WebSocket client sent a text frame that is not UTF-8: closed the "
                "connection with 1007 (invalid frame payload data)"
            )
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True
