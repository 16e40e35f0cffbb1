"""The incremental multipart/form-data parser (sigv4_inspector/core/multipart.py): framing per
RFC 2046 §5.1 / RFC 7578, the same result for any chunking, bounded memory, and an error
state (never an exception) for malformed bodies."""

from __future__ import annotations

import hashlib
import random
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigv4_inspector.core.multipart import (
    MAX_FORM_BYTES,
    MAX_LINE,
    MAX_PREAMBLE,
    FormErrorKind,
    MultipartParser,
    ParsedForm,
    form_boundary,
    parse_form,
    parse_header_value,
)

B = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
CT = f"multipart/form-data; boundary={B}"


def part(
    name: str, value: bytes | str, *, filename: str | None = None, ctype: str | None = None
) -> bytes:
    disp = f'form-data; name="{name}"' + (
        f'; filename="{filename}"' if filename is not None else ""
    )
    head = f"--{B}\r\nContent-Disposition: {disp}\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    data = value.encode() if isinstance(value, str) else value
    return head.encode() + b"\r\n" + data + b"\r\n"


def body(*parts: bytes, close: bool = True) -> bytes:
    return b"".join(parts) + (f"--{B}--\r\n".encode() if close else b"")


def feed_all(data: bytes, sizes: list[int] | None = None, **kw: object) -> ParsedForm:
    p = MultipartParser(B, **kw)  # type: ignore[arg-type]
    if sizes is None:
        p.feed(data)
    else:
        pos = 0
        for s in sizes:
            p.feed(data[pos : pos + s])
            pos += s
        p.feed(data[pos:])
    return p.finish()


def bytewise(data: bytes, **kw: object) -> ParsedForm:
    p = MultipartParser(B, **kw)  # type: ignore[arg-type]
    for i in range(len(data)):
        p.feed(memoryview(data)[i : i + 1])
    return p.finish()


FILE = bytes(range(256)) * 40 + b"\r\n--" + B[:-1].encode() + b"\r\n-- not a boundary\r\n"
FORM = body(
    part("key", "uploads/${filename}"),
    part("Content-Type", "image/jpeg"),
    part("policy", "eyJ4IjoxfQ=="),
    part("x-amz-meta-tag", ""),
    part("file", FILE, filename="photo.jpg", ctype="image/jpeg"),
    part("submit", "Upload"),
)


# ---------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"multipart/form-data; boundary={B}", B),
        (f'multipart/form-data; boundary="{B}"', B),
        (f"Multipart/Form-Data;BOUNDARY={B}; charset=utf-8", B),
        ('multipart/form-data; boundary="a b:c"', "a b:c"),
        ("multipart/form-data", None),
        ("multipart/form-data; boundary=", None),
        (f"multipart/mixed; boundary={B}", None),
        ("application/x-www-form-urlencoded", None),
    ],
)
def test_form_boundary(value: str, expected: str | None) -> None:
    assert form_boundary(value) == expected


def test_header_parameters_quoted_escapes_and_windows_paths() -> None:
    hv = parse_header_value(r'form-data; name="a\"b"; filename="C:\Users\me\photo.jpg"; x=y')
    assert hv.main == "form-data"
    assert hv.params["name"] == 'a"b'
    assert hv.params["filename"] == "C:\\Users\\me\\photo.jpg"  # browsers do not escape '\'
    assert hv.params["x"] == "y"
    # first occurrence wins, names are case-insensitive, junk is skipped
    hv = parse_header_value('form-data; NAME="one"; name="two"; ;=; bare; filename="unterminated')
    assert hv.params["name"] == "one"
    assert hv.params["filename"] == "unterminated"


# ---------------------------------------------------------------- parsing


