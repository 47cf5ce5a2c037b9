// Verified identity (issue 23): the caller is the `sub` of an `Authorization: Bearer <JWT>` verified with jose
// against the issuer's JWKS. stackctl sets the settings from stack.toml's [auth] (see AUTH-CONTRACT in the
// README's "Verified identity: what the handler checks"):
//   STACKCTL_AUTH_ISSUER     the token's `iss`, compared exactly; https (http only on a loopback host)
//   STACKCTL_AUTH_AUDIENCE   OIDC form: the token's `aud` must contain it
//   STACKCTL_AUTH_CLIENT_ID  Cognito form: `client_id` must equal it and `token_use` must be "access"
//   STACKCTL_AUTH_JWKS_URL   the JWKS; else `jwks_uri` of <issuer>/.well-known/openid-configuration
// Auth is off only when none of the four is present in the environment (an empty one is a misconfiguration).
// A token is never logged.
import { createRemoteJWKSet, errors, jwtVerify } from "jose";
import type { JWTVerifyGetKey } from "jose";

/** The asymmetric algorithms accepted: never HS* (the HS/RS confusion), never `none`. */
export const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

/** Knobs for tests; the defaults are what a deployed function uses. */
export type AuthOptions = {
  /** Each of the discovery and JWKS fetches gives up after this (a cold start must not hang). */
  timeoutMs?: number;
  /** The JWKS is refetched for an unknown `kid` at most once in this time (jose's cooldown). */
  cooldownMs?: number;
  /** Leeway for `exp` and `nbf`, in seconds. */
  clockToleranceSec?: number;
};

const DEFAULTS = { timeoutMs: 3000, cooldownMs: 30_000, clockToleranceSec: 5 };

/** A request auth refuses: 401 (the caller's fault) or 503 (the keys could not be fetched). */
export type Refusal = {
  statusCode: 401 | 503;
  error: string;
  headers: Record<string, string>;
};

export type Auth =
  | { mode: "off" }
  | { mode: "misconfigured"; message: string }
  | {
      mode: "on";
      /** The caller's `sub`, or why the request is refused. `authorization` is the header's value. */
      authenticate(authorization: string | undefined): Promise<{ sub: string } | Refusal>;
    };

const VARIABLES = ["STACKCTL_AUTH_ISSUER", "STACKCTL_AUTH_AUDIENCE", "STACKCTL_AUTH_CLIENT_ID", "STACKCTL_AUTH_JWKS_URL"];

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

const parse = (text: string): URL | undefined => {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
};

const isHttpLoopback = (url: URL) =>
  url.protocol === "http:" && (LOOPBACK.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname));

/** https, or http on a loopback host (a local issuer such as a dev server's: unreachable from elsewhere). */
function secureUrl(text: string): URL | undefined {
  const url = parse(text);
  return url && (url.protocol === "https:" || isHttpLoopback(url)) ? url : undefined;
}

/**
 * The JWKS URL a discovery document names, or undefined when it is not acceptable: https, and http on a loopback
 * host only when the issuer itself is an http loopback URL (a local issuer). An https issuer's document cannot
 * point the key fetch at a loopback http port (on Lambda, 127.0.0.1:9001 is the Runtime API).
 */
export function discoveredJwksUrl(issuer: string, jwksUri: unknown): URL | undefined {
  if (typeof jwksUri !== "string") return undefined;
  const url = parse(jwksUri);
  if (!url) return undefined;
  if (url.protocol === "https:") return url;
  const local = parse(issuer);
  return local && isHttpLoopback(local) && isHttpLoopback(url) ? url : undefined;
}

/** Raised when the discovery document or the JWKS cannot be fetched: 503, never a verdict on the token. */
class KeysUnavailable extends Error {}

/** Raised when several of the issuer's keys fit the token (e.g. it has no `kid`): 401, the message says why. */
class AmbiguousKey extends Error {}

const describe = (err: unknown): string => {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  const detail = cause?.code ?? cause?.message;
  return `${err.name}: ${err.message}${detail ? ` (${String(detail)})` : ""}`;
};

/**
 * The settings in `env`, checked. Auth is off only when none of the STACKCTL_AUTH_* names is present at all: a
 * name present in the environment, even empty, means auth was meant, and an empty or partial configuration is
 * "misconfigured" (fail closed), never off.
 */
