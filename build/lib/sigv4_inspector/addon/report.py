"""The JSON report (``sigv4_report``): one line per AWS flow, the record of report.md.

Lines are written in batches and flushed within FLUSH_S (and at exit), so a crash loses at
most the last fraction of a second. The file is created 0600. A path that cannot work is an
option error at start-up; a write that fails later (a full disk) gives one warning and no
traceback, traffic goes on, and at exit the addon says how many records were lost.
"""

from __future__ import annotations

import asyncio
import logging

from sigv4_inspector.addon.state import State
from sigv4_inspector.runtime.reportfile import ReportFile, ReportPathError

log = logging.getLogger("sigv4")

FLUSH_S = 0.2


class Report:
    name = "sigv4_report"

    def __init__(self, state: State) -> None:
        self.state = state
        self._path = ""
        self._timer = False
        self._warned = False

    def configure(self, updated: set[str]) -> None:
        path = self.state.settings.report
        if path == self._path and (self.state.report is not None or not path):
            return
        self._close()
        self._path = path
        if path:
            try:
                self.state.report = ReportFile(path)
            except ReportPathError as exc:
                log.error("sigv4: sigv4_report: %s", exc)
                self._path = ""

    def write(self, line: str) -> None:
        report = self.state.report
        if report is None:
            return
        report.write(line)
        self._after_write(report)
        if self._timer:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (tests, scripts): flush now
            self.flush()
            return
        self._timer = True
        loop.call_later(FLUSH_S, self.flush)

    def flush(self) -> None:
        self._timer = False
        report = self.state.report
        if report is not None:
            report.flush()
            self._after_write(report)

    def _after_write(self, report: ReportFile) -> None:
        if report.error and not self._warned:
            self._warned = True
            log.warning(
                "sigv4: %s; records are no longer written (traffic is not affected)", report.error
            )

    def done(self) -> None:
        self._close()

    def _close(self) -> None:
        report, self.state.report = self.state.report, None
        if report is None:
            return
        report.close()
        self._after_write(report)
        if report.lost:
            log.warning("sigv4: %d record(s) could not be written to %s", report.lost, report.path)