def test_fields_file_and_order() -> None:
    form = parse_form(CT, FORM, hash_algorithms=("md5", "sha256"))
    assert form is not None and form.error is None and form.closed
    assert [(f.name, f.value, f.after_file) for f in form.fields] == [
        ("key", "uploads/${filename}", False),
        ("Content-Type", "image/jpeg", False),
        ("policy", "eyJ4IjoxfQ==", False),
        ("x-amz-meta-tag", "", False),
        ("submit", "Upload", True),
    ]
    assert [f.index for f in form.fields] == [0, 1, 2, 3, 5]
    f = form.file
    assert f is not None
    assert (f.name, f.filename, f.content_type, f.index, f.complete) == (
        "file",
        "photo.jpg",
        "image/jpeg",
        4,
        True,
    )
    assert f.size == len(FILE)
    assert f.digests == {
        "md5": hashlib.md5(FILE).hexdigest(),
        "sha256": hashlib.sha256(FILE).hexdigest(),
    }
    assert form.pre_file_bytes == FORM.index(FILE)
    assert form.file_parts == 1 and form.parts == 6
    assert form.preamble_bytes == 0 and form.epilogue_bytes == 2
    assert form.body_bytes == len(FORM)
    assert form.values("CONTENT-TYPE") == ["image/jpeg"]
    assert form.values("submit") == [] and form.values("submit", include_after_file=True) == [
        "Upload"
    ]
    assert [x.name for x in form.fields_before_file] == [
        "key",
        "Content-Type",
        "policy",
        "x-amz-meta-tag",
    ]


def test_one_byte_at_a_time_and_memoryview_equal_whole_body() -> None:
    whole = feed_all(FORM, hash_algorithms=("sha256",))
    assert bytewise(FORM, hash_algorithms=("sha256",)) == whole
    rnd = random.Random(7)
    for _ in range(50):
        sizes = [rnd.randint(0, 90) for _ in range(rnd.randint(1, 200))]
        assert feed_all(FORM, sizes, hash_algorithms=("sha256",)) == whole


def test_preamble_epilogue_leading_crlf_and_transport_padding() -> None:
    raw = (
        b"this is a preamble\r\n"
        + part("a", "1").replace(B.encode() + b"\r\n", B.encode() + b" \t\r\n", 1)
        + part("file", b"xyz", filename="f")
        + f"--{B}--".encode()
        + b"  \r\nepilogue junk"
    )
    form = feed_all(raw)
    assert form.error is None and form.closed
    assert form.preamble_bytes == len(b"this is a preamble")
    assert [(x.name, x.value) for x in form.fields] == [("a", "1")]
    assert form.file is not None and form.file.size == 3
    assert form.epilogue_bytes == len(b"  \r\nepilogue junk")
    assert bytewise(raw) == form
    # a body that starts with CRLF before the first delimiter
    form2 = feed_all(b"\r\n" + body(part("a", "1"), part("file", b"", filename="")))
    assert form2.error is None and form2.preamble_bytes == 0 and form2.file is not None
    assert form2.file.filename == "" and form2.file.size == 0


def test_part_without_headers_and_nameless_and_other_disposition() -> None:
    raw = (
        f"--{B}\r\n\r\nno headers\r\n".encode()
        + f'--{B}\r\nContent-Disposition: file; name="file"\r\n\r\nnot the file\r\n'.encode()
        + part("file", b"the file", filename="a.txt")
        + f"--{B}--".encode()
    )
    form = feed_all(raw)
    assert form.error is None
    assert [(x.name, x.disposition, x.value) for x in form.fields] == [
        ("", None, "no headers"),
        ("file", "file", "not the file"),  # only a form-data part named file is the file
    ]
    assert form.file is not None and form.file.size == len(b"the file")


def test_file_name_is_case_insensitive_and_second_file_is_counted() -> None:
    raw = body(part("File", b"one", filename="1"), part("file", b"two", filename="2"))
    form = feed_all(raw)
    assert form.file is not None and form.file.name == "File" and form.file.size == 3
    assert form.file_parts == 2
    assert [(x.name, x.value, x.after_file, x.filename) for x in form.fields] == [
        ("file", "two", True, "2")
    ]


def test_filename_star_and_header_folding() -> None:
    raw = (
        f"--{B}\r\nContent-Disposition: form-data; name=\"file\";\r\n filename*=UTF-8''%E2%82%AC%20rates.txt\r\n"
        "Content-Type: text/plain\r\n\r\nx\r\n"
        f"--{B}--\r\n"
    ).encode()
    form = feed_all(raw)
    assert form.error is None and form.file is not None
    assert form.file.filename == "€ rates.txt" and form.file.content_type == "text/plain"


