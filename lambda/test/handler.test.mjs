// Tests dist/handler.js against a real local DynamoDB emulator (scripts/emulator.sh start exports AWS_ENDPOINT_URL).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";

// Never fall through to real AWS: without the emulator the whole file fails.
if (!process.env.AWS_ENDPOINT_URL) {
  throw new Error('AWS_ENDPOINT_URL is not set: run eval "$(../scripts/emulator.sh start)" first');
}

const TABLE = `items-test-${Date.now()}-${randomUUID().slice(0, 8)}`;
const ddb = new DynamoDBClient({});
let handler;

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
  ({ handler } = await import("../dist/handler.js"));
});

after(async () => {
  await ddb.send(new DeleteTableCommand({ TableName: TABLE }));
  ddb.destroy();
});

/** Builds a real API Gateway HTTP API (payload v2.0) event. */
function event(method, query, body, { base64 = false } = {}) {
  const qs = query ?? {};
  const e = {
    version: "2.0",
    routeKey: `${method} /items`,
    rawPath: "/items",
    rawQueryString: new URLSearchParams(qs).toString(),
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
const list = (userId) => call(event("GET", { userId }));
const get = (userId, itemId) => call(event("GET", { userId, itemId }));
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

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
    for (const body of [undefined, "", {}, { title: "" }, { title: "   " }, { title: 42 }, { status: "done" }, "null", "[]"]) {
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

  test("20 concurrent POSTs get distinct itemIds that sort by creation time", async () => {
    const userId = newUser();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => create(userId, { title: `t${i}` })));
    assert.ok(results.every((r) => r.status === 201));
    const ids = results.map((r) => r.body.itemId);
    assert.equal(new Set(ids).size, 20);

    const items = (await list(userId)).body.items;
    assert.equal(items.length, 20);
    // The table's range key order (itemId) is creation order.
    const created = items.map((i) => Date.parse(i.createdAt));
    assert.deepEqual(created, [...created].sort((x, y) => x - y));
    assert.deepEqual(items.map((i) => i.itemId), [...ids].sort());
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

  test("list of a user with no items -> 200 with empty items", async () => {
    assert.deepEqual(await list(newUser()), { status: 200, body: { items: [] } });
  });

  test("list follows LastEvaluatedKey past the 1 MB Query page", async () => {
    const userId = newUser();
    const N = 60;
    const pad = "x".repeat(20 * 1024);
    const ids = [];
    for (let start = 0; start < N; start += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, (_, j) => create(userId, { title: `${start + j}:${pad}` })),
      );
      for (const r of batch) {
        assert.equal(r.status, 201);
        ids.push(r.body.itemId);
      }
    }

    // Prove the data really spans more than one Query page on this emulator.
    const firstPage = await ddb.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: "userId = :u",
        ExpressionAttributeValues: { ":u": { S: userId } },
      }),
    );
    assert.ok(firstPage.LastEvaluatedKey, "expected the first Query page to be cut at 1 MB");
    assert.ok(firstPage.Items.length < N);

    const res = await list(userId);
    assert.equal(res.status, 200);
    assert.equal(res.body.items.length, N);
    assert.deepEqual(res.body.items.map((i) => i.itemId), [...ids].sort());
    assert.deepEqual(
      res.body.items.map((i) => Number(i.title.split(":")[0])).sort((a, b) => a - b),
      Array.from({ length: N }, (_, i) => i),
    );
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
    for (const body of [undefined, {}, { status: "" }, { status: 7 }, { title: "x" }]) {
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
    process.env.TABLE_NAME = `${TABLE}-does-not-exist`;
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
      process.env.TABLE_NAME = TABLE;
    }
    assert.equal(logged.mock.callCount(), 5);
    assert.ok(logged.mock.calls.every((c) => c.arguments.some((a) => a instanceof Error)));
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
