"""Incremental ``multipart/form-data`` parser (RFC 7578 over RFC 2046 §5.1), sans-IO, h11 style.

Feed it the body in any slicing; the streamed and the buffered paths are the same code::

    parser = MultipartParser(form_boundary(content_type) or "", hash_algorithms=("sha256",))
    for chunk in body_chunks:
        parser.feed(chunk)
    form = parser.finish()          # a ParsedForm; never raises, whatever the input

What it keeps, what it does not:

* the form fields (name, value, filename, part Content-Type, order, and whether each came
  after the file part). A value is kept up to ``max_value_bytes`` (default 20480, S3's limit
  on the form data before the file: "The form data and boundaries (excluding the contents
  of the file) cannot exceed 20 KB", AWS "HTML Forms (AWS Signature Version 2)" and
  "Browser-Based Uploads Using POST"; S3 names the bound in its
  ``MaxPostPreDataLengthExceeded`` answer as ``<MaxPostPreDataLengthBytes>20480``,
  waynehoover/s3_direct_upload#45), names and values up to ``max_kept_bytes`` in all
  (64 KiB, so a form over S3's limit can still be read and diagnosed). Beyond either the
  parser stops keeping and sets ``ParsedForm.kept_truncated``;
* the file part (the first ``form-data`` part named ``file``, in any case: "The post
  parameters are case insensitive", AWS "Example: Browser-Based Upload using HTTP POST"):
  its name, filename and Content-Type, its size and, when asked, its digests (hashlib names)
  computed as the bytes pass. The file's content is never kept;
* ``pre_file_bytes``: how many body bytes came before the file's content (the 20 KB rule).

Framing, per RFC 2046 §5.1.1: the body may start with the first delimiter or with a preamble
(ignored; the first delimiter must start within ``MAX_PREAMBLE`` bytes); every later
delimiter is CRLF ``--boundary``; a delimiter line may end in spaces or tabs (transport
padding); the close delimiter adds ``--``; anything after it is the epilogue (counted,
ignored). Lines end in CRLF only. Part headers are parsed for ``Content-Disposition``
(``form-data``, ``name``, ``filename``, and ``filename*`` per RFC 8187 when no ``filename``)
and ``Content-Type``; others are kept by name only. In a quoted parameter value a backslash
escapes only ``"`` and ``\\``; any other backslash is literal, as browsers send Windows paths
(WHATWG HTML escapes ``"`` as ``%22`` and leaves ``\\`` alone).

Bounds (memory stays bounded and time linear whatever the input): boundary length
(``MAX_BOUNDARY``), preamble (``MAX_PREAMBLE``), a header or delimiter line (``MAX_LINE``),
header bytes and count per part, parts kept (``max_parts``), bytes kept
(``max_value_bytes``, ``max_kept_bytes``). Malformed input never raises: the parser enters an error state,
reports a ``FormError`` and ignores the rest (still counting ``body_bytes``). The result is
the same for any chunking of the same body, including one byte at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import unquote_to_bytes

# S3: "The form data and boundaries (excluding the contents of the file) cannot exceed 20 KB"
# (AWS, HTML Forms); the answer names the limit as 20480 bytes (s3_direct_upload#45).
MAX_FORM_BYTES = 20480
MAX_KEPT_BYTES = 65536  # names and values kept in all (a form past S3's limit is still read)
MAX_BOUNDARY = 200  # RFC 2046 allows 70 characters; tolerate longer, but bounded
MAX_PREAMBLE = 20480  # the first delimiter must start within this many bytes
MAX_LINE = 8192  # a part-header or delimiter line, without its CRLF
MAX_PART_HEADER_BYTES = 16384
MAX_HEADERS_PER_PART = 32
MAX_PARTS = 4096  # parts kept; later parts are parsed and counted, not kept
MAX_FILE_META = 1024  # characters kept of the file part's name, filename, content type
# Fields whose values a repr never shows: the client's signature and session token.
SENSITIVE_FIELDS = frozenset({"x-amz-security-token", "x-amz-signature", "signature"})


class FormErrorKind(Enum):
    """Why a body is not well-formed ``multipart/form-data``."""

    BAD_BOUNDARY = "bad-boundary"  # empty, too long, or containing CR/LF
    NO_BOUNDARY = "no-boundary"  # no delimiter within MAX_PREAMBLE bytes
    BAD_DELIMITER = "bad-delimiter"  # a boundary line followed by other characters
    LINE_TOO_LONG = "line-too-long"
    HEADER_TOO_LARGE = "header-too-large"
    BAD_HEADER = "bad-header"
    TRUNCATED = "truncated"  # the body ended before the close delimiter


@dataclass(frozen=True)
class FormError:
    """The first framing error: its kind, one sentence, and the body offset where the
    offending line or structure starts."""

    kind: FormErrorKind
    message: str
    offset: int


@dataclass(frozen=True)
class FormField:
    """A non-file part, as sent. ``value`` is UTF-8 decoded (invalid bytes replaced).
    ``truncated``: the value was cut at the parser's keep bound. ``disposition`` is the
    Content-Disposition type in lower case (``form-data``), ``None`` without the header.
    ``repr`` leaves out the values of ``SENSITIVE_FIELDS``."""

    name: str
    value: str
    index: int
    filename: str | None = None
    content_type: str | None = None
    disposition: str | None = "form-data"
    after_file: bool = False
    truncated: bool = False

    def __repr__(self) -> str:
        value = (
            f"<{len(self.value)} chars, not shown>"
            if self.name.lower() in SENSITIVE_FIELDS
            else repr(self.value)
        )
        return (
            f"FormField(name={self.name!r}, value={value}, index={self.index}, "
            f"filename={self.filename!r}, content_type={self.content_type!r}, "
            f"disposition={self.disposition!r}, after_file={self.after_file}, "
            f"truncated={self.truncated})"
        )


@dataclass(frozen=True)
class FilePart:
    """The file part: what its headers said, its size, and the requested digests (hex,
    by hashlib name). ``complete``: its closing delimiter was seen."""

    name: str
    index: int
    size: int
    filename: str | None = None
    content_type: str | None = None
    digests: Mapping[str, str] = field(default_factory=dict)
    complete: bool = True


@dataclass(frozen=True)
class ParsedForm:
    """Everything the parser learned from one body.

    ``fields`` are the kept non-file parts in order (``after_file`` marks those S3 ignores);
    ``file`` the first part named ``file``; ``file_parts`` how many parts were named
    ``file``; ``parts`` how many parts were seen; ``parts_not_kept`` how many were parsed but
    not kept (bounds); ``pre_file_bytes`` the body offset of the file's content (the whole
    body when there is no file); ``preamble_bytes`` the bytes before the first delimiter
    (``None`` when none was found); ``closed`` whether the close delimiter was seen.
    """

    boundary: str
    fields: tuple[FormField, ...] = ()
    file: FilePart | None = None
    file_parts: int = 0
    parts: int = 0
    parts_not_kept: int = 0
    kept_truncated: bool = False
    pre_file_bytes: int = 0
    preamble_bytes: int | None = None
    epilogue_bytes: int = 0
    body_bytes: int = 0
    closed: bool = False
    error: FormError | None = None

    @property
    def fields_too_large(self) -> bool:
        """The form data before the file exceeds S3's 20480 bytes (MaxPostPreDataLengthExceeded)."""
        return self.pre_file_bytes > MAX_FORM_BYTES

    @property
    def fields_before_file(self) -> tuple[FormField, ...]:
        """The fields S3 reads: "Any fields below it [the file] are ignored" (AWS, HTML Forms)."""
        return tuple(f for f in self.fields if not f.after_file)

    def values(self, name: str, *, include_after_file: bool = False) -> list[str]:
        """Every value sent under ``name`` (compared case-insensitively), in order."""
        low = name.lower()
        return [
            f.value
            for f in self.fields
            if f.name.lower() == low and (include_after_file or not f.after_file)
        ]


