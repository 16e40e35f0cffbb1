// Print presigned POSTs made by the AWS SDK for JavaScript v3
// (@aws-sdk/s3-presigned-post createPresignedPost) as JSON (see spec.json). The packages
// are installed under tests/js (package.json); run: node tests/clients/postpolicy/js_v3_post.mjs
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.resolve(here, "../../js/package.json"));
const { S3Client } = require("@aws-sdk/client-s3");
const { createPresignedPost } = require("@aws-sdk/s3-presigned-post");
const version = require("@aws-sdk/s3-presigned-post/package.json").version;
const spec = JSON.parse(readFileSync(path.join(here, "spec.json"), "utf8"));

async function makeCase(name, temporary, region) {
  const cred = spec.credentials[temporary ? "temporary" : "permanent"];
  const client = new S3Client({
    region,
    credentials: {
      accessKeyId: cred.access_key_id,
      secretAccessKey: cred.secret,
      ...(cred.token ? { sessionToken: cred.token } : {}),
    },
  });
  const post = await createPresignedPost(client, {
    Bucket: spec.bucket,
    Key: spec.key,
    Fields: {
      "Content-Type": spec.content_type,
      success_action_status: spec.success_action_status,
      "x-amz-meta-tag": spec.meta_tag,
    },
    Conditions: [
      ["eq", "$Content-Type", spec.content_type],
      ["content-length-range", spec.min_size, spec.max_size],
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

const cases = [await makeCase("v3", false, "us-east-1"), await makeCase("v3-temporary", true, "eu-west-1")];
process.stdout.write(JSON.stringify({ sdk: "aws-sdk-js-v3", version, cases }) + "\n");
