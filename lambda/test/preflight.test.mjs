// The handler's answer to a browser's CORS preflight when it does CORS itself (STACKCTL_CORS unset or
// `handler`: no URL CORS config) with verified identity on (STACKCTL_AUTH_*): the preflight carries no token,
// so it is answered before the token check, allowing `authorization` (and JSON bodies). Without auth, or when
// the URL does CORS (STACKCTL_CORS=function-url), nothing changes. No request reaches DynamoDB or the JWKS.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";

let createHandler;
before(async () => {
  ({ createHandler } = await import("../dist/handler.js"));
});

const AUTH = {
  TABLE_NAME: "items-preflight-test",
  STACKCTL_AUTH_ISSUER: "https://issuer.example",
  STACKCTL_AUTH_AUDIENCE: "api",
  // Never fetched: a preflight is answered before any token is looked at.
  STACKCTL_AUTH_JWKS_URL: "http://127.0.0.1:9/jwks.json",
};

/** An OPTIONS event as a function URL sends it; `headers` are the request's. */
const options = (headers) => ({
  version: "2.0",
  rawPath: "/items",
  rawQueryString: "",
  headers,
  requestContext: { http: { method: "OPTIONS", path: "/items" } },
  isBase64Encoded: false,
});

const PREFLIGHT = {
  origin: "https://app.example.com",
  "access-control-request-method": "POST",
  "access-control-request-headers": "authorization,content-type",
};

describe("a CORS preflight", () => {
  test("with auth, handler CORS: 204 allowing authorization and content-type, before the token check", async () => {
    for (const cors of [undefined, "handler"]) {
      const handler = createHandler({ ...AUTH, STACKCTL_CORS: cors });
      const res = await handler(options(PREFLIGHT));
      assert.equal(res.statusCode, 204);
      assert.equal(res.body, "");
      assert.deepEqual(res.headers, {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE",
        "Access-Control-Allow-Headers": "authorization, content-type",
        "Access-Control-Max-Age": "300",
      });
      // Header names in any case, as a function URL may pass them.
      const upper = await handler(options({ Origin: "https://a.example", "Access-Control-Request-Method": "GET" }));
      assert.equal(upper.statusCode, 204);
    }
  });

  test("an OPTIONS that is not a preflight still needs a token (401, with the CORS header)", async () => {
    const handler = createHandler(AUTH);
    for (const headers of [{}, { origin: "https://app.example.com" }, { "access-control-request-method": "GET" }]) {
      const res = await handler(options(headers));
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(res.headers["Access-Control-Allow-Origin"], "*");
      assert.equal(res.headers["WWW-Authenticate"], "Bearer");
    }
  });

  test("when the URL does CORS (function-url), the handler does not answer preflights", async () => {
    const handler = createHandler({ ...AUTH, STACKCTL_CORS: "function-url" });
    const res = await handler(options(PREFLIGHT));
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers["Access-Control-Allow-Origin"], undefined);
  });

  test("without auth, nothing changes: OPTIONS is a method the handler does not serve", async () => {
    const handler = createHandler({ TABLE_NAME: "items-preflight-test" });
    const res = await handler(options(PREFLIGHT));
    assert.equal(res.statusCode, 400, res.body); // no userId: read before the method, as before
    assert.equal(res.headers["Access-Control-Allow-Headers"], undefined);
    const evt = { ...options(PREFLIGHT), rawQueryString: "userId=u", queryStringParameters: { userId: "u" } };
    const named = await handler(evt);
    assert.equal(named.statusCode, 405, named.body);
    assert.equal(named.headers["Access-Control-Allow-Headers"], undefined);
  });
});
