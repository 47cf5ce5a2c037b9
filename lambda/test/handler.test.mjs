// Tests dist/handler.js against a real local DynamoDB emulator (scripts/emulator.sh start exports AWS_ENDPOINT_URL).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";

// Never fall through to real AWS: without the emulator the whole file fails.
if (!process.env.AWS_ENDPOINT_URL) {
  throw new Error('AWS_ENDPOINT_URL is not set: run eval "$(../scripts/emulator.sh start)" first');
}

const TABLE = `items-test-${Date.now()}-${randomUUID().slice(0, 8)}`;
const ddb = new DynamoDBClient({});
const DIST = fileURLToPath(new URL("../dist/handler.js", import.meta.url));
let handler;
/** The handler's DynamoDBDocumentClient (exported for tests): a middleware on it sees every command sent. */
let db;

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
  ({ handler, db } = await import("../dist/handler.js"));
});

after(async () => {
  await ddb.send(new DeleteTableCommand({ TableName: TABLE }));
  ddb.destroy();
});

/**
 * Builds a real API Gateway HTTP API (payload v2.0) event; `raw` is its rawQueryString when the query string
 * is not simply `query` (repeated keys, which queryStringParameters joins with commas).
 */
function event(method, query, body, { base64 = false, raw } = {}) {
  const qs = query ?? {};
  const e = {
    version: "2.0",
    routeKey: `${method} /items`,
    rawPath: "/items",
    rawQueryString: raw ?? new URLSearchParams(qs).toString(),
    headers: { "content-type": "application/json" },
    requestContext: {
      accountId: "123456789012",
      apiId: "test",
      domainName: "test.execute-api.us-east-1.amazonaws.com",
      domainPrefix: "test",
      http: { method, path: "/items", protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "node-test" },
      requestId: randomUUID(),
      routeKey: `${method} /items`,
      stage: "$default",
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    isBase64Encoded: base64,
  };
  if (query) e.queryStringParameters = qs;
  if (body !== undefined) {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    e.body = base64 ? Buffer.from(text).toString("base64") : text;
  }
  return e;
}

/** Invokes the handler, checks the headers every response must carry, and parses the JSON body. */
async function call(evt) {
  const res = await handler(evt);
  assert.equal(typeof res, "object");
  assert.deepEqual(res.headers, { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*" });
  assert.equal(typeof res.body, "string");
  return { status: res.statusCode, body: JSON.parse(res.body) };
}

const newUser = () => `user-${randomUUID()}`;
const create = (userId, body) => call(event("POST", { userId }, body));
const list = (userId, params = {}) => call(event("GET", { userId, ...params }));
const get = (userId, itemId) => call(event("GET", { userId, itemId }));
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const base64url = (text) => Buffer.from(text).toString("base64url");

/** Records every DynamoDB command the handler sends until stop(): its name (GetItemCommand...) and input. */
function watchCommands() {
  const sent = [];
  const name = `watch-${randomUUID()}`;
  db.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push({ command: context.commandName, input: { ...args.input } });
      return next(args);
    },
    { step: "initialize", name },
  );
  return { sent, stop: () => db.middlewareStack.remove(name) };
}

/**
 * Stores n items for userId straight into the table, as an older handler (no title limit) could have:
 * itemIds in the old format (creation millisecond, random part), in creation order. Returns the itemIds.
 */
async function storeItems(userId, n, titleOf) {
  const base = Date.now() - 60_000;
  const ids = Array.from({ length: n }, (_, i) => `item-${base + i}-${randomUUID().replaceAll("-", "").slice(0, 12)}`);
  for (let start = 0; start < n; start += 10) {
    await Promise.all(
      ids.slice(start, start + 10).map((itemId, j) =>
        ddb.send(
          new PutItemCommand({
            TableName: TABLE,
            Item: {
              userId: { S: userId },
              itemId: { S: itemId },
              title: { S: titleOf(start + j) },
              status: { S: "pending" },
              createdAt: { S: new Date(base + start + j).toISOString() },
            },
          }),
        ),
      ),
    );
  }
  return ids;
}

/** Every page of a user's list, following nextToken: [{items, nextToken}, ...]. */
async function allPages(userId, params = {}) {
  const pages = [];
  let nextToken;
  do {
    const res = await list(userId, nextToken ? { ...params, nextToken } : params);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    pages.push(res.body);
    nextToken = res.body.nextToken;
    assert.ok(pages.length < 1000, "nextToken never ends");
  } while (nextToken);
  return pages;
}

describe("tutorial sequence", () => {
  test("create two, list both, delete the first, list one, missing userId 400, PUT 405", async () => {
    const userId = newUser();
    const a = await create(userId, { title: "First" });
    const b = await create(userId, { title: "Second", status: "done" });
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);

    let res = await list(userId);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.items.map((i) => i.title).sort(), ["First", "Second"]);

    res = await call(event("DELETE", { userId, itemId: a.body.itemId }));
    assert.deepEqual(res, { status: 200, body: { deleted: true } });

    res = await list(userId);
    assert.deepEqual(res.body.items, [b.body]);

    res = await call(event("GET", undefined));
    assert.deepEqual(res, { status: 400, body: { error: "Missing userId parameter" } });

    res = await call(event("PUT", { userId }, { title: "x" }));
    assert.deepEqual(res, { status: 405, body: { error: "Method not allowed" } });
  });
});

describe("userId", () => {
  test("every method needs userId (absent or empty)", async () => {
    for (const method of ["GET", "POST", "DELETE", "PATCH", "PUT"]) {
      for (const query of [undefined, {}, { userId: "" }, { itemId: "item-1" }]) {
        const res = await call(event(method, query, { title: "t", status: "s" }));
        assert.deepEqual(res, { status: 400, body: { error: "Missing userId parameter" } }, `${method} ${JSON.stringify(query)}`);
      }
    }
  });

  test("a user only sees their own items", async () => {
    const [u1, u2] = [newUser(), newUser()];
    await create(u1, { title: "mine" });
    const other = await create(u2, { title: "theirs" });
    assert.deepEqual((await list(u2)).body.items, [other.body]);
    assert.equal((await get(u1, other.body.itemId)).status, 404);
  });
});