def test_boundary_lookalikes_inside_data_do_not_split_parts() -> None:
    tricky = (
        b"--" + B.encode() + b"\r\n"  # not preceded by CRLF
        b"\r\r\n-" + b"\r\n--" + B[:10].encode() + b"\r\n"
    )
    raw = body(part("a", tricky), part("file", tricky, filename="t"))
    form = feed_all(raw)
    assert form.error is None
    assert form.fields[0].value.encode() == tricky
    assert form.file is not None and form.file.size == len(tricky)
    assert bytewise(raw) == form


def test_utf8_values_and_invalid_bytes() -> None:
    form = feed_all(body(part("x-amz-meta-name", "Ärger €".encode()), part("b", b"\xff\xfe")))
    assert form.fields[0].value == "Ärger €"
    assert form.fields[1].value == "\ufffd\ufffd"


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"", FormErrorKind.NO_BOUNDARY),
        (b"no multipart here at all", FormErrorKind.NO_BOUNDARY),
        (body(part("a", "1")).replace(b"\r\n", b"\n"), FormErrorKind.BAD_DELIMITER),  # LF only
        (body(part("a", "1"), close=False), FormErrorKind.TRUNCATED),
        (f"--{B}\r\nContent-Disposition: form-data".encode(), FormErrorKind.TRUNCATED),
        (f"--{B}".encode(), FormErrorKind.TRUNCATED),
        (f"--{B}XYZ\r\n\r\n".encode(), FormErrorKind.BAD_DELIMITER),
        (f"--{B}\r\nno colon here\r\n\r\n".encode(), FormErrorKind.BAD_HEADER),
        (f"--{B}\r\nBad Name: x\r\n\r\n".encode(), FormErrorKind.BAD_HEADER),
        (f"--{B}\r\n".encode() + b"X-A: " + b"a" * (MAX_LINE + 10), FormErrorKind.LINE_TOO_LONG),
        (
            f"--{B}\r\n".encode() + b"".join(b"X-%d: 1\r\n" % i for i in range(40)) + b"\r\n",
            FormErrorKind.HEADER_TOO_LARGE,
        ),
        (
            f"--{B}\r\n".encode() + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 8000) for i in range(3)),
            FormErrorKind.HEADER_TOO_LARGE,
        ),
    ],
)
def test_malformed_bodies_report_an_error_and_never_raise(raw: bytes, kind: FormErrorKind) -> None:
    form = feed_all(raw)
    assert form.error is not None and form.error.kind is kind, form.error
    assert form.body_bytes == len(raw)
    assert bytewise(raw) == form


def test_truncated_inside_the_file_keeps_its_size_and_marks_it_incomplete() -> None:
    raw = part("key", "k") + part("file", b"0123456789", filename="f")[:-2]
    form = feed_all(raw, hash_algorithms=("sha256",))
    assert form.error is not None and form.error.kind is FormErrorKind.TRUNCATED
    assert form.file is not None and not form.file.complete and form.file.size == 10
    assert form.file.digests["sha256"] == hashlib.sha256(b"0123456789").hexdigest()


@pytest.mark.parametrize("boundary", ["", "x" * 201, "a\r\nb"])
def test_bad_boundary_parameter(boundary: str) -> None:
    p = MultipartParser(boundary)
    p.feed(b"--x\r\n")
    form = p.finish()
    assert form.error is not None and form.error.kind is FormErrorKind.BAD_BOUNDARY
    assert form.body_bytes == 5


def test_the_first_delimiter_must_start_within_the_preamble_bound() -> None:
    late = b"p" * (MAX_PREAMBLE + 1) + body(part("a", "1"))
    form = feed_all(late)
    assert form.error is not None and form.error.kind is FormErrorKind.NO_BOUNDARY
    assert form.preamble_bytes is None
    assert bytewise(late) == form
    ok = b"p" * (MAX_PREAMBLE - 2) + b"\r\n" + body(part("a", "1"))
    assert feed_all(ok).error is None
    assert feed_all(ok, [1000] * 30) == feed_all(ok)


# ---------------------------------------------------------------- bounds


def test_huge_header_line_and_no_boundary_stay_bounded() -> None:
    p = MultipartParser(B)
    p.feed(f"--{B}\r\nX-Long: ".encode())
    chunk = b"a" * 65536
    for _ in range(64):  # 4 MiB without a line end
        p.feed(chunk)
    form = p.finish()
    assert form.error is not None and form.error.kind is FormErrorKind.LINE_TOO_LONG
    assert form.body_bytes == len(f"--{B}\r\nX-Long: ") + 64 * 65536
    p = MultipartParser(B)
    for _ in range(64):
        p.feed(chunk)
    assert p.finish().error.kind is FormErrorKind.NO_BOUNDARY  # type: ignore[union-attr]


