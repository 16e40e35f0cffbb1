// JavaScript signer driver for tests/test_signer_matrix.py.
//
// node js_signers.mjs SIGNER CASES.json
//   SIGNER: sdk-v3 | sdk-v2 | aws4 | aws4fetch | encodeuri
// Performs each case through the proxy in HTTPS_PROXY, trusting the CA bundle in MX_CA_BUNDLE,
// against MX_ENDPOINT, with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Every request carries
// the case id in the header x-mx-case. Prints {"version": ...} first, then one JSON line per
// case: {id, status, error, canonical} (canonical: the signer's own canonical request when the
// library exposes it). Modules are resolved from tests/js/node_modules.
//
// "encodeuri" is a hand-written signer of the kind found in many projects: it encodes path
// segments and query names/values with encodeURIComponent, which leaves ! ' ( ) * raw, and
// sends exactly the strings it signed.
import { createRequire } from "node:module";
import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import tls from "node:tls";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "js", "package.json"));
const ENDPOINT = process.env.MX_ENDPOINT;
const PROXY = process.env.HTTPS_PROXY;
const CA = fs.readFileSync(process.env.MX_CA_BUNDLE);
const AKID = process.env.AWS_ACCESS_KEY_ID;
const SECRET = process.env.AWS_SECRET_ACCESS_KEY;
const endpointUrl = new URL(ENDPOINT);
const HOSTPORT = endpointUrl.host;
const { HttpsProxyAgent } = require("https-proxy-agent");
// https-proxy-agent drops the host from its TLS options when it is an IP address, and Node
// then checks the server's certificate against "localhost": check it against the real host.
class IpSafeProxyAgent extends HttpsProxyAgent {
  connect(req, opts) {
    return super.connect(req, { ...opts, checkServerIdentity: (_h, cert) => tls.checkServerIdentity(opts.host, cert) });
  }
}
const agent = new IpSafeProxyAgent(PROXY, { ca: CA });

function pkgVersion(name) {
  const file = path.join(here, "..", "js", "node_modules", ...name.split("/"), "package.json");
  return JSON.parse(fs.readFileSync(file, "utf8")).version;
}

function urlOf(c) {
  return ENDPOINT + c.path + (c.query ? `?${c.query}` : "");
}

// One HTTPS request through the proxy; the target is sent exactly as given.
function send(method, target, headers, body) {
  if (body && !Object.keys(headers).some((h) => h.toLowerCase() === "content-length")) {
    headers = { ...headers, "content-length": String(Buffer.byteLength(body)) };
  }
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: endpointUrl.hostname, port: endpointUrl.port, method, path: target, headers, agent, ca: CA },
      (res) => { res.resume(); res.on("end", () => resolve(res.statusCode)); },
    );
    req.on("error", reject);
    req.setTimeout(30000, () => req.destroy(new Error("timeout")));
    if (body) req.write(body);
    req.end();
  });
}

// -- SDK v3 -----------------------------------------------------------------------------------
async function sdkV3() {
  const s3m = require("@aws-sdk/client-s3");
  const ddbm = require("@aws-sdk/client-dynamodb");
  const { getSignedUrl } = require("@aws-sdk/s3-request-presigner");
  const { NodeHttpHandler } = require("@smithy/node-http-handler");
  const current = { id: "" };
  const common = (region) => ({
    region,
    endpoint: ENDPOINT,
    credentials: { accessKeyId: AKID, secretAccessKey: SECRET },
    requestHandler: new NodeHttpHandler({ httpsAgent: agent, httpAgent: agent }),
    maxAttempts: 1,
  });
  const tag = (client) => {
    client.middlewareStack.add(
      (next) => async (args) => { args.request.headers["x-mx-case"] = current.id; return next(args); },
      { step: "build", name: "mxCase" },
    );
    return client;
  };
  const s3s = {}, ddbs = {};
  const s3 = (r) => (s3s[r] ||= tag(new s3m.S3Client({ ...common(r), forcePathStyle: true })));
  const ddb = (r) => (ddbs[r] ||= tag(new ddbm.DynamoDBClient(common(r))));
  const run = async (c) => {
    current.id = c.id;
    const op = c.op;
    const meta = (r) => r.$metadata.httpStatusCode;
    switch (op.name) {
      case "put_object":
        return meta(await s3(c.region).send(new s3m.PutObjectCommand({ Bucket: op.bucket, Key: op.key, Body: op.body })));
      case "get_object": {
        const r = await s3(c.region).send(new s3m.GetObjectCommand({ Bucket: op.bucket, Key: op.key }));
        await r.Body.transformToString();
        return meta(r);
      }
      case "list_objects_v2":
        return meta(await s3(c.region).send(new s3m.ListObjectsV2Command({ Bucket: op.bucket, Prefix: op.prefix })));
      case "list_tables":
        return meta(await ddb(c.region).send(new ddbm.ListTablesCommand({})));
      case "presign_get": {
        const url = await getSignedUrl(s3(c.region), new s3m.GetObjectCommand({ Bucket: op.bucket, Key: op.key }), { expiresIn: 300 });
        const u = new URL(url);
        return send("GET", u.pathname + u.search, { "x-mx-case": c.id }, null);
      }
      default:
        throw new Error(`unknown op ${op.name}`);
    }
  };
  return [`@aws-sdk/client-s3 ${pkgVersion("@aws-sdk/client-s3")} @aws-sdk/client-dynamodb ${pkgVersion("@aws-sdk/client-dynamodb")} @smithy/signature-v4 ${pkgVersion("@smithy/signature-v4")}`, run];
}

