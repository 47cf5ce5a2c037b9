// stackctl's local Lambda runner (embedded in the binary, written to a temp file, run with `node`).
//
// Loads a built handler once, the way the Lambda Node.js runtime does (same handler-string rules, same
// init error types), and answers invocations read as JSON lines on stdin:
//   in:  {"id": 1, "event": {...}}
//   out: {"<marker>": 1, "functionError": null | "Unhandled", "payload": "<JSON text>", "logs": "...",
//         "reset": true?}
// `payload` is what Lambda's Invoke would return: the handler's result serialized, or, for an error,
// {"errorType", "errorMessage", "trace"}. `reset` says this runtime must not serve another invocation: Lambda
// discards its runtime after a timeout, an uncaught exception, an unhandled rejection or an init error, and
// so does stackctl (it starts a fresh runner for the next request). One invocation at a time, like one
// Lambda execution environment. Everything the handler prints (console.*, process.stdout) is captured into
// `logs`, never mixed into the protocol. Other lines:
//   {"<marker>": 0, "ready": true, "node": "<version>"}                  first line, once loaded
//   {"<marker>": <id>, "exit": <code>, "requestId": "...", "logs": ...}  the handler exited the process
//   {"<marker>": null, "discarded": "<why>"}                              the process ends between invocations
//
// argv: <task root> <handler string> <timeout secs> <marker> <callback handlers: allow | refuse>

import { randomUUID } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { format } from "node:util";

const [taskRoot, handlerString, timeoutArg, marker, callbackPolicy] = process.argv.slice(2);
const timeoutMs = Math.max(1, Number(timeoutArg) || 3) * 1000;
const writeProtocol = process.stdout.write.bind(process.stdout);
const send = (message) => writeProtocol(`${JSON.stringify({ [marker]: message.id, ...message, id: undefined })}\n`);

// Capture the handler's output; Lambda would send it to CloudWatch Logs.
let logs = [];
const MAX_LOG_CHARS = 16 * 1024;
const log = (level) => (...args) => {
  logs.push(`${new Date().toISOString()}\t${level}\t${format(...args)}`);
};
console.log = log("INFO");
console.info = log("INFO");
console.warn = log("WARN");
console.error = log("ERROR");
console.debug = log("DEBUG");
console.trace = log("TRACE");
process.stdout.write = (chunk, encoding, callback) => {
  logs.push(String(chunk).replace(/\n$/, ""));
  if (typeof encoding === "function") encoding();
  else if (typeof callback === "function") callback();
  return true;
};
const takeLogs = () => {
  let text = logs.join("\n");
  logs = [];
  if (text.length > MAX_LOG_CHARS) text = text.slice(text.length - MAX_LOG_CHARS);
  return text;
};

// Lambda's error object: the error's own name as errorType.
const toError = (err, fallbackType = "Error") => {
  if (err instanceof Error || (err && typeof err === "object" && "message" in err && "stack" in err)) {
    return {
      errorType: err.name || err.constructor?.name || fallbackType,
      errorMessage: String(err.message ?? ""),
      trace: String(err.stack ?? "").split("\n"),
    };
  }
  return { errorType: fallbackType, errorMessage: typeof err === "string" ? err : format("%o", err), trace: [] };
};

class RuntimeError extends Error {
  constructor(name, message, stack) {
    super(message);
    this.name = name;
    if (stack) this.stack = stack;
  }
}

const CALLBACK_HANDLER_REMOVED =
  "ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. You need to modify this function to use a supported handler signature to use Node.js 24 or later. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.";