export function authFromEnvironment(env: NodeJS.ProcessEnv, options: AuthOptions = {}): Auth {
  const get = (name: string) => env[name];
  const issuer = get("STACKCTL_AUTH_ISSUER");
  const audience = get("STACKCTL_AUTH_AUDIENCE");
  const clientId = get("STACKCTL_AUTH_CLIENT_ID");
  const jwksUrl = get("STACKCTL_AUTH_JWKS_URL");
  const misconfigured = (why: string): Auth => ({ mode: "misconfigured", message: `Server misconfigured: ${why}` });

  const present = VARIABLES.filter((name) => get(name) !== undefined);
  if (present.length === 0) return { mode: "off" };
  const empty = present.filter((name) => get(name)!.trim() === "");
  if (empty.length > 0) return misconfigured(`${empty.join(", ")} set but empty (auth cannot be turned off that way)`);
  if (issuer === undefined) {
    // Fail closed: a setting without the issuer means auth was meant, and cannot be done.
    return misconfigured(`${present.join(", ")} set without STACKCTL_AUTH_ISSUER`);
  }
  if (!secureUrl(issuer)) return misconfigured("STACKCTL_AUTH_ISSUER is not an https URL");
  if ((audience === undefined) === (clientId === undefined)) {
    return misconfigured("set exactly one of STACKCTL_AUTH_AUDIENCE and STACKCTL_AUTH_CLIENT_ID with STACKCTL_AUTH_ISSUER");
  }
  const givenJwks = jwksUrl === undefined ? undefined : secureUrl(jwksUrl);
  if (jwksUrl !== undefined && !givenJwks) return misconfigured("STACKCTL_AUTH_JWKS_URL is not an https URL");

  const { timeoutMs, cooldownMs, clockToleranceSec } = { ...DEFAULTS, ...options };

  // The key set, made once and kept for the life of the execution environment: jose caches the JWKS in it
  // (10 minutes), and refetches it for an unknown `kid` (at most once per cooldown).
  let keySet: Promise<JWTVerifyGetKey> | undefined;
  const remote = (url: URL) =>
    createRemoteJWKSet(url, { timeoutDuration: timeoutMs, cooldownDuration: cooldownMs });

  /** The JWKS URL the discovery document names: fetched once; a failure is not kept (the next request retries). */
  async function discover(): Promise<URL> {
    const where = `${issuer!.replace(/\/$/, "")}/.well-known/openid-configuration`;
    let document: unknown;
    try {
      const response = await fetch(where, { redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      document = await response.json();
    } catch (err) {
      throw new KeysUnavailable(`cannot fetch the discovery document ${where}: ${describe(err)}`);
    }
    const doc = (document ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    if (doc.issuer !== issuer) {
      throw new KeysUnavailable(`the discovery document ${where} names another issuer: ${JSON.stringify(doc.issuer)}`);
    }
    const url = discoveredJwksUrl(issuer!, doc.jwks_uri);
    if (!url) {
      throw new KeysUnavailable(`the discovery document ${where} has no https jwks_uri: ${JSON.stringify(doc.jwks_uri)}`);
    }
    return url;
  }

  function keys(): Promise<JWTVerifyGetKey> {
    if (!keySet) {
      keySet = givenJwks ? Promise.resolve(remote(givenJwks)) : discover().then(remote);
      keySet.catch(() => (keySet = undefined));
    }
    return keySet;
  }

  /** jose's key lookup; a failure to fetch the set becomes KeysUnavailable, an unknown key stays the token's fault. */
  const getKey: JWTVerifyGetKey = async (header, token) => {
    const lookup = await keys();
    try {
      return await lookup(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSMultipleMatchingKeys) {
        throw new AmbiguousKey(
          header.kid === undefined
            ? "The token names no key (kid) and the issuer has several"
            : "The issuer has several keys with the token's kid",
        );
      }
      if (err instanceof errors.JWKSNoMatchingKey) throw err;
      throw new KeysUnavailable(`cannot fetch the JWKS: ${describe(err)}`);
    }
  };

  const refuse = (error: string, tokenGiven: boolean): Refusal => ({
    statusCode: 401,
    error,
    headers: { "WWW-Authenticate": tokenGiven ? 'Bearer error="invalid_token"' : "Bearer" },
  });

  return {
    mode: "on",
    async authenticate(authorization) {
      if (authorization === undefined) {
        return refuse("Missing Authorization header: send Authorization: Bearer <token>", false);
      }
      const match = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(authorization);
      if (!match) return refuse("The Authorization header is not a Bearer token", true);
      const token = match[1];
      try {
        const { payload } = await jwtVerify(token, getKey, {
          issuer,
          audience,
          algorithms: ALGORITHMS,
          clockTolerance: clockToleranceSec,
          requiredClaims: ["sub", "exp"],
        });
        if (clientId !== undefined) {
          if (payload.token_use !== "access") return refuse("Not an access token", true);
          if (payload.client_id !== clientId) return refuse("The token is for another client", true);
        }
        const sub = payload.sub;
        if (typeof sub !== "string" || sub.trim() === "" || Buffer.byteLength(sub, "utf8") > 2048) {
          return refuse("The token's sub is not a usable user id", true);
        }
        return { sub };
      } catch (err) {
        if (err instanceof KeysUnavailable) {
          // The message names URLs and error codes, never the token.
          console.error(`Auth: ${err.message}; answering 503`);
          return {
            statusCode: 503,
            error: "Cannot verify the token now: the issuer's keys could not be fetched; try again later",
            headers: {},
          };
        }
        if (err instanceof AmbiguousKey) return refuse(err.message, true);
        return refuse(reason(err), true);
      }
    },
  };
}

/** Why jose refused a token, in a sentence that never quotes it. */
function reason(err: unknown): string {
  if (err instanceof errors.JWTExpired) return "The token has expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case "nbf":
        return "The token is not yet valid";
      case "iss":
        return "The token is from another issuer";
      case "aud":
        return "The token is for another audience";
      default:
        return `The token's ${err.claim} claim is not accepted`;
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return "The token's algorithm is not accepted";
  if (err instanceof errors.JWKSNoMatchingKey) return "The token's signing key is not the issuer's";
  if (err instanceof errors.JWSSignatureVerificationFailed) return "The token's signature is not valid";
  return "The token is malformed";
}
