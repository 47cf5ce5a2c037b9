// Verified identity (STACKCTL_AUTH_*): dist/handler.js's createHandler against a local JWKS and discovery
// server (node:http on 127.0.0.1) and the local DynamoDB emulator (scripts/emulator.sh start exports
// AWS_ENDPOINT_URL). Tokens are signed here with jose.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from "jose";

if (!process.env.AWS_ENDPOINT_URL) {
  throw new Error('AWS_ENDPOINT_URL is not set: run eval "$(../scripts/emulator.sh start)" first');
}

const TABLE = `items-auth-test-${Date.now()}-${randomUUID().slice(0, 8)}`;
const ddb = new DynamoDBClient({});
const AUDIENCE = "items-api";
const CLIENT_ID = "cognito-app-client";
const FAST = { cooldownMs: 0, timeoutMs: 500 };
let createHandler;

/** A JWKS and discovery server: `keys` is what /jwks serves, `mode` how it answers, `hits` what it was asked. */
function keyServer() {
  const state = { keys: [], mode: "ok", hits: { jwks: 0, discovery: 0 }, issuer: "", jwksUrl: "" };
  const server = createServer((req, res) => {
    if (req.url === "/jwks") state.hits.jwks++;
    if (req.url === "/.well-known/openid-configuration") state.hits.discovery++;
    if (state.mode === "500") {
      res.writeHead(500).end("boom");
    } else if (state.mode === "hang") {
      // never answers: the handler's timeout must give up
    } else if (req.url === "/jwks") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: state.keys }));
    } else if (req.url === "/.well-known/openid-configuration") {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ issuer: state.issuer, jwks_uri: state.jwksUrl }));
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      state.issuer = `http://127.0.0.1:${server.address().port}`;
      state.jwksUrl = `${state.issuer}/jwks`;
      state.close = () => {
        server.closeAllConnections();
        return new Promise((done) => server.close(done));
      };
      resolve(state);
    }),
  );
}

/** A key pair with its public JWK under `kid`. */
async function keyPair(alg, kid) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

const now = () => Math.floor(Date.now() / 1000);

/** A signed token: claims over the defaults (iss, aud, sub, iat, exp in an hour); `header` over {alg, kid}. */
function sign(key, claims = {}, header = {}) {
  const payload = { iss: servers.main.issuer, aud: AUDIENCE, sub: `user-${randomUUID()}`, iat: now(), exp: now() + 3600, ...claims };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...header }).sign(key.privateKey);
}

const subOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).sub;

const servers = {};
const keys = {};