// -- SDK v2 -----------------------------------------------------------------------------------
async function sdkV2() {
  const AWS = require("aws-sdk");
  AWS.util.update(AWS.config, { logger: null });
  const cfg = (region, extra) => ({
    region,
    endpoint: ENDPOINT,
    accessKeyId: AKID,
    secretAccessKey: SECRET,
    maxRetries: 0,
    httpOptions: { agent },
    ...extra,
  });
  const withCase = (req, id) => {
    req.on("build", () => { req.httpRequest.headers["x-mx-case"] = id; });
    return req;
  };
  const status = async (req) => {
    let code = null;
    req.on("complete", (resp) => { code = resp.httpResponse.statusCode; });
    await req.promise();
    return code;
  };
  const run = async (c) => {
    const op = c.op;
    const s3 = new AWS.S3(cfg(c.region, { s3ForcePathStyle: true, signatureVersion: "v4" }));
    switch (op.name) {
      case "put_object":
        return status(withCase(s3.putObject({ Bucket: op.bucket, Key: op.key, Body: op.body }), c.id));
      case "get_object":
        return status(withCase(s3.getObject({ Bucket: op.bucket, Key: op.key }), c.id));
      case "list_objects_v2":
        return status(withCase(s3.listObjectsV2({ Bucket: op.bucket, Prefix: op.prefix }), c.id));
      case "list_tables":
        return status(withCase(new AWS.DynamoDB(cfg(c.region)).listTables({}), c.id));
      case "get_caller_identity":
        return status(withCase(new AWS.STS(cfg(c.region, { stsRegionalEndpoints: "regional" })).getCallerIdentity({}), c.id));
      case "presign_get": {
        const u = new URL(s3.getSignedUrl("getObject", { Bucket: op.bucket, Key: op.key, Expires: 300 }));
        return send("GET", u.pathname + u.search, { "x-mx-case": c.id }, null);
      }
      default:
        throw new Error(`unknown op ${op.name}`);
    }
  };
  return [`aws-sdk ${pkgVersion("aws-sdk")}`, run];
}

// -- aws4 -------------------------------------------------------------------------------------
async function aws4() {
  const aws4 = require("aws4");
  const run = async (c) => {
    const opts = {
      host: HOSTPORT,
      path: c.path + (c.query ? `?${c.query}` : ""),
      method: c.method,
      service: c.service,
      region: c.region,
      headers: { Host: HOSTPORT, ...(c.headers || {}), "x-mx-case": c.id },
      body: c.body || undefined,
      signQuery: !!c.presign,
    };
    const signer = new aws4.RequestSigner(opts, { accessKeyId: AKID, secretAccessKey: SECRET });
    signer.sign();
    run.canonical = signer.canonicalString();
    return send(opts.method, opts.path, opts.headers, c.body || null);
  };
  return [`aws4 ${pkgVersion("aws4")}`, run];
}