def test_the_file_is_never_buffered() -> None:
    chunk = b"x" * 65536
    p = MultipartParser(B, hash_algorithms=("sha256",))
    p.feed(part("key", "k") + part("file", b"", filename="big")[:-2])
    tracemalloc.start()
    try:
        for _ in range(320):  # 20 MiB of file content
            p.feed(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    p.feed(f"\r\n--{B}--\r\n".encode())
    form = p.finish()
    assert form.error is None and form.file is not None and form.file.size == 320 * 65536
    assert peak < 1 << 20, peak  # bounded by the chunk size, not the file size


def test_kept_bytes_are_bounded_and_flagged() -> None:
    raw = body(
        part("first", "a" * 30000),
        part("second", "still kept"),
        part("file", b"data", filename="f"),
    )
    form = feed_all(raw)
    assert form.error is None and form.kept_truncated
    first = form.fields[0]
    assert first.truncated and len(first.value) == MAX_FORM_BYTES  # S3's 20 KB per value
    assert [(x.name, x.value) for x in form.fields[1:]] == [("second", "still kept")]
    assert form.file is not None and form.file.size == 4  # the file is still found
    assert form.fields_too_large and form.pre_file_bytes > MAX_FORM_BYTES
    small = feed_all(body(part("a", "1"), part("file", b"d", filename="f")))
    assert not small.fields_too_large and not small.kept_truncated
    # the total bound: later parts are counted, not kept
    capped = feed_all(body(*(part(f"f{i}", "v" * 100) for i in range(10))), max_kept_bytes=350)
    assert [x.name for x in capped.fields] == ["f0", "f1", "f2", "f3"] and capped.fields[
        3
    ].truncated
    assert capped.parts == 10 and capped.parts_not_kept == 6 and capped.kept_truncated


def test_millions_of_tiny_parts_are_counted_not_kept() -> None:
    tiny = f"--{B}\r\n\r\n\r\n".encode()
    n = 50_000
    raw = tiny * n + f"--{B}--".encode()
    form = feed_all(raw, max_parts=100)
    assert form.error is None and form.parts == n
    assert len(form.fields) == 100 and form.parts_not_kept == n - 100 and form.kept_truncated


# ---------------------------------------------------------------- fuzzing


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=12))
def test_fuzz_random_bytes_never_raise_and_chunking_does_not_matter(
    data: bytes, cuts: list[int]
) -> None:
    raw = f"--{B}\r\n".encode() + data if data[:1] == b"\x00" else data
    whole = feed_all(raw)
    points = sorted({c for c in cuts if c <= len(raw)})
    sizes = [b - a for a, b in zip([0, *points], points, strict=False)]
    assert feed_all(raw, sizes) == whole
    assert whole.body_bytes == len(raw)


_name = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"\\;'),
    min_size=1,
    max_size=12,
)
_value = st.binary(max_size=200).filter(lambda v: b"\r\n--" + B.encode() not in v)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.lists(st.tuples(_name, _value), max_size=8),
    content=_value,
    cuts=st.lists(st.integers(0, 3000), max_size=20),
)
def test_fuzz_structured_forms_round_trip_under_any_chunking(
    fields: list[tuple[str, bytes]], content: bytes, cuts: list[int]
) -> None:
    fields = [(n, v) for n, v in fields if n.lower() != "file"]
    raw = body(*(part(n, v) for n, v in fields), part("file", content, filename="f.bin"))
    whole = feed_all(raw, hash_algorithms=("md5",))
    assert whole.error is None, whole.error
    assert [(f.name, f.value) for f in whole.fields] == [
        (n, v.decode("utf-8", "replace")) for n, v in fields
    ]
    assert whole.file is not None and whole.file.size == len(content)
    assert whole.file.digests["md5"] == hashlib.md5(content).hexdigest()
    points = sorted({c for c in cuts if c <= len(raw)})
    sizes = [b - a for a, b in zip([0, *points], points, strict=False)]
    assert feed_all(raw, sizes, hash_algorithms=("md5",)) == whole
