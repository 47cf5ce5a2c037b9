// stackctl's local Lambda runner (embedded in the binary, written to a temp file, run with `node`).
//
// Loads a built handler module once and answers invocations read as JSON lines on stdin:
//   in:  {"id": 1, "event": {...}}
//   out: {"<marker>": 1, "functionError": null | "Unhandled", "payload": "<JSON text>", "logs": "..."}
// `payload` is what Lambda's Invoke would return: the handler's result serialized, or, for an error,
// {"errorType", "errorMessage", "trace"}. One invocation at a time, like one Lambda execution environment.
// Everything the handler prints (console.*, process.stdout) is captured into `logs`, never mixed into the
// protocol. The first line written is {"<marker>": 0, "ready": true, "node": "<version>"}.
//
// argv: <handler file> <export name> <timeout secs> <marker>

import { randomUUID } from "node:crypto";
import { basename } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { format } from "node:util";

const [file, exportName, timeoutArg, marker] = process.argv.slice(2);
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

const toError = (err, fallbackType = "Error") => {
  if (err instanceof Error) {
    return {
      errorType: err.name && err.name !== "Error" ? err.name : err.constructor?.name ?? fallbackType,
      errorMessage: err.message,
      trace: String(err.stack ?? "").split("\n"),
    };
  }
  return { errorType: fallbackType, errorMessage: typeof err === "string" ? err : format("%o", err), trace: [] };
};

// Load the handler the way the Lambda Node.js runtime does, and report a failure the same way: as the
// error of every invocation.
let handler;
let initError;
try {
  const mod = await import(pathToFileURL(file).href);
  handler = mod[exportName] ?? mod.default?.[exportName];
  if (typeof handler !== "function") {
    initError = {
      errorType: "Runtime.HandlerNotFound",
      errorMessage: `${basename(file).replace(/\.[cm]?js$/, "")}.${exportName} is undefined or not exported`,
      trace: [],
    };
  }
} catch (err) {
  initError = { ...toError(err), errorType: "Runtime.ImportModuleError" };
  initError.errorMessage = `Error: ${initError.errorMessage}`;
}

// An exception or rejection that escapes the handler ends the invocation in progress, as on Lambda.
let settleCurrent = null;
process.on("uncaughtException", (err) => {
  if (settleCurrent) settleCurrent({ error: toError(err) });
  else logs.push(`ERROR\tUncaught exception outside an invocation: ${format(err)}`);
});
process.on("unhandledRejection", (reason) => {
  const error = { ...toError(reason), errorType: "Runtime.UnhandledPromiseRejection" };
  if (settleCurrent) settleCurrent({ error });
  else logs.push(`ERROR\tUnhandled rejection outside an invocation: ${format(reason)}`);
});

const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME ?? "local";
function invoke(event) {
  if (initError) return Promise.resolve({ error: initError });
  const deadline = Date.now() + timeoutMs;
  const context = {
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: process.env.STACKCTL_FUNCTION_ARN ?? "",
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? "128",
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "stackctl-local",
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      settleCurrent = null;
      resolve(outcome);
    };
    settleCurrent = settle;
    const timer = setTimeout(
      () =>
        settle({
          error: {
            errorType: "Sandbox.Timedout",
            errorMessage: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
          },
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
for await (const line of lines) {
  if (!line.trim()) continue;
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    send({ id: null, functionError: "Unhandled", payload: JSON.stringify(toError(err)), logs: "" });
    continue;
  }
  const outcome = await invoke(request.event);
  send({ id: request.id, ...serialize(outcome), logs: takeLogs() });
}
// stdin closed: stackctl is done. Do not wait for timers or sockets the handler left open.
process.exit(0);