// -- aws4fetch (sent with undici's fetch through undici's ProxyAgent) --------------------------
async function aws4fetch() {
  const { AwsV4Signer } = require("aws4fetch");
  const { fetch, ProxyAgent } = require("undici");
  const dispatcher = new ProxyAgent({ uri: PROXY, requestTls: { ca: CA } });
  const run = async (c) => {
    const signer = new AwsV4Signer({
      url: urlOf(c),
      method: c.method,
      headers: { ...(c.headers || {}), "x-mx-case": c.id },
      body: c.body || undefined,
      accessKeyId: AKID,
      secretAccessKey: SECRET,
      service: c.service,
      region: c.region,
      signQuery: !!c.presign,
    });
    const signed = await signer.sign();
    run.canonical = await signer.canonicalString();
    const headers = Object.fromEntries(signed.headers.entries());
    if (c.presign) headers["x-mx-case"] = c.id;
    const r = await fetch(signed.url.toString(), { method: signed.method, headers, body: c.body || undefined, dispatcher });
    await r.arrayBuffer();
    return r.status;
  };
  return [`aws4fetch ${pkgVersion("aws4fetch")} undici ${pkgVersion("undici")}`, run];
}

// -- hand-written encodeURIComponent signer ----------------------------------------------------
async function encodeuri() {
  const hmac = (k, s) => crypto.createHmac("sha256", k).update(s, "utf8").digest();
  const sha = (s) => crypto.createHash("sha256").update(s, "utf8").digest("hex");
  const run = async (c) => {
    // c.segments: the unencoded path segments; c.params: [name, value] pairs, unencoded.
    const segs = c.segments || c.path.split("/").slice(1).map(decodeURIComponent);
    const p = "/" + segs.map(encodeURIComponent).join("/");
    const given = c.params_list || (c.query ? c.query.split("&").map((kv) => {
      const i = kv.indexOf("=");
      return i < 0 ? [decodeURIComponent(kv), ""] : [decodeURIComponent(kv.slice(0, i)), decodeURIComponent(kv.slice(i + 1))];
    }) : []);
    const pairs = given.map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)]);
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    const q = pairs.map(([k, v]) => `${k}=${v}`).join("&");
    const now = new Date().toISOString().replace(/[:-]|\.\d{3}/g, "");
    const date = now.slice(0, 8);
    const body = c.body || "";
    const headers = { host: HOSTPORT, "x-amz-date": now, "x-amz-content-sha256": sha(body), ...(c.headers || {}) };
    const names = Object.keys(headers).map((h) => h.toLowerCase()).sort();
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
    const canonical = [c.method, p, q, names.map((h) => `${h}:${lower[h].trim()}\n`).join(""), names.join(";"), sha(body)].join("\n");
    const scope = `${date}/${c.region}/${c.service}/aws4_request`;
    const sts = ["AWS4-HMAC-SHA256", now, scope, sha(canonical)].join("\n");
    let key = hmac("AWS4" + SECRET, date);
    for (const part of [c.region, c.service, "aws4_request"]) key = hmac(key, part);
    const sig = crypto.createHmac("sha256", key).update(sts, "utf8").digest("hex");
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${AKID}/${scope}, SignedHeaders=${names.join(";")}, Signature=${sig}`;
    headers["x-mx-case"] = c.id;
    run.canonical = canonical;
    return send(c.method, p + (q ? `?${q}` : ""), headers, body || null);
  };
  return [`hand-written encodeURIComponent signer (node ${process.version} crypto)`, run];
}

const DRIVERS = { "sdk-v3": sdkV3, "sdk-v2": sdkV2, aws4, aws4fetch, encodeuri };

const [signer, casesFile] = process.argv.slice(2);
if (!DRIVERS[signer] || !casesFile) {
  console.error(`usage: node js_signers.mjs {${Object.keys(DRIVERS).join("|")}} CASES.json`);
  process.exit(2);
}
const cases = JSON.parse(fs.readFileSync(casesFile, "utf8"));
const [version, run] = await DRIVERS[signer]();
console.log(JSON.stringify({ version }));
for (const c of cases) {
  run.canonical = null;
  let status = null, error = null;
  try {
    status = await run(c);
  } catch (e) {
    error = `${e.name}: ${e.message}`.slice(0, 400);
    status = e.$metadata?.httpStatusCode ?? e.statusCode ?? null;
  }
  console.log(JSON.stringify({ id: c.id, status, error, canonical: run.canonical ?? null }));
}
agent.destroy();
process.exit(0);
