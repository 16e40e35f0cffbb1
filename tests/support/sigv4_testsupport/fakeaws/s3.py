"""S3 (REST-XML): buckets and objects in memory. PutObject (plain, or ``aws-chunked`` with
chunk/trailer signatures and checksum trailers), GetObject (ranges), HeadObject,
DeleteObject, ListObjectsV2, ListBuckets, CreateBucket, presigned GET/PUT, and POST Object
(browser-based uploads, :mod:`.s3post`)."""

from __future__ import annotations

import base64
import hashlib
from email.utils import formatdate
from typing import TYPE_CHECKING
from urllib.parse import quote

from . import s3post, sigv4
from .auth import authenticate
from .chunked import (
    SIGNED_STREAMING,
    ChunkedBody,
    StreamCheck,
    parse_aws_chunked,
    verify_stream,
)
from .errors import S3Errors
from .model import (
    CHECKSUM_NAMES,
    S3_NS,
    ReceivedRequest,
    Response,
    Route,
    SigInfo,
    StoredObject,
    checksum_b64,
    iso8601,
    xml_escape,
)

if TYPE_CHECKING:
    from .server import FakeAWS


def _decode(part: str) -> str:
    """A path part (wire string) as the text S3 names it with: percent-decoded (a raw '+'
    is a space, like the signature's reading: sigv4.QUERY_PLUS_IS_SPACE), UTF-8."""
    raw = sigv4.wire(part)
    return sigv4.percent_decode(raw, plus_is_space=sigv4.QUERY_PLUS_IS_SPACE).decode(
        "utf-8", "replace"
    )


def handle(state: FakeAWS, req: ReceivedRequest, route: Route, host: str) -> Response:
    """Serve one S3 request (REST-XML)."""
    err = S3Errors(state, req)
    path = req.path
    if route.bucket is not None:
        bucket, key = route.bucket, _decode(path[1:])
    else:
        parts = path[1:].split("/", 1)
        bucket = _decode(parts[0])
        key = _decode(parts[1]) if len(parts) > 1 else ""
    if bucket and not key and s3post.is_post_object(req):
        return s3post.handle(state, req, bucket)  # authenticated by its signed policy
    sig = authenticate(state, req, route, host, err)
    query = sigv4.query_dict(req.query)
    if not bucket:
        if req.method == "GET":
            return list_buckets(state, err)
        return err.error(405, "MethodNotAllowed", "The specified method is not allowed.")
    with state.lock:
        objects = state.buckets.setdefault(bucket, {})
    if not key:
        if req.method == "PUT":
            return err.ok(headers=[("Location", f"/{bucket}")])
        if req.method in ("GET", "HEAD"):
            return list_objects(state, bucket, objects, query, err)
        return err.error(405, "MethodNotAllowed", "The specified method is not allowed.")
    if req.method == "PUT":
        return put_object(state, req, sig, bucket, key, objects, err)
    if req.method in ("GET", "HEAD"):
        with state.lock:
            obj = objects.get(key)
        if obj is None:
            return err.error(404, "NoSuchKey", "The specified key does not exist.", [("Key", key)])
        return get_object(state, req, obj, err)
    if req.method == "DELETE":
        with state.lock:
            objects.pop(key, None)
        return err.ok(status=204)
    return err.error(405, "MethodNotAllowed", "The specified method is not allowed.")


def _check_stream(sig: SigInfo, mode: str, body: ChunkedBody) -> StreamCheck:
    """Verify a signed stream's chunk and trailer signatures (:mod:`.chunked`); an unsigned
    stream passes."""
    if mode not in SIGNED_STREAMING:
        return StreamCheck()
    if sig.algorithm == sigv4.SIGV4A:
        return verify_stream(
            body,
            mode=mode,
            amz_date=sig.amz_date,
            scope=f"{sig.date}/{sig.service}/aws4_request",
            seed=sig.signature,
            public_key=sigv4.sigv4a_private_key(sig.access_key, sig.secret).public_key(),
        )
    return verify_stream(
        body,
        mode=mode,
        amz_date=sig.amz_date,
        scope=f"{sig.date}/{sig.region}/{sig.service}/aws4_request",
        seed=sig.signature,
        hmac_key=sigv4.signing_key(sig.secret, sig.date, sig.region or "", sig.service),
    )


