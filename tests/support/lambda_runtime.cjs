// The strict proxy's stand-in for Lambda's Node.js runtime (tests/support/strict_proxy.py, `lambda_invoke_node`):
// runs ONE invocation of a deployed function's code, unzipped into a task root, and exits. Independent of
// stackctl's own local runner (src/handler/node_runner.mjs), so stackctl's remote path is not tested with its
// own code.
//
//   node lambda_runtime.cjs <task root> <handler string> <result file> <request id> <timeout secs> <runtime>
//
// The event (the Invoke payload, JSON) comes on stdin. stdout is the function's log as Lambda writes it to
// CloudWatch Logs (console.* as `<time>\t<request id>\t<LEVEL>\t<message>`); the proxy adds START/END/REPORT.
// The result file gets {"payload": <the handler's result>} or {"error": {errorType, errorMessage, trace}}: the
// error document of "Lambda function errors in Node.js"
// (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-exceptions.html). No result file means the process
// ended before the handler did (process.exit, a crash): the proxy reports Runtime.ExitError. As on Lambda, the
// function's timeout counts from the end of init (loading the module has its own limit): at that deadline this
// writes {"timeout": true} and exits; the proxy kills a process that blocks its event loop past init + timeout.

"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { pathToFileURL } = require("node:url");
const { format } = require("node:util");

const [taskRoot, handlerString, resultFile, requestId, timeoutArg, runtime] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg) * 1000;
let deadline = Date.now() + timeoutMs;

// Lambda's Node.js runtime prefixes every console line with the time, the request id and the level.
const write = (level) => (...args) => {
  const message = format(...args).replace(/\n/g, "\r");
  process.stdout.write(`${new Date().toISOString()}\t${requestId}\t${level}\t${message}\n`);
};
console.log = write("INFO");
console.info = write("INFO");
console.warn = write("WARN");
console.error = write("ERROR");
console.debug = write("DEBUG");
console.trace = write("TRACE");

const errorDocument = (err, fallbackType = "Error") => {
  if (err instanceof Error || (err && typeof err === "object" && "message" in err)) {
    return {
      errorType: err.name || (err.constructor && err.constructor.name) || fallbackType,
      errorMessage: String(err.message ?? ""),
      trace: String(err.stack ?? "").split("\n"),
    };
  }
  return { errorType: fallbackType, errorMessage: typeof err === "string" ? err : format("%o", err), trace: [] };
};

let finished = false;
const finish = (outcome) => {
  if (finished) return;
  finished = true;
  if (outcome.error) {
    // What the runtime logs for a failed invocation, before END.
    process.stdout.write(
      `${new Date().toISOString()}\t${requestId}\tERROR\tInvoke Error \t${JSON.stringify(outcome.error)}\n`,
    );
  }
  fs.writeFileSync(resultFile, JSON.stringify({ ...outcome, maxRssKb: process.resourceUsage().maxRSS }));
  process.exit(0);
};
const fail = (name, err) => finish({ error: { ...errorDocument(err), ...(name ? { errorType: name } : {}) } });

process.on("uncaughtException", (err) => fail(null, err));
process.on("unhandledRejection", (reason) => fail(null, reason));

// `dir/module.export.path`: the module ends at the first dot after the last `/`.
function parseHandler(full) {
  const base = path.basename(full);
  const dot = base.indexOf(".");
  if (dot < 1) throw Object.assign(new Error("Bad handler"), { name: "Runtime.MalformedHandlerName" });
  return { dir: path.dirname(full), module: base.slice(0, dot), exportPath: base.slice(dot + 1) };
}

async function load() {
  const { dir, module, exportPath } = parseHandler(handlerString);
  const base = path.resolve(taskRoot, dir, module);
  const file = ["", ".js", ".mjs", ".cjs"].map((e) => base + e).find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
  if (!file) {
    throw Object.assign(new Error(`Error: Cannot find module '${module}'`), { name: "Runtime.ImportModuleError" });
  }
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    if (err instanceof SyntaxError) throw Object.assign(new Error(String(err)), { name: "Runtime.UserCodeSyntaxError" });
    throw err;
  }
  const find = (start) => exportPath.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), start);
  const handler = find(mod) ?? (mod && mod.default ? find(mod.default) : undefined);
  if (typeof handler !== "function") {
    throw Object.assign(new Error(`${handlerString} is undefined or not exported`), { name: "Runtime.HandlerNotFound" });
  }
  return handler;
}

async function main() {
  // Lambda's runtime keeps polling its runtime API, so a handler whose promise never settles runs into the
  // timeout; it never ends the process by emptying the event loop.
  setInterval(() => {}, 1 << 30);
  const input = fs.readFileSync(0, "utf8");
  const event = JSON.parse(input || "null");
  let handler;
  try {
    handler = await load();
  } catch (err) {
    return fail(err && err.name && err.name.startsWith("Runtime.") ? err.name : null, err);
  }
  const major = Number((/^nodejs(\d+)/.exec(runtime || "") || [])[1] || 0);
  if (handler.length >= 3 && major >= 24) {
    return fail(
      "Runtime.CallbackHandlerDeprecated",
      new Error("ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24."),
    );
  }
  deadline = Date.now() + timeoutMs;
  setTimeout(() => finish({ timeout: true }), timeoutMs);
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: process.env.STRICT_PROXY_FUNCTION_ARN,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  delete process.env.STRICT_PROXY_FUNCTION_ARN;
  try {
    const result =
      handler.length >= 3
        ? await new Promise((resolve, reject) => {
            const returned = handler(event, context, (err, value) => (err ? reject(err) : resolve(value)));
            if (returned && typeof returned.then === "function") returned.then(resolve, reject);
          })
        : await handler(event, context);
    finish({ payload: result === undefined ? null : result });
  } catch (err) {
    fail(null, err);
  }
}

main();
