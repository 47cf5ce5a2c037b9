// The benchmark of issue 14 (`stackctl dev`), called by scripts/bench_dev.sh, which builds the release binary,
// prepares a private copy of the project, starts a private emulator, runs `stackctl up` there and exports its
// endpoint. Every figure printed is measured in this run; methodology and recorded figures: docs/benchmark.md.
//
//   node scripts/bench_dev.cjs --stackctl BIN --project DIR --work DIR
//        [--concurrency 1,4] [--duration S] [--rounds N] [--reps N] [--workers N] [--json FILE] [--strict]
//
// * Throughput and latency: each workload at each concurrency C, once through `stackctl dev` (C keep-alive
//   HTTP connections from this process) and once calling the same built handler (lambda/dist/handler.js, the
//   code dev's workers run) directly in this process, C async loops awaiting `handler(event)` with the event
//   a function URL would send. Both sides talk to the same emulator. A discarded warm-up round of each side,
//   then --rounds timed rounds of --duration seconds per side, alternating which side goes first; the rounds'
//   requests are pooled: req/s = requests / time, p50 and p99 by nearest rank over every request's latency.
//   Every answer's status is checked; a wrong one is counted and reported, never timed as a success.
// * Start-up: from spawning `stackctl dev --port 0` to the first answered request (GET list), with the build
//   cache warm (a restart) and after an edit (dev builds first); --reps each, median.
// * Reload: from writing an edit of lambda/src/handler.ts (in the copy) to the first answer served by the new
//   code (the edit adds an `x-bench-rev` header to every answer; a GET loop polls until it sees the new value),
//   counting any answer that failed meanwhile, with dev's own figures for the rebuild beside it; --reps times,
//   median.
// * Verified identity (issue 23): the GET list and POST create workloads through a second dev started with
//   `--auth local`, each request with `Authorization: Bearer <token of stackctl token --local>`, against the
//   same requests through the dev without auth (userId in the query), alternating rounds; the ratio (target
//   at least 0.8x) and the JWKS fetches the authed dev served during the timed rounds (target 0: the workers
//   cache the JWKS, so a warm request verifies with no network call).
"use strict";

const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");
const { spawn, execFileSync } = require("node:child_process");
const { performance } = require("node:perf_hooks");
const { randomUUID } = require("node:crypto");

// ------------------------------------------------------------------------------------------------ options

function options() {
  const o = {
    concurrency: [1, 4],
    duration: 5,
    rounds: 3,
    reps: 3,
    workers: 4,
    json: undefined,
    strict: false,
  };
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const value = () => args[++i];
    switch (args[i]) {
      case "--stackctl": o.stackctl = value(); break;
      case "--project": o.project = value(); break;
      case "--work": o.work = value(); break;
      case "--concurrency": o.concurrency = value().split(",").map(Number); break;
      case "--duration": o.duration = Number(value()); break;
      case "--rounds": o.rounds = Number(value()); break;
      case "--reps": o.reps = Number(value()); break;
      case "--workers": o.workers = Number(value()); break;
      case "--json": o.json = value(); break;
      case "--strict": o.strict = true; break;
      default: die(`unknown argument ${args[i]}`);
    }
  }
  for (const need of ["stackctl", "project", "work"]) if (!o[need]) die(`--${need} is required`);
  if (o.concurrency.some((c) => !(c >= 1)) || !(o.duration > 0) || !(o.rounds >= 1) || !(o.reps >= 1)) {
    die("--concurrency, --duration, --rounds and --reps take positive numbers");
  }
  if (Math.max(...o.concurrency) > o.workers) {
    // dev runs at most --workers requests at once: more concurrency would measure its queue, not its cost.
    die(`a concurrency above --workers (${o.workers}) would measure dev's queue`);
  }
  return o;
}