describe("POST", () => {
  test("201 with the stored item; status defaults to pending", async () => {
    const userId = newUser();
    const before = Date.now();
    const res = await create(userId, { title: "Buy milk" });
    assert.equal(res.status, 201);
    assert.deepEqual(Object.keys(res.body).sort(), ["createdAt", "itemId", "status", "title", "userId"]);
    assert.equal(res.body.userId, userId);
    assert.equal(res.body.title, "Buy milk");
    assert.equal(res.body.status, "pending");
    assert.match(res.body.createdAt, ISO);
    assert.match(res.body.itemId, /^item-\d{13}-[0-9a-f]{6,}$/);
    const millis = Number(res.body.itemId.split("-")[1]);
    assert.equal(millis, Date.parse(res.body.createdAt));
    assert.ok(millis >= before && millis <= Date.now());

    // Really stored, exactly as returned.
    const stored = await ddb.send(
      new GetItemCommand({ TableName: TABLE, Key: { userId: { S: userId }, itemId: { S: res.body.itemId } } }),
    );
    assert.deepEqual(stored.Item, {
      userId: { S: userId },
      itemId: { S: res.body.itemId },
      title: { S: "Buy milk" },
      status: { S: "pending" },
      createdAt: { S: res.body.createdAt },
    });
  });

  test("keeps a given status", async () => {
    const res = await create(newUser(), { title: "Ship it", status: "in-progress" });
    assert.equal(res.status, 201);
    assert.equal(res.body.status, "in-progress");
  });

  test("accepts a base64-encoded body", async () => {
    const userId = newUser();
    const res = await call(event("POST", { userId }, { title: "Encoded ✓" }, { base64: true }));
    assert.equal(res.status, 201);
    assert.equal(res.body.title, "Encoded ✓");
    assert.deepEqual((await get(userId, res.body.itemId)).body, res.body);
  });

  test("missing or empty title -> 400", async () => {
    const userId = newUser();
    for (const body of [undefined, "", {}, { title: "" }, { title: "   " }, { title: null }, { status: "done" }, "null", "[]"]) {
      const res = await call(event("POST", { userId }, body));
      assert.deepEqual(res, { status: 400, body: { error: "Missing title in request body" } }, JSON.stringify(body));
    }
    assert.deepEqual((await list(userId)).body.items, []);
  });

  test("invalid JSON -> 400 (plain and base64)", async () => {
    const userId = newUser();
    for (const base64 of [false, true]) {
      const res = await call(event("POST", { userId }, "{title: nope", { base64 }));
      assert.deepEqual(res, { status: 400, body: { error: "Invalid JSON in request body" } });
    }
  });

  test("20 concurrent POSTs get distinct itemIds and list in the order they were sent", async () => {
    const userId = newUser();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => create(userId, { title: `t${i}` })));
    assert.ok(results.every((r) => r.status === 201));
    const ids = results.map((r) => r.body.itemId);
    assert.equal(new Set(ids).size, 20);

    const items = (await list(userId)).body.items;
    // Creation order is the order the requests reached the handler, whatever their itemIds look like.
    assert.deepEqual(items.map((i) => i.title), Array.from({ length: 20 }, (_, i) => `t${i}`));
    assert.deepEqual(items, results.map((r) => r.body));
    const created = items.map((i) => Date.parse(i.createdAt));
    assert.deepEqual(created, [...created].sort((x, y) => x - y));
  });

  test("items created in the same millisecond list in creation order (Date.now pinned)", async (t) => {
    const userId = newUser();
    const pinned = Date.now();
    t.mock.method(Date, "now", () => pinned);
    const titles = Array.from({ length: 12 }, (_, i) => `same ms ${i}`);
    const created = [];
    for (const title of titles) created.push((await create(userId, { title })).body);
    // Really one millisecond for all of them.
    assert.deepEqual(new Set(created.map((i) => i.createdAt)), new Set([new Date(pinned).toISOString()]));
    assert.equal(new Set(created.map((i) => i.itemId)).size, titles.length);

    const items = (await list(userId)).body.items;
    assert.deepEqual(items.map((i) => i.title), titles);
    assert.deepEqual(items, created);
    // Pages keep that order too.
    const pages = await allPages(userId, { limit: "5" });
    assert.deepEqual(pages.flatMap((p) => p.items.map((i) => i.title)), titles);
  });

  test("a clock that steps back does not reorder the list", async (t) => {
    const userId = newUser();
    const start = Date.now();
    let now = start;
    t.mock.method(Date, "now", () => now);
    const created = [];
    for (const [i, at] of [start, start - 5000, start - 5000, start - 1].entries()) {
      now = at;
      created.push((await create(userId, { title: `tick ${i}` })).body);
    }
    t.mock.restoreAll();
    const items = (await list(userId)).body.items;
    assert.deepEqual(items.map((i) => i.title), ["tick 0", "tick 1", "tick 2", "tick 3"]);
    // createdAt never goes back either, and stays the itemId's millisecond.
    for (const item of created) {
      assert.equal(item.createdAt, new Date(start).toISOString());
      assert.equal(Number(item.itemId.split("-")[1]), start);
    }
  });

  test("sequential POSTs sort in creation order", async () => {
    const userId = newUser();
    const ids = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await create(userId, { title: `seq${i}` })).body.itemId);
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.deepEqual((await list(userId)).body.items.map((i) => i.itemId), ids);
  });
});

