"""The one table of AWS's error vocabulary: the error codes AWS answers a refused request
with, the words of its messages that name a cause, and the fields of S3's error body.
Data only; :mod:`sigv4_inspector.core.errorclass` decides with it, in order, what an
answer means, and :mod:`sigv4_inspector.core.servererror` reads the fields.

Codes are written bare and lower-cased, as the classifier compares them:
``com.amazon.coral.service#InvalidSignatureException`` and ``InvalidSignatureException``
both become ``invalidsignature`` (the namespace and a trailing ``Exception`` dropped), and a
body-less answer's code is its status as botocore reports it (``403``). Messages are
matched lower-cased, as substrings.

Every entry names its evidence: an AWS error quoted in a public issue thread (``owner/repo#N``;
tests/test_servererror.py holds each body and its thread) or a case of corpus.md (``C26``).
AWS reuses some codes for several causes: those are listed again where the message or a
field decides (:data:`PRESIGN_EXPIRY_CODES`, :data:`REGION_CODES`).
"""

from __future__ import annotations

# --- the fields of S3's REST-XML <Error> ----------------------------------------------------

#: Elements of an S3 ``<Error>`` (and the query/EC2 envelopes) read into ``ServerError``
#: fields; everything else goes to ``extra``. S3 echoes its canonical request and string to
#: sign with their bytes in hex for SignatureDoesNotMatch (aws/aws-cli#4356,
#: s3tools/s3cmd#1053, chef/chef-server#1911), its clock for RequestTimeTooSkewed
#: (versity/versitygw#1514; C69) and for expired presigned URLs (react-slack-clone#27;
#: C72), the region for AuthorizationHeaderMalformed (jsoma/flatware#10), the unsigned
#: headers (apache/arrow-rs-object-store#484), the header it does not implement (C26) and
#: both payload hashes for XAmzContentSHA256Mismatch (grosskur/lua-resty-aws#2).
S3_ERROR_FIELDS = frozenset(
    {
        "Code",
        "Message",
        "RequestId",
        "RequestID",  # EC2's <Response> envelope (aws/aws-sdk-java-v2#2981)
        "AWSAccessKeyId",
        "SignatureProvided",
        "StringToSign",
        "StringToSignBytes",
        "CanonicalRequest",
        "CanonicalRequestBytes",
        "ServerTime",
        "RequestTime",
        "MaxAllowedSkewMilliseconds",
        "Expires",
        "Region",
        "HeadersNotSigned",
        "Header",
        "ClientComputedContentSHA256",
        "S3ComputedContentSHA256",
    }
)

# --- codes, by the cause they name ------------------------------------------------------------

#: The signature does not match: S3 and query services ``SignatureDoesNotMatch``
#: (aws/aws-cli#4356, SQS aws/aws-cli#5341; C01, C48), JSON services
#: ``InvalidSignatureException`` (Elasticsearch xcir/libvmod-awsrest#8; C06, C18) and the
#: Selling Partner API's ``InvalidSignature`` (amzn/selling-partner-api-models#1101).
SIGNATURE_MISMATCH_CODES = frozenset({"signaturedoesnotmatch", "invalidsignature"})

#: The Authorization header or presigned query is incomplete or malformed:
#: ``IncompleteSignature`` (aws/aws-sdk-go#289, aws/aws-sdk-js#4285),
#: ``AuthorizationHeaderMalformed`` and ``AuthorizationQueryParametersError`` when they do
#: not name a region (C50, C54 name one: :data:`REGION_CODES`).
INCOMPLETE_SIGNATURE_CODES = frozenset(
    {"incompletesignature", "authorizationheadermalformed", "authorizationqueryparameterserror"}
)

#: The request time is outside the server's window: S3 ``RequestTimeTooSkewed``
#: (versity/versitygw#1514; C69), EC2 and MWS ``RequestExpired`` (aws/aws-sdk-java#1443,
#: python-amazon-mws/python-amazon-mws#92; a presigned URL's is :data:`PRESIGN_EXPIRY_CODES`),
#: ``RequestInTheFuture`` (kept from the first table; no body of it at hand).
SKEW_CODES = frozenset({"requesttimetooskewed", "requestexpired", "requestinthefuture"})

