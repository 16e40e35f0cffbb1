// Print presigned POSTs made by the AWS SDK for JavaScript v2 (npm `aws-sdk`,
// S3.createPresignedPost) as JSON (see spec.json). The package is installed under
// tests/js (package.json); run: node tests/clients/postpolicy/js_v2_post.mjs
//
// v2 adds an exact-match condition for every entry of Fields, `key` included, so a key
// ending in ${filename} gets {"key": "uploads/${filename}"}, which the expanded field
// (uploads/photo.jpg) can never equal: S3 refuses such uploads. The v3 SDK turns the key
// into a starts-with condition but not other fields (aws/aws-sdk-js-v3#7191, PR #7771).
// The "v2-filename-variable" case records this; the others use a fixed key.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.resolve(here, "../../js/package.json"));
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = "1";
const AWS = require("aws-sdk");
const spec = JSON.parse(readFileSync(path.join(here, "spec.json"), "utf8"));

function makeCase(name, temporary, region, key = "uploads/photo.jpg") {
  const cred = spec.credentials[temporary ? "temporary" : "permanent"];
  const s3 = new AWS.S3({
    region,
    signatureVersion: "v4",
    credentials: new AWS.Credentials(cred.access_key_id, cred.secret, cred.token || null),
  });
  const post = s3.createPresignedPost({
    Bucket: spec.bucket,
    Fields: {
      key,
      "Content-Type": spec.content_type,
      success_action_status: spec.success_action_status,
      "x-amz-meta-tag": spec.meta_tag,
    },
    Conditions: [
      ["eq", "$Content-Type", spec.content_type],
      ["content-length-range", spec.min_size, spec.max_size],
      ["starts-with", "$key", "uploads/"],
      ["starts-with", "$x-amz-meta-tag", ""],
    ],
    Expires: spec.expires,
  });
  return {
    name,
    scheme: "X-Amz-Signature" in post.fields ? "sigv4" : "sigv2",
    temporary,
    access_key_id: cred.access_key_id,
    region,
    bucket: spec.bucket,
    url: post.url,
    fields: Object.entries(post.fields),
  };
}

const known = makeCase("v2-filename-variable", false, "us-east-1", spec.key);
known.known_failure = {
  condition: ["eq", "$key", spec.key],
  value_sent: "uploads/photo.jpg",
  evidence: "aws/aws-sdk-js-v3#7191: an exact condition on a field holding ${filename}",
};
const cases = [makeCase("v2", false, "us-east-1"), makeCase("v2-temporary", true, "eu-west-1"), known];
process.stdout.write(JSON.stringify({ sdk: "aws-sdk-js-v2", version: AWS.VERSION, cases }) + "\n");