describe("GET", () => {
  test("item found -> 200 with the item; unknown -> 404", async () => {
    const userId = newUser();
    const created = await create(userId, { title: "Find me" });
    assert.deepEqual(await get(userId, created.body.itemId), { status: 200, body: created.body });
    assert.deepEqual(await get(userId, "item-0-nothere"), { status: 404, body: { error: "Item not found" } });
  });

  test("GET of an item and every Query of the list are strongly consistent reads", async () => {
    const userId = newUser();
    const { body: item } = await create(userId, { title: "Read my write" });
    const watch = watchCommands();
    try {
      assert.deepEqual(await get(userId, item.itemId), { status: 200, body: item });
      assert.deepEqual((await list(userId)).body.items, [item]);
      assert.equal((await list(userId, { limit: "1" })).status, 200);
    } finally {
      watch.stop();
    }
    const gets = watch.sent.filter((c) => c.command === "GetItemCommand");
    const queries = watch.sent.filter((c) => c.command === "QueryCommand");
    assert.equal(gets.length, 1, JSON.stringify(watch.sent));
    assert.ok(queries.length >= 2, JSON.stringify(watch.sent));
    assert.equal(watch.sent.length, gets.length + queries.length);
    for (const c of watch.sent) assert.equal(c.input.ConsistentRead, true, c.command);
  });

  test("list of a user with no items -> 200 with empty items", async () => {
    assert.deepEqual(await list(newUser()), { status: 200, body: { items: [] } });
  });

  test("a page holds at most 1 MiB of items by default and with limit=1000; nextToken walks the rest", async () => {
    // 60 items of 20 KB, 1.2 MB in all (titles longer than POST now accepts, as an older handler could store them).
    const userId = newUser();
    const N = 60;
    const pad = "x".repeat(20 * 1024);
    const ids = await storeItems(userId, N, (i) => `${i}:${pad}`);
    const jsonBytes = (value) => Buffer.byteLength(JSON.stringify(value));

    for (const params of [{}, { limit: "1000" }]) {
      const pages = await allPages(userId, params);
      assert.ok(pages.length >= 2, `${pages.length} page(s) for ${JSON.stringify(params)}`);
      for (const [i, page] of pages.entries()) {
        const bytes = page.items.reduce((sum, item) => sum + jsonBytes(item), 0);
        assert.ok(bytes <= 1024 * 1024, `page ${i}: ${bytes} bytes of items`);
        // Full: the next item would not have fitted.
        const next = pages[i + 1]?.items[0];
        if (next) assert.ok(bytes + jsonBytes(next) > 1024 * 1024, `page ${i} stopped early at ${bytes} bytes`);
      }
      assert.deepEqual(pages.flatMap((p) => p.items.map((item) => item.itemId)), ids, JSON.stringify(params));
    }
  });

  test("a page is filled across Query pages (DynamoDB ends a Query at its Limit or at 1 MB read)", async () => {
    const userId = newUser();
    const created = [];
    for (let i = 0; i < 7; i++) created.push((await create(userId, { title: `q${i}` })).body);
    // Every Query answers at most 2 items, as a Query cut at 1 MB answers fewer than its Limit.
    const name = `small-queries-${randomUUID()}`;
    db.middlewareStack.add(
      (next, context) => async (args) =>
        context.commandName === "QueryCommand" ? next({ ...args, input: { ...args.input, Limit: 2 } }) : next(args),
      { step: "initialize", name },
    );
    const watch = watchCommands();
    let page;
    let rest;
    try {
      page = await list(userId, { limit: "5" });
      rest = await list(userId, { nextToken: page.body.nextToken });
    } finally {
      watch.stop();
      db.middlewareStack.remove(name);
    }
    assert.deepEqual(page.body.items, created.slice(0, 5));
    assert.ok(page.body.nextToken);
    assert.deepEqual(rest.body, { items: created.slice(5) });
    // The first page needs 3 Queries of 2 (5 items and one ahead to know there is more), the rest 1 at least.
    assert.ok(watch.sent.length >= 4, `${watch.sent.length} Query call(s)`);
  });
});

describe("DELETE", () => {
  test("deletes -> 200 {deleted:true}, then GET -> 404", async () => {
    const userId = newUser();
    const { body: item } = await create(userId, { title: "Bye" });
    assert.deepEqual(await call(event("DELETE", { userId, itemId: item.itemId })), { status: 200, body: { deleted: true } });
    assert.equal((await get(userId, item.itemId)).status, 404);
  });

  test("missing itemId -> 400", async () => {
    for (const query of [{ userId: "u" }, { userId: "u", itemId: "" }]) {
      const res = await call(event("DELETE", query));
      assert.deepEqual(res, { status: 400, body: { error: "Missing itemId parameter" } });
    }
  });
});

describe("PATCH", () => {
  test("updates status and updatedAt, returns the whole item", async () => {
    const userId = newUser();
    const { body: item } = await create(userId, { title: "Patch me" });
    const before = Date.now();
    const res = await call(event("PATCH", { userId, itemId: item.itemId }, { status: "done", title: "ignored" }));
    assert.equal(res.status, 200);
    const { updatedAt, ...rest } = res.body;
    assert.deepEqual(rest, { ...item, status: "done" });
    assert.match(updatedAt, ISO);
    assert.ok(Date.parse(updatedAt) >= before && Date.parse(updatedAt) <= Date.now());
    assert.deepEqual(await get(userId, item.itemId), { status: 200, body: res.body });
  });

  test("accepts a base64-encoded body", async () => {
    const userId = newUser();
    const { body: item } = await create(userId, { title: "b64" });
    const res = await call(event("PATCH", { userId, itemId: item.itemId }, { status: "archived" }, { base64: true }));
    assert.equal(res.status, 200);
    assert.equal(res.body.status, "archived");
  });

  test("missing item -> 404 and nothing is created", async () => {
    const userId = newUser();
    const res = await call(event("PATCH", { userId, itemId: "item-0-ghost" }, { status: "done" }));
    assert.deepEqual(res, { status: 404, body: { error: "Item not found" } });
    assert.equal((await get(userId, "item-0-ghost")).status, 404);
    assert.deepEqual((await list(userId)).body.items, []);
  });

  test("missing itemId -> 400", async () => {
    for (const query of [{ userId: "u" }, { userId: "u", itemId: "" }]) {
      const res = await call(event("PATCH", query, { status: "done" }));
      assert.deepEqual(res, { status: 400, body: { error: "Missing itemId parameter" } });
    }
  });

  test("missing or empty status -> 400, item unchanged", async () => {
    const userId = newUser();
    const { body: item } = await create(userId, { title: "Keep" });
    for (const body of [undefined, {}, { status: "" }, { status: "  " }, { status: null }, { title: "x" }]) {
      const res = await call(event("PATCH", { userId, itemId: item.itemId }, body));
      assert.deepEqual(res, { status: 400, body: { error: "Missing status in request body" } }, JSON.stringify(body));
    }
    assert.deepEqual((await get(userId, item.itemId)).body, item);
  });

  test("invalid JSON -> 400", async () => {
    const res = await call(event("PATCH", { userId: "u", itemId: "item-1" }, "not json"));
    assert.deepEqual(res, { status: 400, body: { error: "Invalid JSON in request body" } });
  });
});

