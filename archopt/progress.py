"""Progress reporting into job logs: tqdm redraws become log lines, durations read well."""

from __future__ import annotations

import logging


class LogStream:
    """A file-like sink turning tqdm's refreshes into log lines (readable in a log file)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def write(self, text: str) -> None:
        text = text.strip("\r\n ")
        if text:
            self.logger.info("%s", text)

    def flush(self) -> None:
        pass


def format_duration(seconds: float) -> str:
    """``1h05m`` or ``3m07s``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