#: A presigned URL used outside its validity: S3 ``AccessDenied`` "Request has expired"
#: with ``<Expires>`` (lukejacksonn/react-slack-clone#27; C72),
#: ``AuthorizationQueryParametersError`` "X-Amz-Expires must be less than a week"
#: (bryanjos/aws_auth#31; C50), ``ExpiredRequest`` (kept from the first table); and
#: ``RequestExpired`` when the request is presigned (:data:`PRESIGNED_REQUEST_EXPIRED`).
PRESIGN_EXPIRY_CODES = frozenset(
    {"accessdenied", "expiredrequest", "authorizationqueryparameterserror"}
)
PRESIGNED_REQUEST_EXPIRED = "requestexpired"

#: The scope's region is wrong when these codes name a region: "the region 'us_east_1' is
#: wrong; expecting 'us-east-1'" (jsoma/flatware#10; C51, C52), "Error parsing the
#: X-Amz-Credential parameter; the region 'us-east-1' is wrong" (C54).
REGION_CODES = frozenset({"authorizationheadermalformed", "authorizationqueryparameterserror"})
#: S3 answers a HEAD in the wrong region with a bare 400 and ``x-amz-bucket-region``
#: (the status is then the code).
BARE_400 = "400"

#: A session token SigV4a refuses: ``UnsupportedSignature`` (C41).
UNSUPPORTED_SIGNATURE_CODES = frozenset({"unsupportedsignature"})

#: The body's SHA-256 differs from x-amz-content-sha256: ``XAmzContentSHA256Mismatch``
#: (grosskur/lua-resty-aws#2; C29, C37).
PAYLOAD_HASH_CODES = frozenset({"xamzcontentsha256mismatch"})

#: Expired temporary credentials: ``ExpiredToken`` (craftcms/aws-s3#182),
#: ``ExpiredTokenException`` (bustle/aws-sudo#11), ``TokenRefreshRequired`` (kept from the
#: first table).
EXPIRED_TOKEN_CODES = frozenset({"expiredtoken", "tokenrefreshrequired"})

#: A malformed or foreign session token: ``InvalidToken`` (dvc-s3#25,
#: aws/aws-sdk-js#3534).
INVALID_TOKEN_CODES = frozenset({"invalidtoken"})

#: An access key AWS does not know here: S3 ``InvalidAccessKeyId``
#: (raster-foundry/raster-foundry#289), STS/IAM ``InvalidClientTokenId``
#: (aws-azure-login/aws-azure-login#251; C45), EC2 ``AuthFailure``
#: (aws/aws-sdk-java-v2#2981; C43), DynamoDB ``UnrecognizedClientException`` (kept from
#: the first table).
INVALID_ACCESS_KEY_CODES = frozenset(
    {"invalidaccesskeyid", "invalidclienttokenid", "unrecognizedclient", "authfailure"}
)

#: No signature at all, or a wrong path or stage behind API Gateway:
#: ``MissingAuthenticationToken(Exception)`` (amzn/selling-partner-api-models#749,
#: common-voice/common-voice#1599, amzn/selling-partner-api-docs#3081).
MISSING_AUTHENTICATION_CODES = frozenset({"missingauthenticationtoken"})

#: A plain ``Transfer-Encoding: chunked`` upload: S3 ``NotImplemented`` naming
#: ``<Header>Transfer-Encoding</Header>`` (C26, aws/aws-sdk-js-v3#3403), or
#: ``MissingContentLength`` (C35).
NOT_IMPLEMENTED = "notimplemented"
MISSING_CONTENT_LENGTH_CODES = frozenset({"missingcontentlength"})
TRANSFER_ENCODING = "transfer-encoding"

#: An S3 POST policy S3 cannot use: ``InvalidPolicyDocument`` "Invalid Policy: ..."
#: (benefitcloud/ember-uploader#43).
POST_POLICY_CODES = frozenset({"invalidpolicydocument"})

#: Authorization (policy) denials, not signature problems: ``AccessDenied``, DynamoDB's
#: ``AccessDeniedException`` and any ``...AccessDenied(Exception)``
#: (:data:`PERMISSION_SUFFIX`), EC2 ``UnauthorizedOperation``, API Gateway's
#: ``ForbiddenException`` (tests/test_servererror.py ``test_permission_denied``),
#: ``Unauthorized`` (knowledge.md section 4: 401 means the caller lacks permission);
#: ``AuthorizationError``, ``AllDisabled``, ``AllAccessDisabled`` kept from the first table;
#: a body-less 401/403 (a HEAD answer) whose code is its status.
PERMISSION_CODES = frozenset(
    {
        "accessdenied",
        "unauthorizedoperation",
        "forbidden",
        "unauthorized",
        "authorizationerror",
        "alldisabled",
        "allaccessdisabled",
        "401",
        "403",
    }
)
PERMISSION_SUFFIX = "accessdenied"