describe("list pages (limit, nextToken)", () => {
  test("limit and nextToken walk the list in creation order; nextToken only when there is more", async () => {
    const userId = newUser();
    const created = [];
    for (let i = 0; i < 7; i++) created.push((await create(userId, { title: `p${i}` })).body);

    const pages = await allPages(userId, { limit: "3" });
    assert.deepEqual(pages.map((p) => p.items.length), [3, 3, 1]);
    assert.deepEqual(pages.flatMap((p) => p.items), created);
    for (const p of pages.slice(0, -1)) {
      assert.deepEqual(Object.keys(p).sort(), ["items", "nextToken"]);
      assert.match(p.nextToken, /^[A-Za-z0-9_-]+$/);
    }
    assert.deepEqual(Object.keys(pages.at(-1)), ["items"]);

    // Exactly as many as the limit: no nextToken (the handler looks one item ahead).
    assert.deepEqual((await list(userId, { limit: "7" })).body, { items: created });
    const six = await allPages(userId, { limit: "6" });
    assert.deepEqual(six.map((p) => p.items.length), [6, 1]);
    // The token is opaque, but it is the LastEvaluatedKey of the page's last item.
    assert.deepEqual(JSON.parse(Buffer.from(six[0].nextToken, "base64url").toString()), {
      userId,
      itemId: created[5].itemId,
    });
    // limit=1 works too.
    assert.deepEqual((await allPages(userId, { limit: "1" })).flatMap((p) => p.items), created);
  });

  test("limit defaults to 100; limit=1000 is accepted", async () => {
    const userId = newUser();
    const N = 101;
    for (let start = 0; start < N; start += 25) {
      const batch = Array.from({ length: Math.min(25, N - start) }, (_, j) => create(userId, { title: `${start + j}` }));
      assert.ok((await Promise.all(batch)).every((r) => r.status === 201));
    }
    const first = await list(userId);
    assert.equal(first.status, 200);
    assert.equal(first.body.items.length, 100);
    assert.ok(first.body.nextToken);
    const rest = await list(userId, { nextToken: first.body.nextToken });
    assert.deepEqual(rest.body.items.map((i) => i.title), ["100"]);
    assert.equal(rest.body.nextToken, undefined);
    const all = await list(userId, { limit: "1000" });
    assert.deepEqual(all.body.items, [...first.body.items, ...rest.body.items]);
    assert.equal(all.body.nextToken, undefined);
  });

  test("limit that is not an integer from 1 to 1000 -> 400", async () => {
    const userId = newUser();
    await create(userId, { title: "one" });
    for (const limit of ["0", "-1", "1001", "99999999999", "1.5", "1e2", "0x10", "abc", "", " 5", "5 ", "+5"]) {
      const res = await list(userId, { limit });
      assert.deepEqual(res, { status: 400, body: { error: "limit must be an integer from 1 to 1000" } }, limit);
    }
    assert.equal((await list(userId, { limit: "05" })).status, 200);
  });

  test("a bad nextToken -> 400: garbled, not a key, or another user's", async () => {
    const [userId, other] = [newUser(), newUser()];
    for (const u of [userId, userId, other, other]) await create(u, { title: "x" });
    const mine = (await list(userId, { limit: "1" })).body.nextToken;
    const theirs = (await list(other, { limit: "1" })).body.nextToken;
    assert.ok(mine && theirs);
    assert.equal((await list(userId, { nextToken: mine })).status, 200);

    const itemId = "item-1-x";
    const bad = [
      "",
      "!!!",
      `${mine}=`,
      `${mine}.`,
      Buffer.from(JSON.stringify({ userId, itemId })).toString("base64"), // base64 with padding, not base64url
      base64url("not json"),
      base64url("[]"),
      base64url("null"),
      base64url(JSON.stringify({ userId })),
      base64url(JSON.stringify({ userId, itemId: 5 })),
      base64url(JSON.stringify({ userId, itemId: "" })),
      base64url(JSON.stringify({ userId, itemId: "x".repeat(1025) })),
      base64url(JSON.stringify({ userId, itemId, extra: 1 })),
      theirs,
    ];
    for (const nextToken of bad) {
      const res = await list(userId, { nextToken });
      assert.deepEqual(
        res,
        { status: 400, body: { error: "Invalid nextToken: pass the nextToken of the previous page unchanged" } },
        nextToken,
      );
    }
  });

  test("a page stays under Lambda's 6 MB response limit, even with items stored larger than the title limit", async () => {
    // Items as an older handler (no title limit) could have stored them: 20 of 350 KB, 7 MB in all.
    const userId = newUser();
    // A quote is 4 bytes once the body is escaped again in the serialized result.
    const ids = await storeItems(userId, 20, (i) => `${i}:${'"'.repeat(350 * 1024)}`);
    const seen = [];
    let nextToken;
    let pages = 0;
    do {
      const res = await handler(event("GET", nextToken ? { userId, nextToken } : { userId }));
      assert.equal(res.statusCode, 200);
      // What Lambda sends back is the result serialized as JSON.
      const bytes = Buffer.byteLength(JSON.stringify(res));
      assert.ok(bytes < 6_000_000, `a ${bytes}-byte response`);
      const body = JSON.parse(res.body);
      assert.ok(body.items.length >= 1);
      seen.push(...body.items.map((i) => i.itemId));
      nextToken = body.nextToken;
      pages++;
    } while (nextToken);
    assert.ok(pages > 1, `${pages} page(s)`);
    assert.deepEqual(seen, ids);
  });
});

