// Lambda handler for the HTTP API: create, list, get, update and delete a user's items in DynamoDB.
//
// Requests (API Gateway HTTP API or Lambda function URL events, payload format 2.0, and the tutorial's
// hand-written test events, which carry only requestContext.http.method/path, queryStringParameters and body),
// on /items:
//   POST   ?userId=U                 {"title", "status"?}  201 with the stored item
//   GET    ?userId=U[&limit=N][&nextToken=T]               200 {"items": [...], "nextToken"?}
//   GET    ?userId=U&itemId=I                              200 with the item, or 404
//   PATCH  ?userId=U&itemId=I        {"status"}            200 with the whole updated item, or 404
//   DELETE ?userId=U&itemId=I                              200 {"deleted": true}
// Anything a client gets wrong is a 400 {"error": "..."} (see the limits below); a POST or PATCH body sent
// with a Content-Type that is not JSON is a 415.
// With STACKCTL_AUTH_ISSUER set (auth.ts), every request needs `Authorization: Bearer <JWT>` (else 401, or
// 503 when the issuer's keys cannot be fetched); the caller U is the token's `sub`, `userId` may be left out,
// and a `userId` other than `sub` is a 403. Without it, U is the `userId` parameter, as above.
import { randomUUID } from "node:crypto";
import { ConditionalCheckFailedException, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { authFromEnvironment } from "./auth";
import type { AuthOptions } from "./auth";

// The SDK picks up region, credentials and AWS_ENDPOINT_URL(_DYNAMODB) from the environment.
// Exported so that tests can watch the commands sent (a middleware on its stack); Lambda only calls `handler`.
export const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

// A function's environment is fixed for the life of its execution environment: createHandler reads it once,
// and says once, at init, when it is missing. Every request then answers 500 with this message.
const NO_TABLE = "Server misconfigured: the TABLE_NAME environment variable is not set";

// Limits. Keys: DynamoDB's (partition key 2048 bytes, sort key 1024 bytes). Title and status: ours, far under
// DynamoDB's 400 KB an item. All in UTF-8 bytes, as DynamoDB counts them.
const MAX_USER_ID_BYTES = 2048;
const MAX_ITEM_ID_BYTES = 1024;
const MAX_TITLE_BYTES = 4096;
const MAX_STATUS_BYTES = 256;
// The list, a page at a time: `limit` items (default 100, at most 1000: more is a 400), and fewer when they
// would take more than 1 MiB as JSON, whatever the limit (DynamoDB's own page: a Query reads at most 1 MB).
// That bounds what one request reads and sends back, e.g. items stored before the title limit. The first item
// of a page always goes in (an item is at most 400 KB, under 3 MB as JSON escaped twice in Lambda's response,
// which may not exceed 6 MB).
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const MAX_PAGE_BYTES = 1024 * 1024;

// The query parameters the handler reads; each may appear at most once.
const PARAMETERS = ["userId", "itemId", "limit", "nextToken"];

type Result = APIGatewayProxyStructuredResultV2;
type Body = Record<string, unknown>;
type Key = { userId: string; itemId: string };

// CORS lives in exactly one place. stackctl sets STACKCTL_CORS: `function-url` when the function URL has a
// CORS config (the URL then answers preflight requests and adds the CORS headers to every response, so a
// second Access-Control-Allow-Origin from here would make browsers refuse the answer); otherwise (`handler`,
// or unset, as in the tutorial) the handler sends `Access-Control-Allow-Origin: *` itself, on every answer
// (401, 403 and 503 included, so that a page can read them).
const headersFor = (env: NodeJS.ProcessEnv): Record<string, string> =>
  env.STACKCTL_CORS === "function-url"
    ? { "Content-Type": "application/json" }
    : { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*" };

/** A request the handler refuses: 400 unless said otherwise. */
class ClientError extends Error {
  constructor(
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

const utf8Bytes = (text: string): number => Buffer.byteLength(text, "utf8");

const EXPECTED_EVENT =
  "expected an API Gateway HTTP API or Lambda function URL request (payload format 2.0), e.g. " +
  '{"requestContext": {"http": {"method": "GET"}}, "queryStringParameters": {"userId": "u1"}}';

/** What the handler reads of an event, and nothing else. */
type Request = {
  method: string;
  /** The parameters the handler reads (PARAMETERS), each a string when present. */
  query: Partial<Record<string, string>>;
  /** Only in real events: tells a repeated parameter from one value with a comma. */
  rawQueryString?: string;
  body?: string;
  isBase64Encoded: boolean;
  /** The Content-Type header's value (header names in any case), when the event has one. */
  contentType?: string;
  /** Whether the event has `headers`: every HTTP request has (host at least); a hand-written event may not. */
  hasHeaders: boolean;
};

/**
 * Reads an event as far as the handler needs it. A real payload 2.0 event carries much more (version,
 * rawPath, rawQueryString, headers, ...); the tutorial's hand-written test events carry only
 * requestContext.http.method, queryStringParameters and body, and are just as valid. An event is refused only
 * when something the handler reads is missing or of the wrong type, or when it says it is another format
 * (`version` other than "2.0"). JSON null counts as absent.
 */
function requestOf(event: unknown): Request {
  const refuse = (what: string) => new ClientError(`Unsupported event: ${what}; ${EXPECTED_EVENT}`);
  const optional = <T>(value: unknown, name: string, type: string, ok: (v: unknown) => v is T): T | undefined => {
    if (value === undefined || value === null) return undefined;
    if (!ok(value)) throw refuse(`${name} is not ${type}`);
    return value;
  };
  const isString = (v: unknown): v is string => typeof v === "string";
  const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";

  if (!isObject(event)) throw refuse("the event is not a JSON object");
  if (event.version != null && event.version !== "2.0") {
    throw refuse(`its version is ${JSON.stringify(event.version)}, not "2.0"`);
  }
  const context = optional(event.requestContext, "requestContext", "an object", isObject);
  const http = optional(context?.http, "requestContext.http", "an object", isObject);
  const method = optional(http?.method, "requestContext.http.method", "a string", isString);
  if (method === undefined) throw refuse("requestContext.http.method is missing");

  const parameters = optional(event.queryStringParameters, "queryStringParameters", "an object", isObject) ?? {};
  const query: Partial<Record<string, string>> = {};
  for (const name of PARAMETERS) {
    const value = optional(parameters[name], `queryStringParameters.${name}`, "a string", isString);
    if (value !== undefined) query[name] = value;
  }

  const given = optional(event.headers, "headers", "an object", isObject);
  const headers = given ?? {};
  const contentTypes = Object.keys(headers)
    .filter((name) => name.toLowerCase() === "content-type")
    .map((name) => optional(headers[name], `headers.${name}`, "a string", isString))
    .filter((value) => value !== undefined);

  return {
    method,
    query,
    rawQueryString: optional(event.rawQueryString, "rawQueryString", "a string", isString),
    body: optional(event.body, "body", "a string", isString),
    isBase64Encoded: optional(event.isBase64Encoded, "isBase64Encoded", "a boolean", isBoolean) ?? false,
    // Repeated headers arrive joined by commas; two spellings of the name are joined the same way.
    contentType: contentTypes.length > 0 ? contentTypes.join(",") : undefined,
    hasHeaders: given !== undefined,
  };
}

// application/json, or any application/<subtype>+json (merge-patch+json, vnd.api+json), parameters aside.
const JSON_MEDIA_TYPE = /^application\/(?:[a-z0-9!#$&^_.-]+\+)?json$/;

/**
 * Refuses a body sent as something other than JSON: a cross-site HTML form or a `no-cors` fetch can send
 * text/plain, form-urlencoded or multipart bodies without a CORS preflight, and must not get them parsed as
 * JSON. A body with no Content-Type at all is refused too when the event is an HTTP request (it has headers):
 * a browser sends none for an ArrayBuffer or untyped Blob body, again without a preflight (a `no-cors` fetch,
 * navigator.sendBeacon). Only an event with no headers at all (the tutorial's hand-written ones, which no
 * browser can send) is read as JSON without one.
 */
function requireJsonBody(request: Request): void {
  if (request.contentType === undefined) {
    if (!request.hasHeaders || !request.body) return;
    throw new ClientError(
      "Missing Content-Type: send the body as JSON, with Content-Type: application/json",
      415,
    );
  }
  const mediaType = request.contentType.split(";")[0].trim().toLowerCase();
  if (JSON_MEDIA_TYPE.test(mediaType)) return;
  const shown = request.contentType.length > 100 ? `${request.contentType.slice(0, 100)}...` : request.contentType;
  throw new ClientError(
    `Unsupported Content-Type ${JSON.stringify(shown)}: send the body as JSON, with Content-Type: application/json`,
    415,
  );
}

const decodeQueryComponent = (text: string): string => {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    return text;
  }
};

/**
 * Rejects a parameter given twice: payload 2.0 joins repeated keys with commas in queryStringParameters
 * (`?userId=a&userId=b` arrives as `a,b`), so only rawQueryString tells them apart from one value with a comma.
 */
function rejectRepeatedParameters(rawQueryString: string | undefined): void {
  const seen = new Set<string>();
  for (const part of (rawQueryString ?? "").split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = decodeQueryComponent(eq < 0 ? part : part.slice(0, eq));
    if (!PARAMETERS.includes(name)) continue;
    if (seen.has(name)) throw new ClientError(`Repeated query parameter: ${name}`);
    seen.add(name);
  }
}

/** A key parameter: present, not blank, within DynamoDB's size for it. */
function keyParameter(name: string, value: string | undefined, maxBytes: number): string {
  if (value === undefined || value.trim() === "") throw new ClientError(`Missing ${name} parameter`);
  if (utf8Bytes(value) > maxBytes) throw new ClientError(`${name} is longer than ${maxBytes} bytes (UTF-8)`);
  return value;
}

function parseBody(request: Request): Body {
  requireJsonBody(request);
  if (!request.body) return {};
  const text = request.isBase64Encoded ? Buffer.from(request.body, "base64").toString("utf8") : request.body;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ClientError("Invalid JSON in request body");
  }
  return isObject(parsed) ? parsed : {};
}

/** A text field of the body: undefined when absent, null or blank; otherwise a string within maxBytes. */
function textField(body: Body, name: string, maxBytes: number): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new ClientError(`${name} must be a string`);
  if (utf8Bytes(value) > maxBytes) throw new ClientError(`${name} is longer than ${maxBytes} bytes (UTF-8)`);
  return value.trim() === "" ? undefined : value;
}

function parseLimit(value: string | undefined): number {
  if (value === undefined) return DEFAULT_LIMIT;
  const limit = /^[0-9]{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) throw new ClientError(`limit must be an integer from 1 to ${MAX_LIMIT}`);
  return limit;
}

// nextToken: base64url (no padding) of the JSON key {userId, itemId} of the page's last item, which is the
// LastEvaluatedKey a Query stopped there would give: the next page starts after it. Opaque to clients.
const encodeToken = (key: Key): string => Buffer.from(JSON.stringify(key), "utf8").toString("base64url");

function decodeToken(token: string | undefined, userId: string): Key | undefined {
  if (token === undefined) return undefined;
  const invalid = new ClientError("Invalid nextToken: pass the nextToken of the previous page unchanged");
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalid;
  const bytes = Buffer.from(token, "base64url");
  if (bytes.toString("base64url") !== token) throw invalid;
  let key: unknown;
  try {
    key = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw invalid;
  }
  if (
    !isObject(key) ||
    Object.keys(key).length !== 2 ||
    key.userId !== userId ||
    typeof key.itemId !== "string" ||
    key.itemId === "" ||
    utf8Bytes(key.itemId) > MAX_ITEM_ID_BYTES
  ) {
    throw invalid;
  }
  return { userId, itemId: key.itemId };
}

/** What an item takes in the page: its JSON. */
const jsonBytes = (item: Body): number => utf8Bytes(JSON.stringify(item));

// Creation order. The list is in itemId order (the table's sort key, ascending), and that is creation order:
// an itemId is `item-<epoch millis, 13 digits>-<sequence, 4 hex digits><random, 12 hex digits>`. The sequence
// counts the items this execution environment creates within one millisecond, so they keep their order, and a
// clock that steps back does not reorder either (the last millisecond is reused, the sequence goes on);
// createdAt is the itemId's millisecond. Items created in the same millisecond by different execution
// environments (concurrent requests) are in an arbitrary but fixed order. The random part keeps ids apart
// across environments; the put is conditional besides.
let lastMillis = 0;
let sequence = 0;

function newItemId(): { itemId: string; createdAt: string } {
  const now = Date.now();
  if (now > lastMillis) {
    lastMillis = now;
    sequence = 0;
  } else if (++sequence > 0xffff) {
    lastMillis += 1; // 65,536 items in one millisecond: borrow the next one
    sequence = 0;
  }
  const millis = String(lastMillis).padStart(13, "0");
  const seq = sequence.toString(16).padStart(4, "0");
  const random = randomUUID().replaceAll("-", "").slice(0, 12);
  return { itemId: `item-${millis}-${seq}${random}`, createdAt: new Date(lastMillis).toISOString() };
}

/** One page of the user's items, in creation order, from just after `start`. */
async function listItems(TableName: string, userId: string, limit: number, start: Key | undefined) {
  const items: Body[] = [];
  let bytes = 0;
  let more = false;
  let ExclusiveStartKey: Body | undefined = start;
  pages: do {
    const page = await db.send(
      new QueryCommand({
        TableName,
        KeyConditionExpression: "userId = :userId",
        ExpressionAttributeValues: { ":userId": userId },
        // A frontend lists right after it writes: read what it wrote.
        ConsistentRead: true,
        // One more than the page still needs, to know whether a next page exists.
        Limit: limit - items.length + 1,
        ExclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? []) {
      const size = jsonBytes(item);
      if (items.length === limit || (items.length > 0 && bytes + size > MAX_PAGE_BYTES)) {
        more = true;
        break pages;
      }
      items.push(item);
      bytes += size;
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  const last = items.at(-1);
  return more && last ? { items, nextToken: encodeToken({ userId, itemId: String(last.itemId) }) } : { items };
}

/** The Authorization header of an event (names in any case), read before anything else of it. */
function authorizationOf(event: unknown): string | undefined {
  const headers = isObject(event) && isObject(event.headers) ? event.headers : {};
  const values = Object.keys(headers)
    .filter((name) => name.toLowerCase() === "authorization")
    .map((name) => headers[name]);
  if (values.length === 0) return undefined;
  // Repeated headers arrive joined by commas; two spellings are joined the same way (and then refused).
  return values.map((value) => (typeof value === "string" ? value : "")).join(",");
}

/**
 * A browser's CORS preflight: OPTIONS with `Origin` and `Access-Control-Request-Method` (names in any case).
 * It never carries the caller's token (browsers send none on a preflight).
 */
function isPreflight(event: unknown): boolean {
  if (!isObject(event) || !isObject(event.requestContext) || !isObject(event.requestContext.http)) return false;
  if (event.requestContext.http.method !== "OPTIONS") return false;
  const names = isObject(event.headers) ? Object.keys(event.headers).map((n) => n.toLowerCase()) : [];
  return names.includes("origin") && names.includes("access-control-request-method");
}

/** What the handler allows a page when it does CORS itself with auth on: the token's header and JSON bodies. */
const PREFLIGHT_HEADERS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE",
  "Access-Control-Allow-Headers": "authorization, content-type",
  "Access-Control-Max-Age": "300",
};

/**
 * The handler for the settings in `env` (TABLE_NAME, STACKCTL_CORS, STACKCTL_AUTH_*), read once. Lambda
 * calls `handler`, made from process.env at init; tests make others.
 */
export function createHandler(env: NodeJS.ProcessEnv = process.env, authOptions: AuthOptions = {}) {
  const TABLE_NAME = env.TABLE_NAME || undefined;
  if (!TABLE_NAME) console.error(`${NO_TABLE}; every request will answer 500`);
  const HEADERS = headersFor(env);
  const auth = authFromEnvironment(env, authOptions);
  if (auth.mode === "misconfigured") console.error(`${auth.message}; every request will answer 500`);

  const json = (statusCode: number, body: unknown): Result => ({
    statusCode,
    headers: { ...HEADERS },
    body: JSON.stringify(body),
  });
  /** A refusal of the caller (401/403/503): every answer's headers (CORS), plus its own (WWW-Authenticate). */
  const refuse = (statusCode: number, body: unknown, extra: Record<string, string>): Result => {
    const answer = json(statusCode, body);
    return { ...answer, headers: { ...answer.headers, ...extra } };
  };

  return async (event: APIGatewayProxyEventV2): Promise<Result> => {
    try {
      if (!TABLE_NAME) return json(500, { error: NO_TABLE });
      const TableName = TABLE_NAME;
      // With auth, the caller is the token's sub: nothing else of the request is read before it is verified.
      let caller: string | undefined;
      if (auth.mode === "misconfigured") return json(500, { error: auth.message });
      // With auth and the handler doing CORS (no URL CORS config), a page's preflight is answered here: it
      // has no token, and a refused preflight would keep the page from ever sending one.
      if (auth.mode === "on" && "Access-Control-Allow-Origin" in HEADERS && isPreflight(event)) {
        return { statusCode: 204, headers: { ...PREFLIGHT_HEADERS }, body: "" };
      }
      if (auth.mode === "on") {
        const outcome = await auth.authenticate(authorizationOf(event));
        if (!("sub" in outcome)) return refuse(outcome.statusCode, { error: outcome.error }, outcome.headers);
        caller = outcome.sub;
      }
      const request = requestOf(event);
      rejectRepeatedParameters(request.rawQueryString);
      const query = request.query;
      if (caller !== undefined && query.userId !== undefined && query.userId !== caller) {
        return json(403, { error: "userId is not the signed-in user's: leave it out, or pass your own" });
      }
      const userId = caller ?? keyParameter("userId", query.userId, MAX_USER_ID_BYTES);
      const itemIdOf = () => keyParameter("itemId", query.itemId, MAX_ITEM_ID_BYTES);

      switch (request.method) {
        case "GET": {
          if (query.itemId !== undefined) {
            const { Item } = await db.send(
              // Strongly consistent: a frontend reads right after it writes.
              new GetCommand({ TableName, Key: { userId, itemId: itemIdOf() }, ConsistentRead: true }),
            );
            return Item ? json(200, Item) : json(404, { error: "Item not found" });
          }
          const limit = parseLimit(query.limit);
          const start = decodeToken(query.nextToken, userId);
          return json(200, await listItems(TableName, userId, limit, start));
        }

        case "POST": {
          const body = parseBody(request);
          const title = textField(body, "title", MAX_TITLE_BYTES);
          if (title === undefined) return json(400, { error: "Missing title in request body" });
          const status = textField(body, "status", MAX_STATUS_BYTES) ?? "pending";
          // No await before this line: concurrent requests in one environment get ids in arrival order.
          const { itemId, createdAt } = newItemId();
          const item = { userId, itemId, title, status, createdAt };
          await db.send(
            new PutCommand({ TableName, Item: item, ConditionExpression: "attribute_not_exists(itemId)" }),
          );
          return json(201, item);
        }

        case "DELETE": {
          const Key = { userId, itemId: itemIdOf() };
          if (caller === undefined) {
            await db.send(new DeleteCommand({ TableName, Key }));
            return json(200, { deleted: true });
          }
          // With auth, deleting an item the caller does not have (another user's, or none) is a 404, not a
          // 200 that would read as success: the item must exist under the caller's own key.
          try {
            await db.send(new DeleteCommand({ TableName, Key, ConditionExpression: "attribute_exists(itemId)" }));
          } catch (err) {
            if (err instanceof ConditionalCheckFailedException) return json(404, { error: "Item not found" });
            throw err;
          }
          return json(200, { deleted: true });
        }

        case "PATCH": {
          const itemId = itemIdOf();
          const status = textField(parseBody(request), "status", MAX_STATUS_BYTES);
          if (status === undefined) return json(400, { error: "Missing status in request body" });
          try {
            const { Attributes } = await db.send(
              new UpdateCommand({
                TableName,
                Key: { userId, itemId },
                UpdateExpression: "SET #status = :status, updatedAt = :updatedAt",
                ConditionExpression: "attribute_exists(itemId)",
                ExpressionAttributeNames: { "#status": "status" },
                ExpressionAttributeValues: { ":status": status, ":updatedAt": new Date().toISOString() },
                ReturnValues: "ALL_NEW",
              }),
            );
            return json(200, Attributes);
          } catch (err) {
            if (err instanceof ConditionalCheckFailedException) return json(404, { error: "Item not found" });
            throw err;
          }
        }

        default:
          return json(405, { error: "Method not allowed" });
      }
    } catch (err) {
      if (err instanceof ClientError) return json(err.statusCode, { error: err.message });
      console.error("Unhandled error", err);
      return json(500, { error: "Internal server error" });
    }
  };
}

const handle = createHandler();

/** Lambda's entry point: the handler for this process's environment, made once at init. */
export const handler = async (event: APIGatewayProxyEventV2): Promise<Result> => {
  return handle(event);
};