# --- words of AWS's messages that name the cause ----------------------------------------------

#: Clock skew in JSON and query services' ``InvalidSignatureException``: "Signature
#: expired: X is now earlier than Y (Z - 5 min.)" (remind101/logspout-kinesis#21; C70),
#: "Signature not yet current: ..." (serverless/enterprise#11).
SKEW_SIGNATURE_TEXT = ("signature expired", "signature not yet current")
#: S3's RequestTimeTooSkewed message (versity/versitygw#1514; C69).
SKEW_TEXT = ("difference between the request time and the current time",)

#: A presigned URL outside its validity (react-slack-clone#27; C72; bryanjos/aws_auth#31; C50).
PRESIGN_EXPIRED_TEXT = (
    "request has expired",
    "request is not yet valid",
    "x-amz-expires must be less than a week",
)

#: A wrong region in the scope (jsoma/flatware#10; C51, C52, C54; C55: "Credential should be
#: scoped to a valid region, not 'execute-api'").
REGION_TEXT = ("is wrong; expecting", "credential should be scoped to a valid region")
REGION_WORD = "region"

#: SigV2 refused: "Please use AWS4-HMAC-SHA256" (nukulb/s3-angular-file-upload#23; C76,
#: C78), "... require AWS Signature Version 4" (SSE-KMS, C77).
SIGV2_TEXT = (
    "please use aws4-hmac-sha256",
    "require aws signature version 4",
    "requires aws signature version 4",
    "signature version 2 is not supported",
)

#: "The provided request is signed with an unsupported STS Token version" (C41).
UNSUPPORTED_SIGNATURE_TEXT = ("unsupported sts token version",)

#: S3's AccessDenied for x-amz-* headers outside SignedHeaders
#: (apache/arrow-rs-object-store#484, aws/aws-sdk-js#896).
HEADERS_NOT_SIGNED_TEXT = ("headers present in the request which were not signed",)

#: "The provided 'x-amz-content-sha256' header does not match what was computed"
#: (grosskur/lua-resty-aws#2).
PAYLOAD_HASH_TEXT = ("'x-amz-content-sha256' header does not match",)

#: "The security token included in the request is expired" (bustle/aws-sudo#11).
EXPIRED_TOKEN_TEXT = ("security token included in the request is expired",)

#: "The provided token is malformed or otherwise invalid" (aws/aws-sdk-js#3534).
INVALID_TOKEN_TEXT = ("provided token is malformed",)

#: API Gateway and STS without a signature (amzn/selling-partner-api-models#749,
#: amzn/selling-partner-api-docs#3081).
MISSING_AUTHENTICATION_TEXT = ("missing authentication token",)

#: An incomplete or malformed Authorization (aws/aws-sdk-js#4285, aws/aws-sdk-go#289;
#: "Credential should be scoped to correct service", C56).
INCOMPLETE_TEXT = (
    "authorization header requires",
    "not a valid key=value pair",
    "the authorization header is malformed",
    "authorization header is invalid",
    "must be a 'signedheader'",
    "aws authentication requires a valid date or x-amz-date header",
    "query-string authentication version 4 requires",
    "error parsing the x-amz-credential parameter",
    "credential should be scoped to correct service",
    "invalid credential date",
)

#: "The request signature we calculated does not match the signature you provided"
#: (C01, C06, C22, C48).
SIGNATURE_MISMATCH_TEXT = ("signature we calculated does not match",)

#: IAM denials: "User: ... is not authorized to perform: dynamodb:GetItem" and API
#: Gateway's "User: anonymous is not authorized to perform: execute-api:Invoke"
#: (tests/test_servererror.py ``test_permission_denied``); "is not authorized to access"
#: kept from the first table.
PERMISSION_TEXT = ("not authorized to perform", "is not authorized to access")

#: S3 POST uploads refused by their policy: AccessDenied "Invalid according to Policy: ..."
#: (aws/aws-sdk-js#1983, CulturalMe/meteor-slingshot#80) and InvalidPolicyDocument
#: "Invalid Policy: ..." (benefitcloud/ember-uploader#43): the form fails its policy, not
#: an IAM policy.
POST_POLICY_TEXT = ("invalid according to policy",)
POST_POLICY_PREFIX = "invalid policy:"

#: S3's NotImplemented for a header it does not implement (C26).
NOT_IMPLEMENTED_TEXT = "implies functionality that is not implemented"