def put_object(
    state: FakeAWS,
    req: ReceivedRequest,
    sig: SigInfo,
    bucket: str,
    key: str,
    objects: dict[str, StoredObject],
    err: S3Errors,
) -> Response:
    content_encoding = [
        e.strip().lower() for e in (req.header("content-encoding") or "").split(",") if e
    ]
    te = (req.header("transfer-encoding") or "").lower()
    payload_hash = "UNSIGNED-PAYLOAD" if sig.presigned else req.header("x-amz-content-sha256")
    if sig.presigned and sig.payload_hash:
        payload_hash = sig.payload_hash
    streaming = (payload_hash or "").startswith("STREAMING-") or "aws-chunked" in content_encoding
    checksum_headers = [
        k.lower() for k, _ in req.headers if k.lower().startswith("x-amz-checksum-")
    ]
    if state.reject_checksum_trailers:
        for name in ("x-amz-trailer", "x-amz-sdk-checksum-algorithm", *checksum_headers):
            if req.header(name) is not None:
                return err.error(
                    501,
                    "NotImplemented",
                    "A header you provided implies functionality that is not implemented",
                    [("Header", name)],
                )
        if streaming:
            return err.error(
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
                [("Header", "Transfer-Encoding" if te else "Content-Encoding")],
            )
    if "chunked" in te and not streaming:
        return err.error(
            501,
            "NotImplemented",
            "A header you provided implies functionality that is not implemented",
            [("Header", "Transfer-Encoding")],
        )
    trailers: list[tuple[str, str]] = []
    data = req.body
    if streaming:
        try:
            body = parse_aws_chunked(req.body)
        except ValueError:
            return err.error(400, "IncompleteBody", "The request body terminated unexpectedly")
        data, trailers = body.payload, body.trailers
        check = _check_stream(sig, payload_hash or "", body)
        if check.problem is not None and check.incomplete:
            # a missing chunk-signature: S3 answers IncompleteBody (versity/versitygw#1685)
            return err.error(400, "IncompleteBody", "The request body terminated unexpectedly")
        if check.problem is not None:
            # a wrong chunk or trailer signature: 403 SignatureDoesNotMatch, as the chunk
            # verifiers of S3-compatible servers answer (gaul/s3proxy#1027); no public echo
            # of S3's own body for it was found, so no CanonicalRequest is echoed
            return err.signature_mismatch(sig, None)
        declared = req.header("x-amz-decoded-content-length")
        if declared is not None and declared.isdigit() and int(declared) != len(data):
            return err.error(
                400,
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length "
                "HTTP header",
            )
        content_encoding = [e for e in content_encoding if e != "aws-chunked"]
    elif payload_hash and payload_hash != "UNSIGNED-PAYLOAD":
        computed = hashlib.sha256(data).hexdigest()
        if computed != payload_hash:
            return err.error(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                [
                    ("ClientComputedContentSHA256", payload_hash),
                    ("S3ComputedContentSHA256", computed),
                ],
            )
    md5 = req.header("content-md5")
    if md5 is not None and base64.b64encode(hashlib.md5(data).digest()).decode() != md5:
        return err.error(
            400, "BadDigest", "The Content-MD5 you specified did not match what we received."
        )
    checksums: dict[str, str] = {}
    for name, value in [*req.headers, *trailers]:
        lname = name.lower()
        if lname.startswith("x-amz-checksum-") and lname != "x-amz-checksum-type":
            alg = lname[len("x-amz-checksum-") :]
            if alg not in CHECKSUM_NAMES:
                return err.error(
                    400, "InvalidRequest", f"Value for x-amz-checksum-{alg} is invalid."
                )
            if checksum_b64(alg, data) != value:
                return err.error(
                    400,
                    "BadDigest",
                    f"The {CHECKSUM_NAMES[alg]} you specified did not match the calculated "
                    "checksum.",
                )
            checksums[alg] = value
    declared_trailer = (req.header("x-amz-trailer") or "").strip().lower()
    if declared_trailer and declared_trailer not in {n for n, _ in trailers}:
        return err.error(
            400,
            "MalformedTrailerError",
            "The request contained trailing data that was not well-formed or did not "
            "conform to our published schema.",
        )
    metadata = [(k, v) for k, v in req.headers if k.lower().startswith("x-amz-meta-")]
    ctype = req.header("content-type") or "binary/octet-stream"
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    obj = StoredObject(data, ctype, etag, state.now(), metadata, checksums)
    with state.lock:
        objects[key] = obj
    headers = [("ETag", etag), ("x-amz-server-side-encryption", "AES256")]
    for alg, value in checksums.items():
        headers.append((f"x-amz-checksum-{alg}", value))
    if checksums:
        headers.append(("x-amz-checksum-type", "FULL_OBJECT"))
    return err.ok(headers=headers)