@dataclass(frozen=True)
class HeaderValue:
    """A header value split into its main token (lower case) and its parameters (names in
    lower case, first occurrence kept, quoted values unquoted)."""

    main: str
    params: Mapping[str, str]


def parse_header_value(value: str) -> HeaderValue:
    """Split ``type; name=value; name="quoted value"`` (RFC 2045 §5.1, RFC 9110 §5.6.6).
    Linear in the input; malformed pieces are skipped, never raised on."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t;":
            i += 1
        start = i
        while i < n and rest[i] not in "=;":
            i += 1
        pname = rest[start:i].strip().lower()
        if i >= n or rest[i] == ";":
            continue  # a parameter without '=': skipped
        i += 1  # '='
        while i < n and rest[i] in " \t":
            i += 1
        if i < n and rest[i] == '"':
            i += 1
            out: list[str] = []
            while i < n and rest[i] != '"':
                c = rest[i]
                if c == "\\" and i + 1 < n and rest[i + 1] in '"\\':
                    out.append(rest[i + 1])
                    i += 2
                    continue
                out.append(c)
                i += 1
            pval = "".join(out)
            i += 1  # closing quote (or end)
            while i < n and rest[i] != ";":
                i += 1
        else:
            start = i
            while i < n and rest[i] != ";":
                i += 1
            pval = rest[start:i].strip()
        if pname and pname not in params:
            params[pname] = pval
    return HeaderValue(main.strip().lower(), params)


def form_boundary(content_type: str) -> str | None:
    """The boundary of a ``multipart/form-data`` Content-Type (quoted or not); ``None`` for
    another type or a missing or empty boundary."""
    hv = parse_header_value(content_type)
    if hv.main != "multipart/form-data":
        return None
    return hv.params.get("boundary") or None


def _ext_value(value: str) -> str | None:
    """Decode an RFC 8187 ext-value (``UTF-8'lang'percent-encoded``)."""
    charset, sep, rest = value.partition("'")
    _lang, sep2, encoded = rest.partition("'")
    if not sep or not sep2:
        return None
    try:
        return unquote_to_bytes(encoded).decode(charset or "utf-8", "replace")
    except LookupError:
        return None


class _S(Enum):
    PREAMBLE = 0
    DELIM_LINE = 1
    HEADERS = 2
    BODY = 3
    EPILOGUE = 4
    ERROR = 5


@dataclass
class _Part:
    index: int
    name: str
    filename: str | None
    content_type: str | None
    disposition: str | None
    is_file: bool
    keep: bool
    after_file: bool
    value: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    size: int = 0


class MultipartParser:
    """State machine over the ``multipart/form-data`` framing. ``feed`` any chunks, then
    ``finish`` once; see the module docstring."""

    def __init__(
        self,
        boundary: str | bytes,
        *,
        hash_algorithms: Sequence[str] = (),
        max_kept_bytes: int = MAX_KEPT_BYTES,
        max_value_bytes: int = MAX_FORM_BYTES,
        max_parts: int = MAX_PARTS,
        file_field: str = "file",
    ) -> None:
        raw = boundary.encode("utf-8", "replace") if isinstance(boundary, str) else boundary
        self._boundary = raw.decode("utf-8", "replace")
        self._delim = b"\r\n--" + raw
        # A virtual CRLF before the body lets the first delimiter open the body directly.
        self._tail = b"\r\n"
        self._tail_start = -2  # body offset of self._tail[0]
        self._state = _S.PREAMBLE
        self._line = bytearray()
        self._line_start = 0
        self._close_checked = False
        self._fed = 0
        self._hash_names = tuple(hash_algorithms)
        self._max_kept = max_kept_bytes
        self._max_value = max_value_bytes
        self._max_parts = max_parts
        self._file_field = file_field.lower()
        self._kept = 0
        self._headers: list[tuple[str, str]] = []
        self._header_bytes = 0
        self._part: _Part | None = None
        self._hashers: list[tuple[str, hashlib._Hash]] = []
        self._fields: list[FormField] = []
        self._file: FilePart | None = None
        self._file_seen = False
        self._file_parts = 0
        self._parts = 0
        self._parts_not_kept = 0
        self._kept_truncated = False
        self._pre_file: int | None = None
        self._preamble: int | None = None
        self._epilogue = 0
        self._closed = False
        self._error: FormError | None = None
        self._finished: ParsedForm | None = None
        if not raw or len(raw) > MAX_BOUNDARY or b"\r" in raw or b"\n" in raw:
            self._fail(
                FormErrorKind.BAD_BOUNDARY,
                f"the boundary must be 1 to {MAX_BOUNDARY} bytes without CR or LF "
                f"(got {len(raw)} bytes)",
                0,
            )

    # ------------------------------------------------------------------ input

    @property
    def error(self) -> FormError | None:
        return self._error

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Take the next piece of the body (any length, including empty)."""
        n = len(data)
        if n == 0 or self._finished is not None:
            return
        start = self._fed
        self._fed += n
        if self._state is _S.ERROR:
            return
        chunk = data if isinstance(data, bytes) else bytes(data)
        if self._tail:
            buf, base = self._tail + chunk, self._tail_start
        else:
            buf, base = chunk, start
        self._tail = b""
        self._run(buf, base)

    def finish(self) -> ParsedForm:
        """End of body: report truncation and return the result (idempotent)."""
        if self._finished is not None:
            return self._finished
        st = self._state
        if st is _S.PREAMBLE:
            self._fail(
                FormErrorKind.NO_BOUNDARY,
                f"no '--{self._boundary[:60]}' delimiter line in the body",
                0,
            )
        elif st is _S.BODY:
            tail = self._tail
            self._tail = b""
            if tail:
                self._data(tail, 0, len(tail))
            part = self._part
            idx = part.index if part is not None else self._parts - 1
            self._end_part(complete=False)
            self._fail(
                FormErrorKind.TRUNCATED,
                f"the body ended inside part {idx} (no closing boundary)",
                self._fed,
            )
        elif st in (_S.DELIM_LINE, _S.HEADERS):
            self._fail(
                FormErrorKind.TRUNCATED,
                "the body ended inside a boundary line or part headers",
                self._fed,
            )
        self._finished = self._result()
        return self._finished

    # ----------------------------------------------------------------- engine

    def _fail(self, kind: FormErrorKind, message: str, offset: int) -> None:
        if self._error is None:
            self._error = FormError(kind, message, offset)
        self._state = _S.ERROR
        self._tail = b""
        self._line.clear()

    def _run(self, buf: bytes, base: int) -> None:
        pos, end = 0, len(buf)
        delim = self._delim
        dlen = len(delim)
        while pos < end:
            st = self._state
            if st is _S.BODY or st is _S.PREAMBLE:
                if st is _S.PREAMBLE:
                    # the first delimiter must start at a body offset <= MAX_PREAMBLE; the
                    # virtual CRLF sits at offset -2, so its CRLF starts at offset >= -2
                    limit = MAX_PREAMBLE + dlen - base
                    idx = buf.find(delim, pos, max(pos, limit))
                else:
                    idx = buf.find(delim, pos)
                if idx >= 0:
                    if st is _S.BODY:
                        self._data(buf, pos, idx)
                        self._end_part(complete=True)
                    else:
                        self._preamble = max(0, base + idx)
                    pos = idx + dlen
                    self._state = _S.DELIM_LINE
                    self._line.clear()
                    self._line_start = base + pos
                    self._close_checked = False
                    continue
                if st is _S.PREAMBLE and base + end >= MAX_PREAMBLE + dlen:
                    self._fail(
                        FormErrorKind.NO_BOUNDARY,
                        f"no '--{self._boundary[:60]}' delimiter within the first "
                        f"{MAX_PREAMBLE} bytes",
                        0,
                    )
                    return
                # keep the shortest suffix that may begin a delimiter (it starts with CR)
                cut = max(pos, end - (dlen - 1))
                r = buf.find(b"\r", cut)
                keep_from = r if r >= 0 else end
                if st is _S.BODY:
                    self._data(buf, pos, keep_from)
                self._tail = buf[keep_from:]
                self._tail_start = base + keep_from
                return
            if st is _S.DELIM_LINE:
                if not self._close_checked:
                    need = 2 - len(self._line)
                    piece = buf[pos : pos + need]
                    self._line += piece
                    pos += len(piece)
                    if len(self._line) < 2:
                        continue
                    self._close_checked = True
                    if self._line == b"--":
                        self._closed = True
                        self._line.clear()
                        self._state = _S.EPILOGUE
                        continue
                    if self._line == b"\r\n":
                        self._line.clear()
                        self._start_part(base + pos)
                    elif self._line[:1] == b"\n" or self._line == b" \n" or self._line == b"\t\n":
                        self._fail(
                            FormErrorKind.BAD_DELIMITER,
                            "a boundary line ends in a bare LF; multipart lines end in CRLF",
                            self._line_start,
                        )
                        return
                    continue
                line, pos = self._take_line(buf, pos, base)
                if line is None:
                    continue
                if line.strip(b" \t"):
                    self._fail(
                        FormErrorKind.BAD_DELIMITER,
                        f"a boundary line is followed by {line[:40]!r}, not CRLF",
                        self._line_start,
                    )
                    return
                self._start_part(base + pos)
            elif st is _S.HEADERS:
                if not self._line:
                    self._line_start = base + pos
                line, pos = self._take_line(buf, pos, base)
                if line is None:
                    continue
                if not line:
                    self._end_headers(base + pos)
                else:
                    self._header_line(line)
            elif st is _S.EPILOGUE:
                self._epilogue += end - pos
                pos = end
            else:  # _S.ERROR
                return

    def _take_line(self, buf: bytes, pos: int, base: int) -> tuple[bytes | None, int]:
        """The next CRLF-terminated line (without CRLF) and the position after it, or
        (None, position) when more input is needed or the line is too long (error)."""
        line = self._line
        if line.endswith(b"\r") and pos < len(buf) and buf[pos] == 0x0A:
            out = bytes(line[:-1])
            line.clear()
            return out, pos + 1
        room = MAX_LINE + 2 - len(line)
        nl = buf.find(b"\r\n", pos, pos + room)
        if nl >= 0:
            out = bytes(line) + buf[pos:nl]
            line.clear()
            return out, nl + 2
        seg = buf[pos : pos + room]
        line += seg
        if len(line) >= MAX_LINE + 2:
            self._fail(
                FormErrorKind.LINE_TOO_LONG,
                f"a part-header or boundary line is longer than {MAX_LINE} bytes",
                self._line_start,
            )
            return None, len(buf)
        return None, pos + len(seg)

    # ------------------------------------------------------------------ parts

    def _start_part(self, offset: int) -> None:
        self._state = _S.HEADERS
        self._headers = []
        self._header_bytes = 0
        self._line.clear()
        self._line_start = offset

    def _header_line(self, line: bytes) -> None:
        self._header_bytes += len(line) + 2
        if self._header_bytes > MAX_PART_HEADER_BYTES:
            self._fail(
                FormErrorKind.HEADER_TOO_LARGE,
                f"part {self._parts} has more than {MAX_PART_HEADER_BYTES} bytes of headers",
                self._line_start,
            )
            return
        text = line.decode("utf-8", "replace")
        if text[:1] in (" ", "\t") and self._headers:  # obsolete line folding
            name, value = self._headers[-1]
            self._headers[-1] = (name, value + " " + text.strip())
            return
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip() or " " in name:
            self._fail(
                FormErrorKind.BAD_HEADER,
                f"part {self._parts} has a header line without a name and ':': {text[:60]!r}",
                self._line_start,
            )
            return
        if len(self._headers) >= MAX_HEADERS_PER_PART:
            self._fail(
                FormErrorKind.HEADER_TOO_LARGE,
                f"part {self._parts} has more than {MAX_HEADERS_PER_PART} header lines",
                self._line_start,
            )
            return
        self._headers.append((name.lower(), value.strip()))

    def _end_headers(self, content_offset: int) -> None:
        disposition: str | None = None
        name = ""
        filename: str | None = None
        ctype: str | None = None
        for hname, hvalue in self._headers:
            if hname == "content-disposition" and disposition is None:
                hv = parse_header_value(hvalue)
                disposition = hv.main
                name = hv.params.get("name", "")
                filename = hv.params.get("filename")
                if filename is None and "filename*" in hv.params:
                    filename = _ext_value(hv.params["filename*"])
            elif hname == "content-type" and ctype is None:
                ctype = hvalue
        index = self._parts
        self._parts += 1
        named_file = disposition == "form-data" and name.lower() == self._file_field
        if named_file:
            self._file_parts += 1
        is_file = named_file and not self._file_seen
        if is_file:
            self._file_seen = True
            self._pre_file = content_offset
            self._hashers = [(h, hashlib.new(h)) for h in self._hash_names]
            keep = True
        else:
            cost = len(name) + len(filename or "") + len(ctype or "")
            keep = (
                len(self._fields) < self._max_parts
                and self._kept < self._max_kept
                and cost <= self._max_kept - self._kept
            )
            if keep:
                self._kept += cost
            else:
                self._parts_not_kept += 1
                self._kept_truncated = True
        self._part = _Part(
            index=index,
            name=name,
            filename=filename,
            content_type=ctype,
            disposition=disposition,
            is_file=is_file,
            keep=keep,
            after_file=self._file_seen and not is_file,
        )
        self._headers = []
        self._state = _S.BODY

    def _data(self, buf: bytes, a: int, b: int) -> None:
        part = self._part
        if part is None or b <= a:
            return
        part.size += b - a
        if part.is_file:
            if self._hashers:
                view = memoryview(buf)[a:b]
                for _, h in self._hashers:
                    h.update(view)
            return
        if not part.keep or part.truncated:
            return
        room = min(self._max_kept - self._kept, self._max_value - len(part.value))
        take = max(0, min(room, b - a))
        if take > 0:
            part.value += buf[a : a + take]
            self._kept += take
        if take < b - a:
            part.truncated = True
            self._kept_truncated = True

    def _end_part(self, *, complete: bool) -> None:
        part = self._part
        self._part = None
        if part is None:
            return
        if part.is_file:
            self._file = FilePart(
                name=part.name[:MAX_FILE_META],
                index=part.index,
                size=part.size,
                filename=None if part.filename is None else part.filename[:MAX_FILE_META],
                content_type=None
                if part.content_type is None
                else part.content_type[:MAX_FILE_META],
                digests={name: h.hexdigest() for name, h in self._hashers},
                complete=complete,
            )
            self._hashers = []
        elif part.keep:
            self._fields.append(
                FormField(
                    name=part.name,
                    value=part.value.decode("utf-8", "replace"),
                    index=part.index,
                    filename=part.filename,
                    content_type=part.content_type,
                    disposition=part.disposition,
                    after_file=part.after_file,
                    truncated=part.truncated,
                )
            )

    def _result(self) -> ParsedForm:
        return ParsedForm(
            boundary=self._boundary,
            fields=tuple(self._fields),
            file=self._file,
            file_parts=self._file_parts,
            parts=self._parts,
            parts_not_kept=self._parts_not_kept,
            kept_truncated=self._kept_truncated,
            pre_file_bytes=self._fed if self._pre_file is None else self._pre_file,
            preamble_bytes=self._preamble,
            epilogue_bytes=self._epilogue,
            body_bytes=self._fed,
            closed=self._closed,
            error=self._error,
        )


def parse_form(
    content_type: str,
    body: bytes | bytearray | memoryview,
    *,
    hash_algorithms: Sequence[str] = (),
    max_kept_bytes: int = MAX_KEPT_BYTES,
) -> ParsedForm | None:
    """Parse a buffered ``multipart/form-data`` body; ``None`` when the Content-Type is not
    ``multipart/form-data`` with a boundary."""
    boundary = form_boundary(content_type)
    if boundary is None:
        return None
    parser = MultipartParser(
        boundary, hash_algorithms=hash_algorithms, max_kept_bytes=max_kept_bytes
    )
    parser.feed(body)
    return parser.finish()