describe("client mistakes are 400, never 500", () => {
  test("userId over 2048 bytes or itemId over 1024 bytes (UTF-8) -> 400; at the limit accepted", async () => {
    // "é" is 2 bytes: 1025 of them are 2050 bytes though only 1025 characters.
    const longUser = "é".repeat(1025);
    for (const method of ["GET", "POST", "DELETE", "PATCH", "PUT"]) {
      const res = await call(event(method, { userId: longUser, itemId: "item-1" }, { title: "t", status: "s" }));
      assert.deepEqual(res, { status: 400, body: { error: "userId is longer than 2048 bytes (UTF-8)" } }, method);
    }
    const longItem = "é".repeat(513);
    for (const method of ["GET", "DELETE", "PATCH"]) {
      const res = await call(event(method, { userId: "u", itemId: longItem }, { status: "s" }));
      assert.deepEqual(res, { status: 400, body: { error: "itemId is longer than 1024 bytes (UTF-8)" } }, method);
    }

    const userId = `${"é".repeat(1024 - 20)}${newUser().slice(0, 40)}`.slice(0, 1024); // 2048 bytes at most
    assert.ok(Buffer.byteLength(userId) <= 2048 && Buffer.byteLength(userId) > 2000);
    const created = await create(userId, { title: "long user" });
    assert.equal(created.status, 201);
    assert.deepEqual((await list(userId)).body.items, [created.body]);
    assert.deepEqual(await get(userId, "é".repeat(512)), { status: 404, body: { error: "Item not found" } });
  });

  test("blank userId or itemId -> 400; GET with an empty itemId does not list", async () => {
    for (const method of ["GET", "POST", "DELETE", "PATCH"]) {
      for (const userId of ["", " ", "\t\n", "\u00a0"]) {
        const res = await call(event(method, { userId, itemId: "item-1" }, { title: "t", status: "s" }));
        const why = `${method} ${JSON.stringify(userId)}`;
        assert.deepEqual(res, { status: 400, body: { error: "Missing userId parameter" } }, why);
      }
    }
    const userId = newUser();
    const { body: item } = await create(userId, { title: "still here" });
    for (const method of ["GET", "DELETE", "PATCH"]) {
      for (const itemId of ["", "  ", "\t"]) {
        const res = await call(event(method, { userId, itemId }, { status: "done" }));
        const why = `${method} ${JSON.stringify(itemId)}`;
        assert.deepEqual(res, { status: 400, body: { error: "Missing itemId parameter" } }, why);
      }
    }
    assert.deepEqual(await get(userId, item.itemId), { status: 200, body: item });
  });

  test("title and status must be strings of at most 4096 and 256 bytes (UTF-8)", async () => {
    const userId = newUser();
    const cases = [
      ["POST", { title: 42 }, "title must be a string"],
      ["POST", { title: true }, "title must be a string"],
      ["POST", { title: { text: "x" } }, "title must be a string"],
      ["POST", { title: ["x"] }, "title must be a string"],
      ["POST", { title: "€".repeat(1366) }, "title is longer than 4096 bytes (UTF-8)"], // 4098 bytes, 1366 characters
      ["POST", { title: "x".repeat(4097) }, "title is longer than 4096 bytes (UTF-8)"],
      ["POST", { title: "t", status: 1 }, "status must be a string"],
      ["POST", { title: "t", status: false }, "status must be a string"],
      ["POST", { title: "t", status: ["done"] }, "status must be a string"],
      ["POST", { title: "t", status: "x".repeat(257) }, "status is longer than 256 bytes (UTF-8)"],
      ["PATCH", { status: 7 }, "status must be a string"],
      ["PATCH", { status: { s: 1 } }, "status must be a string"],
      ["PATCH", { status: "ü".repeat(129) }, "status is longer than 256 bytes (UTF-8)"],
    ];
    const { body: item } = await create(userId, { title: "keep" });
    for (const [method, body, error] of cases) {
      const res = await call(event(method, { userId, itemId: item.itemId }, body));
      assert.deepEqual(res, { status: 400, body: { error } }, `${method} ${JSON.stringify(body).slice(0, 60)}`);
    }
    assert.deepEqual((await list(userId)).body.items, [item]);

    // At the limits: accepted and stored as given.
    const title = `${"€".repeat(1365)}x`; // 4096 bytes
    const status = "s".repeat(256);
    const res = await create(userId, { title, status });
    assert.equal(res.status, 201);
    assert.equal(res.body.title, title);
    assert.equal(res.body.status, status);
    const patched = await call(event("PATCH", { userId, itemId: res.body.itemId }, { status: "ü".repeat(128) }));
    assert.equal(patched.status, 200);
    // A blank or null status on POST still means the default.
    for (const s of ["", "  ", null]) assert.equal((await create(userId, { title: "d", status: s })).body.status, "pending");
  });

  test("repeated query parameters -> 400, told apart from one value with a comma", async () => {
    const userId = newUser();
    const cases = [
      ["GET", "userId=a&userId=b", { userId: "a,b" }, "userId"],
      ["POST", "userId=a&userId=a", { userId: "a,a" }, "userId"],
      ["GET", `userId=${userId}&itemId=i1&itemId=i2`, { userId, itemId: "i1,i2" }, "itemId"],
      ["DELETE", `userId=${userId}&itemId=i1&itemId=i2`, { userId, itemId: "i1,i2" }, "itemId"],
      ["PATCH", `itemId=i1&userId=${userId}&itemId=`, { userId, itemId: "i1," }, "itemId"],
      ["GET", `userId=${userId}&limit=1&limit=2`, { userId, limit: "1,2" }, "limit"],
      ["GET", `userId=${userId}&nextToken=a&nextToken=b`, { userId, nextToken: "a,b" }, "nextToken"],
      ["GET", "user%49d=a&userId=b", { userId: "a,b" }, "userId"], // an encoded name is the same name
      ["GET", "userId&userId=b", { userId: ",b" }, "userId"],
    ];
    for (const [method, raw, query, name] of cases) {
      const res = await call(event(method, query, { title: "t", status: "s" }, { raw }));
      assert.deepEqual(res, { status: 400, body: { error: `Repeated query parameter: ${name}` } }, raw);
    }
    assert.deepEqual((await list(userId)).body.items, []);

    // One userId that holds a comma is fine, and so is a repeated parameter the handler does not read.
    const comma = `${userId},x`;
    const raw = `userId=${encodeURIComponent(comma)}`;
    const created = await call(event("POST", { userId: comma }, { title: "comma" }, { raw }));
    assert.equal(created.status, 201);
    assert.equal(created.body.userId, comma);
    const res = await call(event("GET", { userId: comma, tag: "1,2" }, undefined, { raw: `${raw}&tag=1&tag=2` }));
    assert.deepEqual(res, { status: 200, body: { items: [created.body] } });
  });

  test("an event missing what the handler reads, or with it of the wrong type -> 400 naming it", async () => {
    const expected =
      "expected an API Gateway HTTP API or Lambda function URL request (payload format 2.0), e.g. " +
      '{"requestContext": {"http": {"method": "GET"}}, "queryStringParameters": {"userId": "u1"}}';
    const v2 = event("GET", { userId: "u" });
    const rest = {
      // API Gateway REST API / HTTP API payload 1.0: no requestContext.http.
      resource: "/items",
      path: "/items",
      httpMethod: "GET",
      queryStringParameters: { userId: "u" },
      multiValueQueryStringParameters: { userId: ["u"] },
      requestContext: { httpMethod: "GET", path: "/items", stage: "prod" },
      body: null,
      isBase64Encoded: false,
    };
    const http = (extra) => ({ ...v2, requestContext: { ...v2.requestContext, http: { ...v2.requestContext.http, ...extra } } });
    const cases = [
      [rest, "requestContext.http.method is missing"],
      [{ ...rest, version: "1.0" }, 'its version is "1.0", not "2.0"'],
      [{ ...v2, version: "1.0" }, 'its version is "1.0", not "2.0"'],
      [{ ...v2, version: 2 }, 'its version is 2, not "2.0"'],
      [{ ...v2, requestContext: undefined }, "requestContext.http.method is missing"],
      [{ ...v2, requestContext: "GET" }, "requestContext is not an object"],
      [{ ...v2, requestContext: { ...v2.requestContext, http: undefined } }, "requestContext.http.method is missing"],
      [{ ...v2, requestContext: { ...v2.requestContext, http: ["GET"] } }, "requestContext.http is not an object"],
      [http({ method: undefined }), "requestContext.http.method is missing"],
      [http({ method: 42 }), "requestContext.http.method is not a string"],
      [{ ...v2, queryStringParameters: "userId=u" }, "queryStringParameters is not an object"],
      [{ ...v2, queryStringParameters: { userId: 7 } }, "queryStringParameters.userId is not a string"],
      [{ ...v2, queryStringParameters: { userId: "u", limit: 10 } }, "queryStringParameters.limit is not a string"],
      [{ ...v2, queryStringParameters: { userId: ["u"] } }, "queryStringParameters.userId is not a string"],
      [{ ...v2, rawQueryString: 7 }, "rawQueryString is not a string"],
      [{ ...v2, body: { title: "not a string" } }, "body is not a string"],
      [{ ...v2, isBase64Encoded: "false" }, "isBase64Encoded is not a boolean"],
      [{ ...v2, headers: "content-type: application/json" }, "headers is not an object"],
      [{ ...v2, headers: { "Content-Type": ["application/json"] } }, "headers.Content-Type is not a string"],
      [{ Records: [{ eventSource: "aws:sqs", body: "{}" }] }, "requestContext.http.method is missing"],
      [{}, "requestContext.http.method is missing"],
      [null, "the event is not a JSON object"],
      [undefined, "the event is not a JSON object"],
      ["GET /items?userId=u", "the event is not a JSON object"],
      [[], "the event is not a JSON object"],
    ];
    for (const [evt, what] of cases) {
      assert.deepEqual(
        await call(evt),
        { status: 400, body: { error: `Unsupported event: ${what}; ${expected}` } },
        JSON.stringify(evt)?.slice(0, 120),
      );
    }
    // What the handler does not read may be anything; null is absent.
    const fine = [
      { ...v2, version: undefined },
      { ...v2, version: null },
      { ...v2, rawPath: 5, routeKey: null, cookies: "x", pathParameters: null, stageVariables: null },
      { ...v2, queryStringParameters: { userId: "u", other: 5, itemId: null } },
      { ...v2, rawQueryString: null, headers: null, body: null, isBase64Encoded: null },
      { ...v2, headers: { accept: ["x"], "x-count": 3 } },
      http({ path: undefined, protocol: 1 }),
    ];
    for (const evt of fine) assert.deepEqual(await call(evt), { status: 200, body: { items: [] } }, JSON.stringify(evt));
    // A Lambda function URL event is payload 2.0 too.
    const url = {
      ...v2,
      routeKey: "$default",
      requestContext: { ...v2.requestContext, routeKey: "$default", stage: "$default" },
    };
    assert.equal((await call(url)).status, 200);
  });
});

