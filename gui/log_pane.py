"""Log pane: the application log mirrored into a read-only text view."""

from __future__ import annotations

import logging

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QPlainTextEdit, QWidget

MAX_LINES = 5000


class _Bridge(QObject):
    message = pyqtSignal(str)


class QtLogHandler(logging.Handler):
    """A logging handler that forwards formatted records through a Qt signal (thread-safe)."""

    def __init__(self) -> None:
        super().__init__()
        self.bridge = _Bridge()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                            "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bridge.message.emit(self.format(record))
        except RuntimeError:  # the widget is gone (application closing)
            pass


class LogPane(QPlainTextEdit):
    """Read-only view of the log; attaches a handler to the root logger while it lives."""

    def __init__(self, level: int = logging.INFO, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LINES)
        self.handler = QtLogHandler()
        self.handler.setLevel(level)
        self.handler.bridge.message.connect(self.appendPlainText)
        logging.getLogger().addHandler(self.handler)
        if logging.getLogger().level > level or logging.getLogger().level == logging.NOTSET:
            logging.getLogger().setLevel(level)

    def detach(self) -> None:
        """Stop mirroring the log (call before the widget is destroyed)."""
        logging.getLogger().removeHandler(self.handler)