def get_object(state: FakeAWS, req: ReceivedRequest, obj: StoredObject, err: S3Errors) -> Response:
    headers = [
        ("Last-Modified", formatdate(obj.last_modified.timestamp(), usegmt=True)),
        ("ETag", obj.etag),
        ("x-amz-server-side-encryption", "AES256"),
        *obj.metadata,
    ]
    if (req.header("x-amz-checksum-mode") or "").upper() == "ENABLED":
        for alg, value in obj.checksums.items():
            headers.append((f"x-amz-checksum-{alg}", value))
        if obj.checksums:
            headers.append(("x-amz-checksum-type", "FULL_OBJECT"))
    headers += [("Accept-Ranges", "bytes"), ("Content-Type", obj.content_type)]
    data = obj.data
    status = 200
    rng = req.header("range")
    if rng and rng.startswith("bytes=") and "," not in rng:
        start_s, _, end_s = rng[6:].partition("-")
        size = len(data)
        try:
            if start_s:
                start = int(start_s)
                end = min(int(end_s), size - 1) if end_s else size - 1
            else:
                start, end = max(size - int(end_s), 0), size - 1
        except ValueError:
            start, end = 0, size - 1
        if start >= size:
            return err.error(
                416,
                "InvalidRange",
                "The requested range is not satisfiable",
                [("RangeRequested", rng), ("ActualObjectSize", str(size))],
            )
        data = data[start : end + 1]
        status = 206
        headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        headers = [h for h in headers if not h[0].lower().startswith("x-amz-checksum")]
    return err.ok(status=status, headers=headers, body=data, content_type=None)


def list_objects(
    state: FakeAWS,
    bucket: str,
    objects: dict[str, StoredObject],
    query: dict[str, str],
    err: S3Errors,
) -> Response:
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_keys = int(query.get("max-keys", "1000") or 1000)
    url_enc = query.get("encoding-type") == "url"

    def enc(s: str) -> str:
        return xml_escape(quote(s, safe="/") if url_enc else s)

    with state.lock:
        keys = sorted(k for k in objects if k.startswith(prefix))
        snapshot = {k: objects[k] for k in keys}
    start_after = query.get("start-after", "")
    token = query.get("continuation-token", "")
    after = token or start_after
    keys = [k for k in keys if k > after] if after else keys
    contents: list[str] = []
    common: list[str] = []
    truncated = False
    next_token = ""
    for k in keys:
        if len(contents) + len(common) >= max_keys:
            truncated = True
            break
        if delimiter:
            rest = k[len(prefix) :]
            idx = rest.find(delimiter)
            if idx >= 0:
                cp = prefix + rest[: idx + len(delimiter)]
                if cp not in common:
                    common.append(cp)
                next_token = k
                continue
        o = snapshot[k]
        algs = "".join(
            f"<ChecksumAlgorithm>{CHECKSUM_NAMES[a]}</ChecksumAlgorithm>" for a in o.checksums
        )
        contents.append(
            f"<Contents><Key>{enc(k)}</Key>"
            f"<LastModified>{iso8601(o.last_modified, millis=True)}</LastModified>"
            f"<ETag>{xml_escape(o.etag)}</ETag>{algs}"
            f"{'<ChecksumType>FULL_OBJECT</ChecksumType>' if o.checksums else ''}"
            f"<Size>{len(o.data)}</Size><StorageClass>STANDARD</StorageClass></Contents>"
        )
        next_token = k
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{S3_NS}">'
        f"<Name>{xml_escape(bucket)}</Name><Prefix>{enc(prefix)}</Prefix>"
    )
    if "continuation-token" in query:
        body += f"<ContinuationToken>{xml_escape(token)}</ContinuationToken>"
    if truncated:
        body += f"<NextContinuationToken>{xml_escape(next_token)}</NextContinuationToken>"
    body += f"<KeyCount>{len(contents) + len(common)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>"
    if delimiter:
        body += f"<Delimiter>{enc(delimiter)}</Delimiter>"
    if url_enc:
        body += "<EncodingType>url</EncodingType>"
    body += f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
    body += "".join(contents)
    body += "".join(f"<CommonPrefixes><Prefix>{enc(p)}</Prefix></CommonPrefixes>" for p in common)
    body += "</ListBucketResult>"
    return err.ok(body=body.encode())


def list_buckets(state: FakeAWS, err: S3Errors) -> Response:
    with state.lock:
        names = sorted(state.buckets)
    created = iso8601(state.now(), millis=True)
    items = "".join(
        f"<Bucket><Name>{xml_escape(n)}</Name><CreationDate>{created}</CreationDate></Bucket>"
        for n in names
    )
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult xmlns="{S3_NS}">'
        f"<Owner><ID>{'7' * 64}</ID><DisplayName>fakeaws</DisplayName></Owner>"
        f"<Buckets>{items}</Buckets></ListAllMyBucketsResult>"
    )
    return err.ok(body=body.encode())


# ---- DynamoDB ------------------------------------------------------------------------