// The module ends at the first dot after the last `/`: `dist/app.handlers.main` is module `dist/app`,
// export path `handlers.main` (as the runtime's handler-path parser reads it).
function parseHandler(full) {
  if (full.includes("..")) {
    throw new RuntimeError(
      "Runtime.MalformedHandlerName",
      `'${full}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const base = path.basename(full);
  const moduleRoot = full.substring(0, full.indexOf(base)).replace(/\/$/, "");
  const match = base.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new RuntimeError("Runtime.MalformedHandlerName", "Bad handler");
  return { moduleRoot, moduleName: match[1], handlerName: match[2] };
}

// The runtime's lookup order: the name as it is, then .js, .mjs, .cjs; then Node's own resolution.
async function loadModule(root, moduleRoot, moduleName) {
  const base = path.resolve(root, moduleRoot, moduleName);
  try {
    for (const extension of ["", ".js", ".mjs", ".cjs"]) {
      const file = `${base}${extension}`;
      if (existsSync(file) && statSync(file).isFile()) return await import(pathToFileURL(file).href);
    }
    const require = createRequire(path.join(root, "index.js"));
    return require(require.resolve(moduleName, { paths: [root, path.join(root, moduleRoot)] }));
  } catch (err) {
    // Only these two are the runtime's own types; any other error keeps its type.
    if (err instanceof SyntaxError) throw new RuntimeError("Runtime.UserCodeSyntaxError", String(err), err.stack);
    if (err?.code === "MODULE_NOT_FOUND") throw new RuntimeError("Runtime.ImportModuleError", String(err), err.stack);
    throw err;
  }
}

function resolveHandler(mod, handlerName) {
  const find = (start) =>
    handlerName.split(".").reduce((nested, key) => (nested && typeof nested === "object" ? nested[key] : undefined), start);
  let found = find(mod);
  if (!found && mod && typeof mod === "object" && "default" in mod) found = find(mod.default);
  if (!found) throw new RuntimeError("Runtime.HandlerNotFound", `${handlerString} is undefined or not exported`);
  if (typeof found !== "function") throw new RuntimeError("Runtime.HandlerNotFound", `${handlerString} is not a function`);
  return found;
}

// An exception or rejection that escapes the handler ends the invocation in progress and this runtime, as
// on Lambda. Between invocations, it ends the runtime: stackctl replaces it before the next request.
let handler;
let initError;
let initializing = true;
let current = null;
let exitReason = null;
let exitingCleanly = false;
const endBetweenInvocations = (why, code) => {
  exitReason = why;
  process.exit(code);
};
process.on("uncaughtException", (err) => {
  if (initializing) initError ??= toError(err);
  else if (current) current.settle({ error: toError(err), reset: true });
  else endBetweenInvocations(`uncaught exception between invocations: ${String(err)}`, 129);
});
process.on("unhandledRejection", (reason) => {
  const error = { ...toError(reason), errorType: "Runtime.UnhandledPromiseRejection", errorMessage: String(reason) };
  if (initializing) initError ??= error;
  else if (current) current.settle({ error, reset: true });
  else endBetweenInvocations(`unhandled rejection between invocations: ${String(reason)}`, 128);
});
// The handler (or a timer it left) called process.exit. Writes to a pipe are synchronous on Linux and macOS,
// so this line gets out before the process ends.
process.on("exit", (code) => {
  if (exitingCleanly) return;
  if (current) send({ id: current.id, exit: code, requestId: current.requestId, logs: takeLogs() });
  else send({ id: null, discarded: exitReason ?? `the process exited (code ${code}) between invocations` });
});

try {
  const { moduleRoot, moduleName, handlerName } = parseHandler(handlerString);
  handler = resolveHandler(await loadModule(taskRoot, moduleRoot, moduleName), handlerName);
  if (callbackPolicy === "refuse" && handler.length >= 3) {
    throw new RuntimeError("Runtime.CallbackHandlerDeprecated", CALLBACK_HANDLER_REMOVED);
  }
} catch (err) {
  initError ??= toError(err);
}
initializing = false;

const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME ?? "local";
function invoke(id, event) {
  if (initError) return Promise.resolve({ error: initError, reset: true });
  const deadline = Date.now() + timeoutMs;
  const requestId = randomUUID();
  const context = {
    functionName,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION ?? "$LATEST",
    invokedFunctionArn: process.env.STACKCTL_FUNCTION_ARN ?? "",
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? "128",
    awsRequestId: requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME ?? `/aws/lambda/${functionName}`,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME ?? "stackctl-local",
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      current = null;
      resolve(outcome);
    };
    current = { id, requestId, settle };
    const timer = setTimeout(
      () =>
        settle({
          error: {
            errorType: "Sandbox.Timedout",
            errorMessage: `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
          },
          reset: true,
        }),
      timeoutMs,
    );
    const callback = (err, value) => settle(err ? { error: toError(err) } : { result: value });
    try {
      const returned = handler.length >= 3 ? handler(event, context, callback) : handler(event, context);
      if (returned && typeof returned.then === "function") {
        returned.then(
          (value) => settle({ result: value }),
          (err) => settle({ error: toError(err) }),
        );
      } else if (handler.length < 3) {
        settle({ result: returned });
      }
    } catch (err) {
      settle({ error: toError(err) });
    }
  });
}

function serialize(outcome) {
  if (outcome.error) return { functionError: "Unhandled", payload: JSON.stringify(outcome.error) };
  try {
    return { functionError: null, payload: JSON.stringify(outcome.result === undefined ? null : outcome.result) };
  } catch (err) {
    const error = { errorType: "Runtime.MarshalError", errorMessage: `Unable to marshal response: ${err.message}` };
    return { functionError: "Unhandled", payload: JSON.stringify(error) };
  }
}

send({ id: 0, ready: true, node: process.version });

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
// stdin closed while an invocation runs: stackctl is gone (a second Ctrl-C, a crash, a kill) and nobody will
// read the answer. Stop now, rather than run the handler on with the caller's credentials, as an orphan, until
// it returns or times out. (stackctl itself closes stdin only between invocations.)
lines.on("close", () => {
  if (!current) return;
  exitingCleanly = true;
  process.exit(0);
});
for await (const line of lines) {
  if (!line.trim()) continue;
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    send({ id: null, functionError: "Unhandled", payload: JSON.stringify(toError(err)), logs: "" });
    continue;
  }
  const outcome = await invoke(request.id, request.event);
  send({ id: request.id, ...serialize(outcome), logs: takeLogs(), reset: outcome.reset || undefined });
}
// stdin closed: stackctl is done. Do not wait for timers or sockets the handler left open.
exitingCleanly = true;
process.exit(0);