const log = (msg) => process.stderr.write(`bench-dev: ${msg}\n`);
// Every dev this script started and has not stopped: an error must not leave one serving after the run.
const running = new Set();
function die(msg) {
  log(`error: ${msg}`);
  for (const child of running) child.kill("SIGKILL");
  process.exit(1);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** Nearest-rank percentile of a sorted array. */
const percentile = (sorted, p) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
const fmt = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const fmtInt = (n) => Math.round(n).toLocaleString("en-US");

// -------------------------------------------------------------------------------------------- workloads

const LIST_USER = "bench-list";
const POST_USER = "bench-post";
const LIST_ITEMS = 10;

// What a frontend does most (list, create), and one request the handler refuses before any AWS call: the
// latter is dev's own cost per request (HTTP, event, worker round trip) with nothing to hide it, shown for
// information; the targets are for the requests that do their work against the emulator.
const WORKLOADS = [
  { name: `GET list (${LIST_ITEMS} items)`, method: "GET", query: `userId=${LIST_USER}`, status: 200, target: true },
  {
    name: "POST create",
    method: "POST",
    query: `userId=${POST_USER}`,
    body: JSON.stringify({ title: "bench item" }),
    status: 201,
    target: true,
  },
  { name: "GET without userId (400, no AWS call)", method: "GET", query: "", status: 400, target: false },
];

/** The payload 2.0 event a function URL sends for this request (what dev builds from the HTTP request). */
function urlEvent(w, host) {
  const now = new Date();
  const headers = { host, "user-agent": "bench-dev", accept: "*/*" };
  if (w.body !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(Buffer.byteLength(w.body));
  }
  const query = w.query ? Object.fromEntries(new URLSearchParams(w.query)) : undefined;
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: "/items",
    rawQueryString: w.query,
    headers,
    queryStringParameters: query,
    requestContext: {
      accountId: "anonymous",
      apiId: "stackctl-dev",
      domainName: host,
      domainPrefix: host.split(".")[0],
      http: { method: w.method, path: "/items", protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "bench-dev" },
      requestId: randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    body: w.body,
    isBase64Encoded: false,
  };
}

// ---------------------------------------------------------------------------------------------- clients

/** One HTTP request; resolves {status, headers, body} or rejects on a transport error. */
function request(agent, base, method, target, body, extraHeaders = {}) {
  return new Promise((resolve, reject) => {
    const url = new URL(target, base);
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method,
        path: url.pathname + url.search,
        headers: {
          ...(body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) }),
          ...extraHeaders,
        },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Runs `once` in `concurrency` loops for `seconds`; every request's latency (ms) and the failures. */
async function drive(seconds, concurrency, once) {
  const latencies = [];
  const failures = [];
  const started = performance.now();
  const end = started + seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      let failure;
      try {
        failure = await once();
      } catch (err) {
        failure = String(err?.message ?? err);
      }
      const elapsed = performance.now() - t;
      if (failure) failures.push(failure);
      else latencies.push(elapsed);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { latencies, failures, seconds: (performance.now() - started) / 1000 };
}

// ----------------------------------------------------------------------------------------- stackctl dev

class Dev {
  /** Spawns `stackctl dev --port 0`; `ready()` resolves when it prints where it serves. */
  constructor(o, logName, extraArgs = []) {
    this.logPath = path.join(o.work, logName);
    const fd = fs.openSync(this.logPath, "w");
    this.spawned = performance.now();
    // stderr to a file, not a pipe: the access log (a line per request) must not cost this process anything.
    this.child = spawn(o.stackctl, ["dev", "--port", "0", "--workers", String(o.workers), ...extraArgs], {
      cwd: o.project,
      stdio: ["ignore", "ignore", fd],
    });
    fs.closeSync(fd);
    running.add(this.child);
    this.exit = new Promise((resolve) =>
      this.child.on("exit", (code, signal) => {
        running.delete(this.child);
        resolve(code ?? signal);
      }),
    );
    this.exited = undefined;
    this.exit.then((c) => (this.exited = c));
  }

  log() {
    return fs.readFileSync(this.logPath, "utf8");
  }

  async ready() {
    const deadline = performance.now() + 180_000;
    for (;;) {
      const m = /dev: serving (http:\/\/\S+)/.exec(this.log());
      if (m) {
        this.base = m[1];
        this.servingAfter = performance.now() - this.spawned;
        this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
        return this;
      }
      if (this.exited !== undefined) die(`stackctl dev ended (${this.exited}) before serving:\n${this.log()}`);
      if (performance.now() > deadline) die(`stackctl dev did not serve within 180 s:\n${this.log()}`);
      await sleep(2);
    }
  }

  /** SIGINT, as Ctrl-C; resolves dev's exit code. */
  async stop() {
    this.agent?.destroy();
    if (this.exited === undefined) this.child.kill("SIGINT");
    const timeout = sleep(60_000).then(() => "timeout");
    const code = await Promise.race([this.exit, timeout]);
    if (code === "timeout") this.child.kill("SIGKILL");
    return code;
  }
}

// ------------------------------------------------------------------------------------------- the edits

/** Scratch edits of the copy's handler: each adds an `x-bench-rev: <rev>` header to every answer. */
class Source {
  constructor(project) {
    this.file = path.join(project, "lambda/src/handler.ts");
    this.original = fs.readFileSync(this.file, "utf8");
    // HEADERS is the header map createHandler builds once (`const HEADERS = headersFor(env);`), spread into
    // every answer.
    this.anchor = /^(\s*)const HEADERS = headersFor\(env\);$/m;
    if (!this.anchor.test(this.original)) die(`${this.file} has no \`const HEADERS = headersFor(env);\` to extend`);
  }

  write(rev) {
    const edited = this.original.replace(
      this.anchor,
      (_, indent) => `${indent}const HEADERS = { ...headersFor(env), "x-bench-rev": "${rev}" }; // bench_dev.cjs edit`,
    );
    fs.writeFileSync(this.file, edited);
  }

  restore() {
    fs.writeFileSync(this.file, this.original);
  }
}

// ----------------------------------------------------------------------------------------------- phases

/** Throughput and latency, dev against direct calls, for every workload and concurrency. */
async function loadPhase(o, dev, handler) {
  const host = new URL(dev.base).host;
  const results = [];
  for (const w of WORKLOADS) {
    const target = w.query ? `/items?${w.query}` : "/items";
    const sides = {
      dev: async () => {
        const r = await request(dev.agent, dev.base, w.method, target, w.body);
        return r.status === w.status ? undefined : `status ${r.status}: ${r.body.slice(0, 200)}`;
      },
      direct: async () => {
        const r = await handler(urlEvent(w, host));
        return r?.statusCode === w.status ? undefined : `status ${r?.statusCode}: ${String(r?.body).slice(0, 200)}`;
      },
    };
    for (const c of o.concurrency) {
      log(`${w.name}, concurrency ${c}: warm-up, then ${o.rounds} x ${o.duration}s per side`);
      const pooled = { dev: [], direct: [] };
      const rps = { dev: [], direct: [] };
      const failures = { dev: [], direct: [] };
      const time = { dev: 0, direct: 0 };
      // Warm-up, discarded: dev starts its workers on demand (up to C of them here), and both sides' SDK
      // clients open their connections to the emulator.
      for (const side of ["direct", "dev"]) await drive(Math.min(3, o.duration), c, sides[side]);
      for (let round = 0; round < o.rounds; round++) {
        const order = round % 2 === 0 ? ["direct", "dev"] : ["dev", "direct"];
        for (const side of order) {
          const r = await drive(o.duration, c, sides[side]);
          // concat, not push(...): a fast round has more latencies than a call may take arguments.
          pooled[side] = pooled[side].concat(r.latencies);
          failures[side] = failures[side].concat(r.failures);
          time[side] += r.seconds;
          rps[side].push(r.latencies.length / r.seconds);
        }
      }
      const summary = {};
      for (const side of ["direct", "dev"]) {
        const sorted = pooled[side].sort((a, b) => a - b);
        summary[side] = {
          requests: sorted.length,
          failures: failures[side].length,
          failure_examples: [...new Set(failures[side])].slice(0, 3),
          rps: sorted.length / time[side],
          rps_rounds: rps[side],
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
        };
      }
      results.push({ workload: w.name, target: w.target, concurrency: c, ...summary });
    }
  }
  return results;
}

/**
 * Verified identity (issue 23's Speed): the same requests through a dev without auth (`plain`, userId in the
 * query) and a dev with `--auth local` and a token of `stackctl token --local` (`authed`, the caller is the
 * token's sub), alternating rounds, same concurrency. The JWKS fetches `authed` served during the rounds
 * (its access log) show that a warm request verifies without a network call.
 */
async function authPhase(o, plain, authed, token, only) {
  const bearer = { authorization: `Bearer ${token}` };
  const workloads = [
    { name: `GET list (${LIST_ITEMS} items)`, method: "GET", plain: `/items?userId=${LIST_USER}`, authed: "/items", status: 200 },
    { name: "POST create", method: "POST", plain: `/items?userId=${POST_USER}`, authed: "/items", body: JSON.stringify({ title: "bench item" }), status: 201 },
  ];
  const chosen = workloads.filter((w) => only.includes(w.method));
  const fetches = () => (authed.log().match(/GET \/\.well-known\/jwks\.json 200/g) ?? []).length;
  const results = [];
  for (const w of chosen) {
    const sides = {
      plain: async () => {
        const r = await request(plain.agent, plain.base, w.method, w.plain, w.body);
        return r.status === w.status ? undefined : `status ${r.status}: ${r.body.slice(0, 200)}`;
      },
      authed: async () => {
        const r = await request(authed.agent, authed.base, w.method, w.authed, w.body, bearer);
        return r.status === w.status ? undefined : `status ${r.status}: ${r.body.slice(0, 200)}`;
      },
    };
    for (const c of o.concurrency) {
      log(`auth: ${w.name}, concurrency ${c}: warm-up, then ${o.rounds} x ${o.duration}s per side`);
      for (const side of ["plain", "authed"]) await drive(Math.min(3, o.duration), c, sides[side]);
      const fetchesBefore = fetches();
      const sum = { plain: { n: 0, t: 0, failures: [] }, authed: { n: 0, t: 0, failures: [] } };
      for (let round = 0; round < o.rounds; round++) {
        const order = round % 2 === 0 ? ["plain", "authed"] : ["authed", "plain"];
        for (const side of order) {
          const r = await drive(o.duration, c, sides[side]);
          sum[side].n += r.latencies.length;
          sum[side].t += r.seconds;
          sum[side].failures = sum[side].failures.concat(r.failures);
        }
      }
      results.push({
        workload: w.name,
        concurrency: c,
        plain_rps: sum.plain.n / sum.plain.t,
        auth_rps: sum.authed.n / sum.authed.t,
        auth_requests: sum.authed.n,
        failures: sum.plain.failures.length + sum.authed.failures.length,
        failure_examples: [...new Set(sum.plain.failures.concat(sum.authed.failures))].slice(0, 3),
        jwks_fetches_timed: fetches() - fetchesBefore,
      });
    }
  }
  return { results, jwks_fetches_total: fetches() };
}

/** From a saved edit to the first answer from the new code, on a running dev. */
async function reloadPhase(o, dev, source) {
  const samples = [];
  for (let i = 1; i <= o.reps; i++) {
    const rev = `reload-${i}-${Date.now()}`;
    const logBefore = dev.log().length;
    source.write(rev);
    const saved = performance.now();
    let failed = 0;
    let polls = 0;
    const deadline = saved + 120_000;
    for (;;) {
      polls++;
      // The request the handler refuses before any AWS call: it answers in about a millisecond, so the poll
      // sees the new code within ~10 ms of its first answer, and it loads the emulator with nothing.
      try {
        const r = await request(dev.agent, dev.base, "GET", "/items");
        if (r.status !== 400) failed++;
        else if (r.headers["x-bench-rev"] === rev) break;
      } catch {
        failed++;
      }
      if (performance.now() > deadline) die(`the edit ${rev} was not served within 120 s:\n${dev.log()}`);
      await sleep(10);
    }
    const ms = performance.now() - saved;
    // dev's own account of the reload: the build's duration and the whole reload's. It prints the latter once
    // the old workers have stopped, which may be after the new code's first answer: wait for it (briefly).
    let text = dev.log().slice(logBefore);
    for (let waited = 0; !/dev: reloaded in/.test(text) && waited < 30_000; waited += 20) {
      await sleep(20);
      text = dev.log().slice(logBefore);
    }
    const build = /build: built.*\((\d+(?:\.\d+)?)s\)/.exec(text);
    const reloaded = /dev: reloaded in (\d+(?:\.\d+)?)s/.exec(text);
    samples.push({
      ms,
      build_ms: build ? Number(build[1]) * 1000 : NaN,
      reloaded_ms: reloaded ? Number(reloaded[1]) * 1000 : NaN,
      polls,
      failed,
    });
    log(`reload ${i}: ${fmtInt(ms)} ms (dev: build ${build?.[1]}s, reloaded in ${reloaded?.[1]}s), ${polls} polls, ${failed} failed`);
    // The old workers finish and stop before the next edit.
    await sleep(1000);
  }
  return samples;
}

/** From spawning dev to its first answer: warm build cache (`edit` unset) or right after an edit. */
async function startPhase(o, source, edit) {
  const samples = [];
  for (let i = 1; i <= o.reps; i++) {
    if (edit) source.write(`start-${i}-${Date.now()}`);
    const dev = new Dev(o, `dev-start-${edit ? "edited" : "warm"}-${i}.log`);
    await dev.ready();
    const r = await request(dev.agent, dev.base, "GET", `/items?userId=${LIST_USER}`);
    const answered = performance.now() - dev.spawned;
    if (r.status !== 200) die(`the first request answered ${r.status}: ${r.body}\n${dev.log()}`);
    const code = await dev.stop();
    samples.push({ serving_ms: dev.servingAfter, answered_ms: answered, exit: code });
    log(`start ${edit ? "after an edit" : "warm"} ${i}: serving ${fmtInt(dev.servingAfter)} ms, answered ${fmtInt(answered)} ms, exit ${code}`);
  }
  return samples;
}

// ------------------------------------------------------------------------------------------------ report

function machine() {
  const cpu = (() => {
    try {
      const m = /model name\s*:\s*(.+)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"));
      return m ? m[1].trim() : os.cpus()[0]?.model;
    } catch {
      return os.cpus()[0]?.model;
    }
  })();
  return `${os.availableParallelism()} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}`;
}

function report(o, meta, load, reload, starts, auth) {
  const out = [];
  const p = (line = "") => out.push(line);
  p(`## stackctl dev: ${meta.date}`);
  p();
  p(`- machine: ${meta.machine}; load average (1 min) ${meta.loadBefore} before, ${meta.loadAfter} after`);
  p(`- ${meta.stackctl} (${process.env.BENCH_GIT ?? "unknown commit"}), node ${process.version}, moto_server ${process.env.BENCH_MOTO ?? "?"}`);
  p(`- dev: \`--workers ${o.workers}\`; ${o.rounds} rounds of ${o.duration} s per side after a warm-up, alternating sides; concurrency ${o.concurrency.join(", ")}`);
  p();
  p("| workload | C | direct req/s | dev req/s | throughput dev/direct | direct p50 ms | dev p50 ms | p50 delta ms | direct p99 ms | dev p99 ms | failures (direct/dev) |");
  p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of load) {
    const ratio = r.dev.rps / r.direct.rps;
    p(
      `| ${r.workload} | ${r.concurrency} | ${fmtInt(r.direct.rps)} | ${fmtInt(r.dev.rps)} | ${ratio.toFixed(2)}x | ` +
        `${fmt(r.direct.p50)} | ${fmt(r.dev.p50)} | ${(r.dev.p50 - r.direct.p50 >= 0 ? "+" : "") + fmt(r.dev.p50 - r.direct.p50)} | ` +
        `${fmt(r.direct.p99)} | ${fmt(r.dev.p99)} | ${r.direct.failures}/${r.dev.failures} |`,
    );
  }
  p();
  p("Rounds' req/s (min-max), direct | dev:");
  for (const r of load) {
    const range = (xs) => `${fmtInt(Math.min(...xs))}-${fmtInt(Math.max(...xs))}`;
    p(`- ${r.workload}, C=${r.concurrency}: ${range(r.direct.rps_rounds)} | ${range(r.dev.rps_rounds)}`);
  }
  for (const r of load) {
    for (const side of ["direct", "dev"]) {
      if (r[side].failures) p(`- FAILURES ${side}, ${r.workload}, C=${r.concurrency}: ${r[side].failure_examples.join(" / ")}`);
    }
  }
  p();
  const warm = starts.warm;
  const edited = starts.edited;
  const med = (xs, k) => fmtInt(median(xs.map((s) => s[k])));
  const rng = (xs, k) => `${fmtInt(Math.min(...xs.map((s) => s[k])))}-${fmtInt(Math.max(...xs.map((s) => s[k])))}`;
  p("| timing | median ms | range ms | n |");
  p("| --- | ---: | ---: | ---: |");
  p(`| start to first answer, build cache warm | ${med(warm, "answered_ms")} | ${rng(warm, "answered_ms")} | ${warm.length} |`);
  p(`| (of which: start to the "serving" line) | ${med(warm, "serving_ms")} | ${rng(warm, "serving_ms")} | ${warm.length} |`);
  p(`| start to first answer, right after an edit (builds first) | ${med(edited, "answered_ms")} | ${rng(edited, "answered_ms")} | ${edited.length} |`);
  p(`| saved edit to first answer from the new code | ${med(reload, "ms")} | ${rng(reload, "ms")} | ${reload.length} |`);
  p(`| (dev's log: the rebuild, \`build: built ... (Ns)\`) | ${med(reload, "build_ms")} | ${rng(reload, "build_ms")} | ${reload.length} |`);
  p(`| (dev's log: \`reloaded in Ns\`: rebuild, new workers started, old ones stopped) | ${med(reload, "reloaded_ms")} | ${rng(reload, "reloaded_ms")} | ${reload.length} |`);
  const failedDuringReload = reload.reduce((n, s) => n + s.failed, 0);
  const polls = reload.reduce((n, s) => n + s.polls, 0);
  const exits = [...warm, ...edited].map((s) => s.exit).concat(meta.loadExit);
  p();
  p(`Requests failed while reloading: ${failedDuringReload} of ${polls} (a GET every ~10 ms, each answered 400 by the handler without an AWS call). Exit codes after SIGINT: ${[...new Set(exits)].join(", ")} (the contract: 130).`);
  p();
  p("### Verified identity (issue 23): `dev --auth local` with a token against `dev` without auth");
  p();
  p("| workload | C | without auth req/s | with a token req/s | with/without | JWKS fetches during the timed rounds (requests with a token) | failures |");
  p("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  const authMet = [];
  for (const r of auth.results) {
    const ratio = r.auth_rps / r.plain_rps;
    authMet.push(ratio >= 0.8 && r.failures === 0 && r.jwks_fetches_timed === 0);
    p(`| ${r.workload} | ${r.concurrency} | ${fmtInt(r.plain_rps)} | ${fmtInt(r.auth_rps)} | ${ratio.toFixed(2)}x | ${r.jwks_fetches_timed} (${fmtInt(r.auth_requests)}) | ${r.failures} |`);
    if (r.failures) p(`- FAILURES, ${r.workload}, C=${r.concurrency}: ${r.failure_examples.join(" / ")}`);
  }
  p();
  p(`JWKS fetches dev served in the whole run with \`--auth local\` (workers' first requests included): ${auth.jwks_fetches_total}.`);
  p();
  for (const [i, r] of auth.results.entries()) {
    p(`- [${authMet[i] ? "x" : " "}] issue 23, ${r.workload}, C=${r.concurrency}: with a token at least 0.8x without auth, no JWKS fetch while warm: ${(r.auth_rps / r.plain_rps).toFixed(2)}x, ${r.jwks_fetches_timed} fetches`);
  }
  p();
  p("### Targets of issue 14");
  p();
  const met = [];
  for (const r of load.filter((r) => r.target)) {
    const ratio = r.dev.rps / r.direct.rps;
    const delta = r.dev.p50 - r.direct.p50;
    const ok1 = ratio >= 0.8 && r.dev.failures === 0;
    const ok2 = delta <= 2 && r.dev.failures === 0;
    met.push(ok1, ok2);
    p(`- [${ok1 ? "x" : " "}] ${r.workload}, C=${r.concurrency}: throughput at least 0.8x direct: ${ratio.toFixed(2)}x (${fmtInt(r.dev.rps)} vs ${fmtInt(r.direct.rps)} req/s)`);
    p(`- [${ok2 ? "x" : " "}] ${r.workload}, C=${r.concurrency}: p50 at most 2 ms above direct: ${delta >= 0 ? "+" : ""}${fmt(delta)} ms (${fmt(r.dev.p50)} vs ${fmt(r.direct.p50)})`);
  }
  return { text: out.join("\n"), allMet: met.every(Boolean) && authMet.every(Boolean) };
}

// -------------------------------------------------------------------------------------------------- main

async function main() {
  const o = options();
  const meta = {
    date: new Date().toISOString().replace("T", " ").slice(0, 16) + " UTC",
    machine: machine(),
    loadBefore: os.loadavg()[0].toFixed(2),
    stackctl: execFileSync(o.stackctl, ["--version"], { encoding: "utf8" }).trim(),
  };
  const source = new Source(o.project);
  try {
    // The direct side: the handler `stackctl up` just built, loaded here with the environment dev gives it.
    process.env.TABLE_NAME = fs
      .readFileSync(path.join(o.project, "stack.toml"), "utf8")
      .match(/^\[table\][^[]*?^name\s*=\s*"([^"]+)"/m)[1];
    // No [function.url] in the bench stack: dev sets no STACKCTL_CORS, and neither does this side.
    delete process.env.STACKCTL_CORS;
    const { handler } = require(path.join(o.project, "lambda/dist/handler.js"));
    // The list user's items, created once (the POST user's grow with the run; the list user's do not).
    for (let i = 0; i < LIST_ITEMS; i++) {
      const w = { method: "POST", query: `userId=${LIST_USER}`, body: JSON.stringify({ title: `item ${i}` }) };
      const r = await handler(urlEvent(w, "127.0.0.1"));
      if (r.statusCode !== 201) die(`seeding the list answered ${r.statusCode}: ${r.body}`);
    }

    log("starting stackctl dev for the load rounds");
    const dev = await new Dev(o, "dev-load.log").ready();
    log("auth: stackctl dev --auth local beside it, a token of `stackctl token --local`");
    const token = execFileSync(o.stackctl, ["token", "--local", "--user", "bench-auth"], { cwd: o.project, encoding: "utf8" }).trim();
    const authed = await new Dev(o, "dev-auth-local.log", ["--auth", "local"]).ready();
    for (let i = 0; i < LIST_ITEMS; i++) {
      const r = await request(authed.agent, authed.base, "POST", "/items", JSON.stringify({ title: `item ${i}` }), {
        authorization: `Bearer ${token}`,
      });
      if (r.status !== 201) die(`seeding the token user's list answered ${r.status}: ${r.body}\n${authed.log()}`);
    }
    // Every GET list round runs before any POST round: moto's Query reads the whole table, so the thousands
    // of items the POST rounds create would make a later list the emulator's cost alone.
    const authList = await authPhase(o, dev, authed, token, ["GET"]);
    const load = await loadPhase(o, dev, handler);
    const authPost = await authPhase(o, dev, authed, token, ["POST"]);
    const auth = { results: [...authList.results, ...authPost.results], jwks_fetches_total: authPost.jwks_fetches_total };
    await authed.stop();
    log("reload: edits of lambda/src/handler.ts in the copy");
    const reload = await reloadPhase(o, dev, source);
    meta.loadExit = await dev.stop();
    // The source stays as the last reload left it: its build is the one in the build cache, so the next
    // starts are restarts with a warm cache, as after a Ctrl-C; the original comes back at the end.
    const starts = {};
    starts.warm = await startPhase(o, source, false);
    starts.edited = await startPhase(o, source, true);
    meta.loadAfter = os.loadavg()[0].toFixed(2);

    const { text, allMet } = report(o, meta, load, reload, starts, auth);
    process.stdout.write(`${text}\n`);
    if (o.json) fs.writeFileSync(o.json, JSON.stringify({ meta, load, reload, starts, auth }, null, 2));
    if (!allMet) log("a target of issue 14 or 23 was missed (see above)");
    if (!allMet && o.strict) process.exitCode = 3;
  } finally {
    source.restore();
  }
}

main().catch((err) => die(err?.stack ?? String(err)));