before(async () => {
  await ddb.send(
    new CreateTableCommand({
      TableName: TABLE,
      KeySchema: [
        { AttributeName: "userId", KeyType: "HASH" },
        { AttributeName: "itemId", KeyType: "RANGE" },
      ],
      AttributeDefinitions: [
        { AttributeName: "userId", AttributeType: "S" },
        { AttributeName: "itemId", AttributeType: "S" },
      ],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await waitUntilTableExists({ client: ddb, maxWaitTime: 30 }, { TableName: TABLE });
  process.env.TABLE_NAME = TABLE;
  ({ createHandler } = await import("../dist/handler.js"));
  keys.rs = await keyPair("RS256", "rs-1");
  keys.es = await keyPair("ES256", "es-1");
  keys.rotated = await keyPair("RS256", "rs-2");
  servers.main = await keyServer();
  servers.main.keys = [keys.rs.jwk, keys.es.jwk];
});

after(async () => {
  await Promise.all(Object.values(servers).map((s) => s.close()));
  await ddb.send(new DeleteTableCommand({ TableName: TABLE }));
  ddb.destroy();
});

/** The environment of a function with auth in the OIDC form against `server` (its JWKS URL unless said). */
const oidc = (server, extra = {}) => ({
  TABLE_NAME: TABLE,
  STACKCTL_AUTH_ISSUER: server.issuer,
  STACKCTL_AUTH_AUDIENCE: AUDIENCE,
  STACKCTL_AUTH_JWKS_URL: server.jwksUrl,
  ...extra,
});

/** A function URL event (payload 2.0); `token` goes in the Authorization header (a string: the whole value). */
function event(method, { query, body, token, authorization } = {}) {
  const headers = { "content-type": "application/json" };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (authorization !== undefined) headers.authorization = authorization;
  const e = {
    version: "2.0",
    rawPath: "/items",
    rawQueryString: new URLSearchParams(query ?? {}).toString(),
    headers,
    requestContext: { http: { method, path: "/items" } },
    isBase64Encoded: false,
  };
  if (query) e.queryStringParameters = query;
  if (body !== undefined) e.body = JSON.stringify(body);
  return e;
}

const CORS = { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*" };

/** Calls `handler`, parses the body; `headers` is the whole set of response headers expected. */
async function call(handler, evt, headers = CORS) {
  const res = await handler(evt);
  assert.deepEqual(res.headers, headers);
  return { status: res.statusCode, body: JSON.parse(res.body) };
}

const UNAUTHORIZED = { ...CORS, "WWW-Authenticate": "Bearer" };
const INVALID = { ...CORS, "WWW-Authenticate": 'Bearer error="invalid_token"' };

/** Asserts that a token is refused: 401, invalid_token, the reason in the body. */
async function assertRefused(handler, token, reason) {
  const res = await call(handler, event("GET", { token }), INVALID);
  assert.equal(res.status, 401);
  assert.match(res.body.error, reason);
}

describe("with STACKCTL_AUTH_ISSUER and STACKCTL_AUTH_AUDIENCE", () => {
  let handler;
  before(() => {
    handler = createHandler(oidc(servers.main), FAST);
  });

  test("a valid access token: the caller is its sub, and the items are the sub's", async () => {
    for (const key of [keys.rs, keys.es]) {
      const token = await sign(key);
      const sub = subOf(token);
      const created = await call(handler, event("POST", { token, body: { title: "mine" } }));
      assert.equal(created.status, 201);
      assert.equal(created.body.userId, sub);
      const listed = await call(handler, event("GET", { token }));
      assert.equal(listed.status, 200);
      assert.deepEqual(
        listed.body.items.map((item) => [item.userId, item.itemId]),
        [[sub, created.body.itemId]],
      );
      // The same userId as the token's sub is accepted.
      const same = await call(handler, event("GET", { token, query: { userId: sub, itemId: created.body.itemId } }));
      assert.equal(same.status, 200);
      assert.equal(same.body.title, "mine");
    }
  });

  test("no Authorization header: 401 with WWW-Authenticate: Bearer, and the CORS header", async () => {
    const res = await call(handler, event("GET", { query: { userId: "someone" } }), UNAUTHORIZED);
    assert.equal(res.status, 401);
    assert.match(res.body.error, /Missing Authorization header/);
    // A hand-written event with no headers at all is refused the same way.
    const bare = await call(handler, { requestContext: { http: { method: "GET" } } }, UNAUTHORIZED);
    assert.equal(bare.status, 401);
  });

  test("a malformed token or another scheme: 401 invalid_token", async () => {
    await assertRefused(handler, "not-a-jwt", /malformed/);
    await assertRefused(handler, "a.b.c", /malformed/);
    for (const authorization of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"]) {
      const res = await call(handler, event("GET", { authorization }), INVALID);
      assert.equal(res.status, 401);
    }
    // Two Authorization headers (joined by a comma) are refused, even when one is valid.
    const token = await sign(keys.rs);
    const twice = await call(handler, event("GET", { authorization: `Bearer ${token}, Bearer ${token}` }), INVALID);
    assert.equal(twice.status, 401);
  });

  test("an expired token (past the 5 s leeway): 401", async () => {
    await assertRefused(handler, await sign(keys.rs, { iat: now() - 600, exp: now() - 60 }), /expired/);
    // Within the leeway: still accepted.
    const res = await call(handler, event("GET", { token: await sign(keys.rs, { exp: now() - 1 }) }));
    assert.equal(res.status, 200);
  });

  test("a token not yet valid (nbf): 401", async () => {
    await assertRefused(handler, await sign(keys.rs, { nbf: now() + 60 }), /not yet valid/);
  });

  test("a token without exp or without sub: 401", async () => {
    await assertRefused(handler, await sign(keys.rs, { exp: undefined }), /exp/);
    await assertRefused(handler, await sign(keys.rs, { sub: undefined }), /sub/);
  });

  test("a token from another issuer: 401", async () => {
    await assertRefused(handler, await sign(keys.rs, { iss: "https://evil.example.com" }), /another issuer/);
    // No trailing-slash games: the issuer is compared exactly.
    await assertRefused(handler, await sign(keys.rs, { iss: `${servers.main.issuer}/` }), /another issuer/);
  });

  test("a token for another audience: 401", async () => {
    await assertRefused(handler, await sign(keys.rs, { aud: "another-api" }), /another audience/);
    await assertRefused(handler, await sign(keys.rs, { aud: undefined }), /aud/);
    // aud may be a list that contains ours.
    const res = await call(handler, event("GET", { token: await sign(keys.rs, { aud: ["other", AUDIENCE] }) }));
    assert.equal(res.status, 200);
  });

  test("alg none (an unsigned token): 401", async () => {
    const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const claims = { iss: servers.main.issuer, aud: AUDIENCE, sub: "victim", exp: now() + 3600 };
    for (const alg of ["none", "None", "NONE"]) {
      await assertRefused(handler, `${b64({ alg, typ: "JWT" })}.${b64(claims)}.`, /algorithm|malformed/);
    }
  });

  test("HS256 signed with the public key's bytes (the HS/RS confusion): 401", async () => {
    const pem = await exportSPKI(keys.rs.publicKey);
    const claims = { iss: servers.main.issuer, aud: AUDIENCE, sub: "victim", exp: now() + 3600 };
    for (const secret of [pem, JSON.stringify(keys.rs.jwk), keys.rs.jwk.n]) {
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256", kid: keys.rs.kid })
        .sign(new TextEncoder().encode(secret));
      await assertRefused(handler, token, /algorithm/);
    }
  });

  test("a token signed by another key under a known kid: 401", async () => {
    const forged = await keyPair("RS256", keys.rs.kid);
    await assertRefused(handler, await sign(forged), /signature/);
  });

  test("a userId other than the token's sub: 403 with the CORS header", async () => {
    const token = await sign(keys.rs);
    for (const method of ["GET", "POST", "PATCH", "DELETE"]) {
      const query = { userId: "someone-else", itemId: "item-1" };
      const res = await call(handler, event(method, { token, query, body: { title: "x", status: "done" } }));
      assert.equal(res.status, 403, method);
      assert.match(res.body.error, /userId/);
    }
  });

  test("a second user cannot read, change or delete the first user's item", async () => {
    const alice = await sign(keys.rs);
    const bob = await sign(keys.rs);
    const { body: item } = await call(handler, event("POST", { token: alice, body: { title: "alice's" } }));
    const itemId = item.itemId;
    const asBob = [
      event("GET", { token: bob, query: { itemId } }),
      event("PATCH", { token: bob, query: { itemId }, body: { status: "stolen" } }),
      event("DELETE", { token: bob, query: { itemId } }),
      // Naming alice's id is a 403, whatever the item.
      event("GET", { token: bob, query: { userId: subOf(alice), itemId } }),
      event("DELETE", { token: bob, query: { userId: subOf(alice), itemId } }),
    ];
    for (const evt of asBob) {
      const res = await call(handler, evt);
      assert.ok(res.status === 404 || res.status === 403, `${evt.requestContext.http.method}: ${res.status}`);
    }
    const bobs = await call(handler, event("GET", { token: bob }));
    assert.deepEqual(bobs.body.items, []);
    // Alice's item is untouched.
    const { Item } = await ddb.send(
      new GetItemCommand({ TableName: TABLE, Key: { userId: { S: subOf(alice) }, itemId: { S: itemId } }, ConsistentRead: true }),
    );
    assert.equal(Item.status.S, "pending");
    // And alice can still delete it (200), once.
    assert.equal((await call(handler, event("DELETE", { token: alice, query: { itemId } }))).status, 200);
    assert.equal((await call(handler, event("DELETE", { token: alice, query: { itemId } }))).status, 404);
  });
});

describe("the JWKS: cached, refetched for an unknown kid, 503 when it cannot be fetched", () => {
  test("a warm request makes no JWKS fetch", async () => {
    const server = (servers.warm = await keyServer());
    server.keys = [keys.rs.jwk];
    // The deployed cooldown (30 s), not the tests' 0.
    const handler = createHandler(oidc(server), { timeoutMs: 500 });
    const token = await sign(keys.rs, { iss: server.issuer });
    assert.equal((await call(handler, event("GET", { token }))).status, 200);
    assert.equal(server.hits.jwks, 1);
    for (let i = 0; i < 5; i++) assert.equal((await call(handler, event("GET", { token }))).status, 200);
    assert.equal(server.hits.jwks, 1);
    // Within the cooldown, an unknown kid does not refetch either (no fetch storm from forged kids).
    const stranger = await keyPair("RS256", "stranger");
    await assertRefused(handler, await sign(stranger, { iss: server.issuer }), /key/);
    assert.equal(server.hits.jwks, 1);
  });

  test("an unknown kid is refused, then accepted once the JWKS is rotated to include it (refetched)", async () => {
    const server = (servers.rotation = await keyServer());
    server.keys = [keys.rs.jwk];
    const handler = createHandler(oidc(server), FAST);
    assert.equal((await call(handler, event("GET", { token: await sign(keys.rs, { iss: server.issuer }) }))).status, 200);
    const before = server.hits.jwks;
    const token = await sign(keys.rotated, { iss: server.issuer });
    await assertRefused(handler, token, /signing key/);
    assert.equal(server.hits.jwks, before + 1);
    server.keys = [keys.rs.jwk, keys.rotated.jwk];
    const res = await call(handler, event("GET", { token }));
    assert.equal(res.status, 200);
    assert.equal(server.hits.jwks, before + 2);
  });

  const unavailable = async (handler, token) => {
    const res = await call(handler, event("GET", { token }));
    assert.equal(res.status, 503);
    assert.match(res.body.error, /keys could not be fetched/);
  };

  test("the JWKS server answering 500, hanging, or down: 503 (never 200), and 200 once it is back", async () => {
    const server = (servers.flaky = await keyServer());
    server.keys = [keys.rs.jwk];
    const token = await sign(keys.rs, { iss: server.issuer });
    for (const mode of ["500", "hang"]) {
      server.mode = mode;
      await unavailable(createHandler(oidc(server), FAST), token);
    }
    const handler = createHandler(oidc(server), FAST);
    server.mode = "500";
    await unavailable(handler, token);
    server.mode = "ok";
    assert.equal((await call(handler, event("GET", { token }))).status, 200);
    // Down: nothing listens on the port.
    const gone = await keyServer();
    await gone.close();
    await unavailable(createHandler(oidc(gone, { STACKCTL_AUTH_JWKS_URL: gone.jwksUrl }), FAST), token);
  });

  test("without STACKCTL_AUTH_JWKS_URL, the discovery document names the JWKS: fetched once", async () => {
    const server = (servers.discovery = await keyServer());
    server.keys = [keys.es.jwk];
    const handler = createHandler(oidc(server, { STACKCTL_AUTH_JWKS_URL: undefined }), FAST);
    const token = await sign(keys.es, { iss: server.issuer });
    for (let i = 0; i < 3; i++) assert.equal((await call(handler, event("GET", { token }))).status, 200);
    assert.deepEqual(server.hits, { jwks: 1, discovery: 1 });
  });

  test("a discovery document that cannot be fetched, or names another issuer: 503, retried on the next request", async () => {
    const server = (servers.discovery2 = await keyServer());
    server.keys = [keys.rs.jwk];
    const handler = createHandler(oidc(server, { STACKCTL_AUTH_JWKS_URL: undefined }), FAST);
    const token = await sign(keys.rs, { iss: server.issuer });
    server.mode = "500";
    await unavailable(handler, token);
    server.mode = "ok";
    const issuer = server.issuer;
    server.issuer = "https://evil.example.com";
    await unavailable(handler, token);
    server.issuer = issuer;
    assert.equal((await call(handler, event("GET", { token }))).status, 200);
    assert.equal(server.hits.discovery, 3);
  });

  test("a token without kid when the JWKS has several keys of its kind: 401 saying so", async () => {
    const server = (servers.twoKeys = await keyServer());
    server.keys = [keys.rs.jwk, keys.rotated.jwk];
    const handler = createHandler(oidc(server), FAST);
    await assertRefused(handler, await sign(keys.rs, { iss: server.issuer }, { kid: undefined }), /names no key \(kid\) and the issuer has several/);
    // With its kid, the same key is accepted.
    assert.equal((await call(handler, event("GET", { token: await sign(keys.rs, { iss: server.issuer }) }))).status, 200);
  });

  test("an https issuer's discovery document cannot send the key fetch to a loopback http port: 503, 0 requests", async (t) => {
    // A self-signed certificate for 127.0.0.1, trusted only for this test.
    const dir = mkdtempSync(join(tmpdir(), "auth-test-tls-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    const tls = { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
    rmSync(dir, { recursive: true, force: true });
    const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
    t.after(() => {
      if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous;
    });

    // The plain-http "JWKS" on loopback (on Lambda this would be the Runtime API): counts every request.
    let plainHits = 0;
    const plain = createServer((req, res) => {
      plainHits++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [keys.rs.jwk] }));
    });
    await new Promise((done) => plain.listen(0, "127.0.0.1", done));
    const state = { jwksUri: "", discovery: 0, jwks: 0 };
    const secure = createHttpsServer(tls, (req, res) => {
      if (req.url === "/.well-known/openid-configuration") {
        state.discovery++;
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ issuer, jwks_uri: state.jwksUri }));
      } else if (req.url === "/jwks") {
        state.jwks++;
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [keys.rs.jwk] }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise((done) => secure.listen(0, "127.0.0.1", done));
    const issuer = `https://127.0.0.1:${secure.address().port}`;
    t.after(() => {
      for (const s of [plain, secure]) s.closeAllConnections();
      return Promise.all([plain, secure].map((s) => new Promise((done) => s.close(done))));
    });

    const env = { TABLE_NAME: TABLE, STACKCTL_AUTH_ISSUER: issuer, STACKCTL_AUTH_AUDIENCE: AUDIENCE };
    const token = await sign(keys.rs, { iss: issuer });
    const logged = [];
    t.mock.method(console, "error", (...args) => logged.push(args.join(" ")));
    for (const path of ["/jwks.json", "/jwks"]) {
      state.jwksUri = `http://127.0.0.1:${plain.address().port}${path}`;
      await unavailable(createHandler(env, FAST), token);
    }
    assert.equal(plainHits, 0);
    assert.equal(state.discovery, 2);
    assert.match(logged.join("\n"), /has no https jwks_uri/);
    // The control: the same issuer naming an https jwks_uri is served (so the 503 above was the URL rule).
    state.jwksUri = `${issuer}/jwks`;
    assert.equal((await call(createHandler(env, FAST), event("GET", { token }))).status, 200);
    assert.equal(state.jwks, 1);
    assert.equal(plainHits, 0);
  });
});

describe("the Cognito form (STACKCTL_AUTH_CLIENT_ID)", () => {
  let handler;
  const cognito = (claims) => sign(keys.rs, { aud: undefined, client_id: CLIENT_ID, token_use: "access", ...claims });
  before(() => {
    handler = createHandler(
      oidc(servers.main, { STACKCTL_AUTH_AUDIENCE: undefined, STACKCTL_AUTH_CLIENT_ID: CLIENT_ID }),
      FAST,
    );
  });

  test("an access token of the client: 200 (no aud check)", async () => {
    assert.equal((await call(handler, event("GET", { token: await cognito() }))).status, 200);
  });

  test("another client's access token: 401", async () => {
    await assertRefused(handler, await cognito({ client_id: "another-client" }), /another client/);
    await assertRefused(handler, await cognito({ client_id: undefined }), /another client/);
  });

  test("an ID token (token_use=id, aud = the client): 401", async () => {
    await assertRefused(handler, await cognito({ token_use: "id", client_id: undefined, aud: CLIENT_ID }), /access token/);
  });
});

describe("misconfigured auth answers 500, never 200", () => {
  const cases = {
    "neither audience nor client id": { STACKCTL_AUTH_AUDIENCE: undefined },
    "both audience and client id": { STACKCTL_AUTH_CLIENT_ID: CLIENT_ID },
    "an http issuer not on loopback": { STACKCTL_AUTH_ISSUER: "http://issuer.example.com" },
    "an http JWKS URL not on loopback": { STACKCTL_AUTH_JWKS_URL: "http://issuer.example.com/jwks" },
    "a setting without the issuer": { STACKCTL_AUTH_ISSUER: undefined },
  };
  // A name present in the environment, even empty, means auth was meant: never off, never served by ?userId=.
  // (functions: servers.main exists once the top-level before has run)
  const EMPTY = {
    "STACKCTL_AUTH_ISSUER empty, alone": () => ({ TABLE_NAME: TABLE, STACKCTL_AUTH_ISSUER: "" }),
    "all four STACKCTL_AUTH_* empty": () => ({
      TABLE_NAME: TABLE,
      STACKCTL_AUTH_ISSUER: "",
      STACKCTL_AUTH_AUDIENCE: "",
      STACKCTL_AUTH_CLIENT_ID: "",
      STACKCTL_AUTH_JWKS_URL: "",
    }),
    "the issuer set, the audience empty": () => oidc(servers.main, { STACKCTL_AUTH_AUDIENCE: "" }),
    "the issuer set, the JWKS URL empty": () => oidc(servers.main, { STACKCTL_AUTH_JWKS_URL: "" }),
    "the issuer only blanks": () => ({ TABLE_NAME: TABLE, STACKCTL_AUTH_ISSUER: "  " }),
  };
  for (const [name, change] of Object.entries(cases)) {
    test(name, async (t) => {
      const logged = [];
      t.mock.method(console, "error", (...args) => logged.push(args.join(" ")));
      const handler = createHandler(oidc(servers.main, change), FAST);
      assert.match(logged.join("\n"), /Server misconfigured: .*every request will answer 500/);
      const res = await call(handler, event("GET", { token: await sign(keys.rs) }));
      assert.equal(res.status, 500);
      assert.match(res.body.error, /Server misconfigured/);
    });
  }
  for (const name of Object.keys(EMPTY)) {
    test(`${name}: 500, not auth off`, async (t) => {
      const logged = [];
      t.mock.method(console, "error", (...args) => logged.push(args.join(" ")));
      const handler = createHandler(EMPTY[name](), FAST);
      assert.match(logged.join("\n"), /Server misconfigured: .*empty.*every request will answer 500/);
      // An item the old behaviour would serve by ?userId=: with auth meant, it is never read.
      const victim = `victim-${randomUUID()}`;
      const open = createHandler({ TABLE_NAME: TABLE }, FAST);
      assert.equal((await call(open, event("POST", { query: { userId: victim }, body: { title: "secret" } }))).status, 201);
      for (const evt of [
        event("GET", { query: { userId: victim } }),
        event("POST", { query: { userId: victim }, body: { title: "x" } }),
        event("GET", { token: await sign(keys.rs) }),
      ]) {
        const res = await call(handler, evt);
        assert.equal(res.status, 500);
        assert.match(res.body.error, /Server misconfigured/);
        assert.ok(!JSON.stringify(res.body).includes("secret"));
      }
      const listed = await call(open, event("GET", { query: { userId: victim } }));
      assert.deepEqual(listed.body.items.map((item) => item.title), ["secret"]);
    });
  }
});

test("with STACKCTL_CORS=function-url, refusals carry no CORS header of the handler's (the URL adds them)", async () => {
  const handler = createHandler(oidc(servers.main, { STACKCTL_CORS: "function-url" }), FAST);
  const plain = { "Content-Type": "application/json" };
  const none = await call(handler, event("GET"), { ...plain, "WWW-Authenticate": "Bearer" });
  assert.equal(none.status, 401);
  const bad = await call(handler, event("GET", { token: "x.y.z" }), { ...plain, "WWW-Authenticate": 'Bearer error="invalid_token"' });
  assert.equal(bad.status, 401);
  const token = await sign(keys.rs);
  assert.equal((await call(handler, event("GET", { token, query: { userId: "other" } }), plain)).status, 403);
});

test("tokens never appear in the logs, whatever the answer", async (t) => {
  const output = [];
  for (const name of ["log", "info", "warn", "error", "debug"]) {
    t.mock.method(console, name, (...args) => output.push(args.map(String).join(" ")));
  }
  const down = await keyServer();
  await down.close();
  const tokens = [
    await sign(keys.rs),
    await sign(keys.rs, { exp: now() - 600 }),
    await sign(keys.rs, { aud: "other" }),
    await sign(keys.rotated),
  ];
  const handlers = [
    createHandler(oidc(servers.main), FAST),
    createHandler(oidc(down), FAST),
    createHandler(oidc(down, { STACKCTL_AUTH_JWKS_URL: undefined }), FAST),
    createHandler(oidc(servers.main, { STACKCTL_AUTH_AUDIENCE: undefined }), FAST),
  ];
  const statuses = new Set();
  for (const handler of handlers) {
    for (const token of tokens) {
      statuses.add((await handler(event("POST", { token, body: { title: "x" } }))).statusCode);
      statuses.add((await handler(event("POST", { token, body: "{not json" }))).statusCode);
    }
  }
  assert.deepEqual([...statuses].sort(), [201, 400, 401, 500, 503]);
  const text = output.join("\n");
  assert.ok(text.length > 0, "something was logged (the 503s and the misconfiguration)");
  for (const token of tokens) {
    for (const part of token.split(".")) assert.ok(!text.includes(part), "a token's part was logged");
  }
});

test("without STACKCTL_AUTH_*, the handler ignores an Authorization header and reads userId as before", async () => {
  const handler = createHandler({ TABLE_NAME: TABLE }, FAST);
  const token = await sign(keys.rs);
  const res = await call(handler, event("GET", { token, query: { userId: "plain-user" } }));
  assert.deepEqual(res, { status: 200, body: { items: [] } });
  const missing = await call(handler, event("GET", { token }));
  assert.deepEqual(missing, { status: 400, body: { error: "Missing userId parameter" } });
});
