// Drive the AWS SDK for JavaScript v3 through the proxy (sigv4-inspector end-to-end test).
// Usage: node client.mjs   (env: PROXY_URL, ENDPOINT, NODE_EXTRA_CA_CERTS, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
import { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { HttpsProxyAgent } from "https-proxy-agent";
import https from "node:https";
import fs from "node:fs";

const agent = new HttpsProxyAgent(process.env.PROXY_URL, { ca: fs.readFileSync(process.env.NODE_EXTRA_CA_CERTS) });
const common = {
  region: "us-east-1",
  endpoint: process.env.ENDPOINT,
  requestHandler: new NodeHttpHandler({ httpsAgent: agent, httpAgent: agent }),
  maxAttempts: 1,
};
const s3 = new S3Client({ ...common, forcePathStyle: true });
const results = {};
async function step(name, fn) {
  try { await fn(); results[name] = "ok"; } catch (e) { results[name] = `${e.name}: ${e.message}`.slice(0, 200); }
}
await step("createBucket", () => s3.send(new CreateBucketCommand({ Bucket: "js" })));
await step("putObject", () => s3.send(new PutObjectCommand({ Bucket: "js", Key: "from js/ü+x.txt", Body: "hello from js" })));
await step("getObject", async () => {
  const r = await s3.send(new GetObjectCommand({ Bucket: "js", Key: "from js/ü+x.txt" }));
  const body = await r.Body.transformToString();
  if (body !== "hello from js") throw new Error("body mismatch: " + body);
});
await step("listObjectsV2", () => s3.send(new ListObjectsV2Command({ Bucket: "js", Prefix: "from js/" })));
await step("dynamodbListTables", () => new DynamoDBClient(common).send(new ListTablesCommand({})));
await step("presignedGet", async () => {
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: "js", Key: "from js/ü+x.txt" }), { expiresIn: 300 });
  await new Promise((resolve, reject) => {
    https.get(url, { agent }, (res) => { res.resume(); res.statusCode === 200 ? resolve() : reject(new Error("status " + res.statusCode)); }).on("error", reject);
  });
});
console.log(JSON.stringify(results));