describe("missing TABLE_NAME", () => {
  // The handler reads TABLE_NAME when it loads, so this loads it afresh in a Node.js of its own.
  const script = `
    const logged = [];
    console.error = (...args) => logged.push(args.map(String).join(" "));
    const { handler, db } = require(process.argv[1]);
    const atInit = logged.length;
    const sent = [];
    db.middlewareStack.add((next, context) => async (args) => { sent.push(context.commandName); return next(args); },
      { step: "initialize" });
    (async () => {
      const results = [];
      for (const e of JSON.parse(process.argv[2])) results.push(await handler(e));
      process.stdout.write(JSON.stringify({ atInit, logged, sent, results }));
    })();
  `;

  for (const [label, value] of [["unset", undefined], ["empty", ""]]) {
    test(`${label}: one error at init, then every request 500 with a clear message and no DynamoDB call`, () => {
      const env = { ...process.env, NODE_NO_WARNINGS: "1" };
      delete env.TABLE_NAME;
      if (value !== undefined) env.TABLE_NAME = value;
      const events = [
        event("GET", { userId: "u" }),
        event("GET", { userId: "u", itemId: "i" }),
        event("POST", { userId: "u" }, { title: "t" }),
        event("PATCH", { userId: "u", itemId: "i" }, { status: "s" }),
        event("DELETE", { userId: "u", itemId: "i" }),
        event("GET", undefined),
      ];
      const run = spawnSync(process.execPath, ["-e", script, DIST, JSON.stringify(events)], { env, encoding: "utf8" });
      assert.equal(run.status, 0, run.stderr);
      const { atInit, logged, sent, results } = JSON.parse(run.stdout);
      assert.equal(atInit, 1, JSON.stringify(logged));
      assert.deepEqual(logged, [
        "Server misconfigured: the TABLE_NAME environment variable is not set; every request will answer 500",
      ]);
      assert.deepEqual(sent, []);
      assert.equal(results.length, events.length);
      for (const res of results) {
        assert.equal(res.statusCode, 500);
        assert.deepEqual(res.headers, { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*" });
        assert.deepEqual(JSON.parse(res.body), {
          error: "Server misconfigured: the TABLE_NAME environment variable is not set",
        });
      }
    });
  }
});

describe("CORS follows STACKCTL_CORS", () => {
  // The handler reads STACKCTL_CORS when it loads, so each mode loads it afresh in a Node.js of its own.
  const script = `
    const { handler } = require(process.argv[1]);
    (async () => {
      const results = [];
      for (const e of JSON.parse(process.argv[2])) results.push(await handler(e));
      process.stdout.write(JSON.stringify(results));
    })();
  `;
  const events = [
    event("GET", { userId: "u" }),
    event("GET", { userId: "u", itemId: "missing" }),
    event("POST", { userId: "u" }, "not json"),
    event("OPTIONS", { userId: "u" }),
    event("GET", undefined),
  ];
  const run = (value) => {
    const env = { ...process.env, NODE_NO_WARNINGS: "1", TABLE_NAME: TABLE };
    delete env.STACKCTL_CORS;
    if (value !== undefined) env.STACKCTL_CORS = value;
    const out = spawnSync(process.execPath, ["-e", script, DIST, JSON.stringify(events)], { env, encoding: "utf8" });
    assert.equal(out.status, 0, out.stderr);
    return JSON.parse(out.stdout);
  };

  test("function-url: the URL sends the CORS headers, so no answer carries Access-Control-Allow-Origin", () => {
    const results = run("function-url");
    assert.equal(results.length, events.length);
    assert.deepEqual(
      results.map((r) => r.statusCode),
      [200, 404, 400, 405, 400],
    );
    for (const res of results) {
      assert.deepEqual(res.headers, { "Content-Type": "application/json" });
      assert.ok(!Object.keys(res.headers).some((h) => h.toLowerCase().startsWith("access-control-")));
    }
  });

  for (const [label, value] of [["handler", "handler"], ["unset", undefined], ["anything else", "url"]]) {
    test(`${label}: the handler sends the tutorial's Access-Control-Allow-Origin: *`, () => {
      for (const res of run(value)) {
        assert.deepEqual(res.headers, { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*" });
      }
    });
  }
});

describe("other methods", () => {
  test("PUT, HEAD, OPTIONS -> 405", async () => {
    for (const method of ["PUT", "HEAD", "OPTIONS"]) {
      const res = await call(event(method, { userId: "u" }));
      assert.deepEqual(res, { status: 405, body: { error: "Method not allowed" } }, method);
    }
  });
});

describe("unexpected failures", () => {
  test("missing table -> 500 with the generic body, error logged", async (t) => {
    const logged = t.mock.method(console, "error", () => {});
    // Every command goes to a table that does not exist (the emulator answers ResourceNotFoundException).
    const name = `no-table-${randomUUID()}`;
    db.middlewareStack.add(
      (next) => async (args) => next({ ...args, input: { ...args.input, TableName: `${TABLE}-does-not-exist` } }),
      { step: "initialize", name },
    );
    try {
      for (const evt of [
        event("GET", { userId: "u" }),
        event("GET", { userId: "u", itemId: "i" }),
        event("POST", { userId: "u" }, { title: "t" }),
        event("DELETE", { userId: "u", itemId: "i" }),
        event("PATCH", { userId: "u", itemId: "i" }, { status: "s" }),
      ]) {
        const res = await call(evt);
        assert.deepEqual(res, { status: 500, body: { error: "Internal server error" } }, evt.routeKey);
      }
    } finally {
      db.middlewareStack.remove(name);
    }
    assert.equal(logged.mock.callCount(), 5);
    assert.ok(logged.mock.calls.every((c) => c.arguments.some((a) => a instanceof Error)));
  });
});

/**
 * The tutorial's own hand-written event: only requestContext.http.method and .path, queryStringParameters and
 * body (what a reader pastes into `aws lambda invoke --payload` or the console's Test tab). No version,
 * rawPath, rawQueryString or headers.
 */
function minimal(method, query, body) {
  const e = { requestContext: { http: { method, path: "/items" } } };
  if (query !== undefined) e.queryStringParameters = query;
  if (body !== undefined) e.body = typeof body === "string" ? body : JSON.stringify(body);
  return e;
}

describe("the tutorial's hand-written events (no version, rawPath, rawQueryString or headers)", () => {
  test("create two, list both, get, patch, delete the first, list one, missing userId 400, PUT 405", async () => {
    const userId = newUser();
    const a = await call(minimal("POST", { userId }, { title: "First" }));
    const b = await call(minimal("POST", { userId }, { title: "Second", status: "done" }));
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.equal(b.status, 201, JSON.stringify(b.body));
    assert.equal(a.body.status, "pending");
    assert.equal(b.body.status, "done");

    assert.deepEqual(await call(minimal("GET", { userId })), { status: 200, body: { items: [a.body, b.body] } });
    assert.deepEqual(await call(minimal("GET", { userId, itemId: a.body.itemId })), { status: 200, body: a.body });
    const patched = await call(minimal("PATCH", { userId, itemId: b.body.itemId }, { status: "archived" }));
    assert.equal(patched.status, 200);
    assert.equal(patched.body.status, "archived");
    assert.deepEqual(await call(minimal("DELETE", { userId, itemId: a.body.itemId })), {
      status: 200,
      body: { deleted: true },
    });
    assert.deepEqual(await call(minimal("GET", { userId })), { status: 200, body: { items: [patched.body] } });
    assert.deepEqual(await call(minimal("GET", { userId, itemId: a.body.itemId })), {
      status: 404,
      body: { error: "Item not found" },
    });
    // A page at a time works without rawQueryString too.
    const page = await call(minimal("GET", { userId, limit: "1" }));
    assert.deepEqual(page.body, { items: [patched.body] });

    for (const query of [undefined, null, {}, { itemId: "item-1" }]) {
      assert.deepEqual(
        await call(minimal("GET", query)),
        { status: 400, body: { error: "Missing userId parameter" } },
        JSON.stringify(query),
      );
    }
    assert.deepEqual(await call(minimal("PUT", { userId }, { title: "x" })), {
      status: 405,
      body: { error: "Method not allowed" },
    });
    assert.deepEqual(await call(minimal("POST", { userId }, "{not json")), {
      status: 400,
      body: { error: "Invalid JSON in request body" },
    });
  });

  test("a hand-written event may also leave out path, or carry null body and version 2.0", async () => {
    const userId = newUser();
    const bare = { requestContext: { http: { method: "POST" } }, queryStringParameters: { userId }, body: '{"title":"bare"}' };
    const created = await call(bare);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const listed = await call({ ...minimal("GET", { userId }), body: null, version: "2.0", isBase64Encoded: false });
    assert.deepEqual(listed, { status: 200, body: { items: [created.body] } });
  });

  test("the tutorial-*.json fixtures answer as the tutorial says", async () => {
    const load = (name) => JSON.parse(readFileSync(new URL(`../events/${name}.json`, import.meta.url), "utf8"));
    for (const name of ["create-item", "list-items", "get-item", "delete-item", "missing-userid", "put-not-allowed"]) {
      const e = load(`tutorial-${name}`);
      for (const absent of ["version", "rawPath", "rawQueryString", "headers", "routeKey", "isBase64Encoded"]) {
        assert.equal(e[absent], undefined, `tutorial-${name}.json has ${absent}`);
      }
      assert.deepEqual(Object.keys(e.requestContext), ["http"], name);
    }
    const created = await call(load("tutorial-create-item"));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.title, "Buy milk");
    assert.equal(created.body.userId, "user-123");
    const withId = (name) => {
      const e = load(name);
      e.queryStringParameters.itemId = created.body.itemId;
      return e;
    };
    const listed = await call(load("tutorial-list-items"));
    assert.equal(listed.status, 200);
    assert.ok(listed.body.items.some((i) => i.itemId === created.body.itemId), JSON.stringify(listed.body));
    assert.deepEqual(await call(withId("tutorial-get-item")), { status: 200, body: created.body });
    assert.deepEqual(await call(load("tutorial-get-item")), { status: 404, body: { error: "Item not found" } });
    assert.deepEqual(await call(withId("tutorial-delete-item")), { status: 200, body: { deleted: true } });
    assert.equal((await get("user-123", created.body.itemId)).status, 404);
    assert.deepEqual(await call(load("tutorial-missing-userid")), {
      status: 400,
      body: { error: "Missing userId parameter" },
    });
    assert.deepEqual(await call(load("tutorial-put-not-allowed")), {
      status: 405,
      body: { error: "Method not allowed" },
    });
  });
});

describe("Content-Type of POST and PATCH bodies", () => {
  /** A real payload 2.0 event with these headers. */
  const withHeaders = (evt, headers) => ({ ...evt, headers });
  const REFUSED = [
    "text/plain",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=----x",
    "text/json",
    "application/jsonp",
    "application/json-seq",
    "application/json, text/plain",
    "",
  ];
  const ACCEPTED = [
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON;Charset=UTF-8",
    " application/json ",
    "application/merge-patch+json",
    "application/vnd.api+json; charset=utf-8",
  ];

  test("a POST or PATCH whose Content-Type is not JSON -> 415, nothing written", async () => {
    const userId = newUser();
    const { body: item } = await create(userId, { title: "keep" });
    for (const type of REFUSED) {
      for (const name of ["content-type", "Content-Type", "CONTENT-TYPE"]) {
        const post = withHeaders(event("POST", { userId }, { title: "cross-site" }), { [name]: type });
        const patch = withHeaders(event("PATCH", { userId, itemId: item.itemId }, { status: "pwned" }), { [name]: type });
        for (const evt of [post, patch]) {
          const res = await call(evt);
          assert.equal(res.status, 415, `${evt.requestContext.http.method} ${name}: ${type}`);
          assert.match(res.body.error, /^Unsupported Content-Type/);
          assert.match(res.body.error, /application\/json/);
        }
      }
    }
    assert.deepEqual((await list(userId)).body.items, [item]);
  });

  test("JSON media types, any case, with parameters, are accepted; so is an event with no headers at all", async () => {
    const userId = newUser();
    for (const type of ACCEPTED) {
      for (const name of ["content-type", "Content-Type"]) {
        const res = await call(withHeaders(event("POST", { userId }, { title: type }), { [name]: type }));
        assert.equal(res.status, 201, `${name}: ${type} ${JSON.stringify(res.body)}`);
        const patched = await call(
          withHeaders(event("PATCH", { userId, itemId: res.body.itemId }, { status: "done" }), { [name]: type }),
        );
        assert.equal(patched.status, 200, `PATCH ${name}: ${type}`);
      }
    }
    // The tutorial's events, with no headers at all (a hand-written event, never an HTTP request).
    const bare = event("POST", { userId }, { title: "no headers" });
    delete bare.headers;
    assert.equal((await call(bare)).status, 201);
    assert.equal((await call(minimal("POST", { userId }, { title: "tutorial" }))).status, 201);
  });

  test("an HTTP request (headers present) whose POST or PATCH body has no Content-Type -> 415, nothing written", async () => {
    // A browser sends no Content-Type for an ArrayBuffer, typed array or untyped Blob body, and such a POST
    // needs no CORS preflight: `fetch(url, {method: "POST", mode: "no-cors", body: new Blob([json])})` or
    // navigator.sendBeacon from any web page. The function URL's event then has headers (host, origin,
    // user-agent, ...) but no content-type, and a body (base64-encoded or not).
    const userId = newUser();
    const { body: item } = await create(userId, { title: "keep" });
    const browser = { host: "abc.lambda-url.us-east-1.on.aws", origin: "https://evil.example", accept: "*/*" };
    const post = withHeaders(event("POST", { userId }, { title: "cross-site" }), browser);
    const patch = withHeaders(event("PATCH", { userId, itemId: item.itemId }, { status: "pwned" }), browser);
    const base64 = (evt) => ({ ...evt, body: Buffer.from(evt.body).toString("base64"), isBase64Encoded: true });
    for (const evt of [post, patch, base64(post), base64(patch)]) {
      const res = await call(evt);
      assert.equal(res.status, 415, `${evt.requestContext.http.method} ${JSON.stringify(res.body)}`);
      assert.match(res.body.error, /^Missing Content-Type/);
      assert.match(res.body.error, /application\/json/);
    }
    assert.deepEqual((await list(userId)).body.items, [item]);
  });

  test("GET and DELETE do not read a body: their Content-Type does not matter", async () => {
    const userId = newUser();
    const { body: item } = await create(userId, { title: "t" });
    const headers = { "content-type": "text/plain" };
    assert.deepEqual(await call(withHeaders(event("GET", { userId }), headers)), { status: 200, body: { items: [item] } });
    assert.deepEqual(await call(withHeaders(event("DELETE", { userId, itemId: item.itemId }), headers)), {
      status: 200,
      body: { deleted: true },
    });
  });
});

describe("sample events in events/", () => {
  const load = (name) => JSON.parse(readFileSync(new URL(`../events/${name}.json`, import.meta.url), "utf8"));

  test("each sample event gets the expected response", async () => {
    const created = await call(load("create-item"));
    assert.equal(created.status, 201);
    const { userId } = created.body;
    const withId = (name) => {
      const e = load(name);
      e.queryStringParameters.itemId = created.body.itemId;
      return e;
    };

    const listed = await call(load("list-items"));
    assert.equal(listed.status, 200);
    assert.ok(listed.body.items.some((i) => i.itemId === created.body.itemId));
    const page = await call(load("list-items-page"));
    assert.equal(page.status, 200);
    assert.ok(page.body.items.length >= 1 && page.body.items.length <= 10);
    assert.deepEqual(await call(withId("get-item")), { status: 200, body: created.body });
    assert.equal((await call(load("get-item"))).status, 404); // its sample itemId was never created
    const patched = await call(withId("patch-item"));
    assert.equal(patched.status, 200);
    assert.equal(patched.body.status, "done");
    assert.deepEqual(await call(withId("delete-item")), { status: 200, body: { deleted: true } });
    assert.equal((await get(userId, created.body.itemId)).status, 404);
    assert.deepEqual(await call(load("missing-userid")), { status: 400, body: { error: "Missing userId parameter" } });
    assert.deepEqual(await call(load("put-not-allowed")), { status: 405, body: { error: "Method not allowed" } });
  });
});
