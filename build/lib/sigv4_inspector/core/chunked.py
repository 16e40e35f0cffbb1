"""Incremental decoder for S3's ``aws-chunked`` content encoding (sans-IO, h11 style).

Feed it the body bytes in any slicing; it returns events. The same code serves the
buffered path (one ``feed``) and the streaming path (one ``feed`` per network chunk)::

    <hex-size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=<sig>]\\r\\n
    [<trailer-name>:<value>\\r\\n ...][x-amz-trailer-signature:<sig>\\r\\n]\\r\\n

Events are tuples (cheap on 1 GiB uploads): ``("chunk", index, size, signature|None)``,
``("data", memoryview)``, ``("chunk_end", index)``, ``("trailer", name, value)``,
``("end",)``, ``("error", message)``. After an error the decoder ignores further input.
"""

from __future__ import annotations

from typing import Any

Event = tuple[Any, ...]

MAX_LINE = 8192  # a chunk header or trailer line longer than this is malformed
MAX_TRAILERS = 64

_HEADER, _DATA, _DATA_CRLF, _TRAILER, _DONE, _ERROR = range(6)


class AwsChunkedDecoder:
    """State machine over the aws-chunked framing."""

    def __init__(self) -> None:
        self._state = _HEADER
        self._buf = bytearray()
        self._remaining = 0
        self._index = -1
        self.decoded_length = 0
        self.trailers: list[tuple[str, str]] = []
        self.error: str | None = None
        self.extra_bytes = 0
        self._raw: bytes | None = None

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def _fail(self, msg: str, out: list[Event]) -> None:
        self._state = _ERROR
        self.error = msg
        out.append(("error", msg))

    def _take_line(self, data: memoryview, pos: int, out: list[Event]) -> tuple[bytes | None, int]:
        """Return (line without CRLF, new position), or (None, position) when more input is
        needed (the partial line is kept in the buffer) or the line is too long."""
        if self._buf:
            prev = len(self._buf)
            seg = bytes(data[pos : pos + MAX_LINE + 2])
            self._buf += seg
            idx = self._buf.find(b"\r\n", max(0, prev - 1))
            if idx < 0:
                if len(self._buf) > MAX_LINE:
                    self._fail(f"line longer than {MAX_LINE} bytes in aws-chunked framing", out)
                return None, pos + len(seg)
            line = bytes(self._buf[:idx])
            self._buf.clear()
            return line, pos + idx + 2 - prev
        raw = self._raw
        if raw is not None:  # bytes input: find the line end without copying around it
            end = raw.find(b"\r\n", pos, pos + MAX_LINE + 2)
            if end >= 0:
                return raw[pos:end], end + 2
            seg = raw[pos : pos + MAX_LINE + 2]
        else:
            # chunk-header lines are short: look in a small window before copying 8 KiB
            seg = bytes(data[pos : pos + 160])
            idx = seg.find(b"\r\n")
            if idx < 0 and len(seg) == 160:
                seg = bytes(data[pos : pos + MAX_LINE + 2])
                idx = seg.find(b"\r\n")
            if idx >= 0:
                return seg[:idx], pos + idx + 2
        if len(seg) > MAX_LINE:
            self._fail(f"line longer than {MAX_LINE} bytes in aws-chunked framing", out)
            return None, len(data)
        self._buf += seg
        return None, pos + len(seg)

    def feed(self, chunk: bytes | memoryview) -> list[Event]:
        out: list[Event] = []
        self._raw = chunk if isinstance(chunk, bytes) else None
        data = memoryview(chunk)
        pos, n = 0, len(data)
        while pos < n and self._state not in (_ERROR,):
            st = self._state
            if st == _DATA:
                take = min(self._remaining, n - pos)
                out.append(("data", data[pos : pos + take]))
                pos += take
                self._remaining -= take
                self.decoded_length += take
                if self._remaining == 0:
                    self._state = _DATA_CRLF
            elif st == _DATA_CRLF:
                need = 2 - len(self._buf)
                self._buf += data[pos : pos + need]
                pos += min(need, n - pos)
                if len(self._buf) == 2:
                    if bytes(self._buf) != b"\r\n":
                        self._fail(
                            f"chunk {self._index} data is not followed by CRLF (size field wrong?)",
                            out,
                        )
                        break
                    self._buf.clear()
                    out.append(("chunk_end", self._index))
                    self._state = _HEADER
            elif st == _HEADER:
                line, pos = self._take_line(data, pos, out)
                if line is None:
                    continue
                self._parse_header(line, out)
            elif st == _TRAILER:
                line, pos = self._take_line(data, pos, out)
                if line is None:
                    continue
                if not line:
                    self._state = _DONE
                    out.append(("end",))
                    continue
                name, colon, value = line.decode("utf-8", "replace").partition(":")
                if not colon:
                    self._fail(f"trailer line {line[:40]!r} has no ':'", out)
                    break
                if len(self.trailers) >= MAX_TRAILERS:
                    self._fail("too many trailer lines", out)
                    break
                self.trailers.append((name.strip().lower(), value.strip()))
                out.append(("trailer", name.strip().lower(), value.strip()))
            elif st == _DONE:
                self.extra_bytes += n - pos
                pos = n
        return out

    def _parse_header(self, line: bytes, out: list[Event]) -> None:
        text = line.decode("ascii", "replace")
        size_s, _, ext = text.partition(";")
        try:
            size = int(size_s.strip(), 16)
            if size_s.strip() == "" or size < 0:
                raise ValueError
        except ValueError:
            self._fail(f"chunk header {text[:60]!r} does not start with a hex size", out)
            return
        sig: str | None = None
        if ext:
            for item in ext.split(";"):
                k, _, v = item.partition("=")
                if k.strip() == "chunk-signature":
                    sig = v.strip()
        self._index += 1
        out.append(("chunk", self._index, size, sig))
        if size == 0:
            out.append(("chunk_end", self._index))
            self._state = _TRAILER
        else:
            self._remaining = size
            self._state = _DATA

    def finish(self) -> list[Event]:
        """Call at end of body; reports truncation."""
        out: list[Event] = []
        if self._state not in (_DONE, _ERROR):
            if self._state == _TRAILER and not self._buf:
                # a final chunk without the closing empty line: accept what we have
                self._state = _DONE
                out.append(("end",))
            else:
                self._fail("body ended inside the aws-chunked framing (truncated upload)", out)
        return out
