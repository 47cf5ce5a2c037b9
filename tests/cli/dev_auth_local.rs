//! `stackctl token --local` and `stackctl dev --auth local` (issue 23, item 5): an offline issuer whose key is
//! made once under .stackctl/auth/, tokens minted with no AWS and no credentials, verified by the handler in
//! dev exactly as deployed; a function configured from stack.toml's `[auth]` never accepts them.

use std::path::Path;

use bytes::Bytes;
use serde_json::Value;

use super::dev::{get, http};
use crate::support::*;

const KEY: &str = ".stackctl/auth/local-issuer.pem";
const ISSUER: &str = "http://localhost/stackctl-local-issuer";

/// `token --local --user NAME --output json` with no credentials anywhere (and no AWS request).
fn mint(project: &Project, user: &str) -> Value {
    let run = project.stackctl_with(
        &["token", "--local", "--user", user, "--output", "json"],
        &[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_PROFILE", "nobody-has-this-profile"),
            ("AWS_CONFIG_FILE", "/nonexistent/config"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    run.ok();
    run.json()
}

fn token(project: &Project, user: &str) -> String {
    mint(project, user)["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn token_local_gives_a_stable_user_with_no_aws_and_keeps_its_key_private() {
    use std::os::unix::fs::PermissionsExt;
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let mark = emulator.mark();
    let first = mint(&project, "alice");
    let again = mint(&project, "alice");
    let bob = mint(&project, "bob");
    assert!(emulator.requests_since(mark).is_empty(), "an AWS request");
    assert_eq!(first["sub"], again["sub"], "the same user across runs");
    assert_ne!(first["sub"], bob["sub"]);
    assert_eq!(first["issuer"], ISSUER);
    assert_eq!(first["issuer_kind"], "local");
    assert_eq!(first["expires_in"], 3600);
    assert!(first.get("id_token").is_none(), "{first}");
    // Text: the token alone on its line.
    let text = project.stackctl(&["token", "--local", "--user", "alice"]);
    text.ok();
    assert_eq!(
        text.stdout.trim_end().split('.').count(),
        3,
        "{}",
        text.stdout
    );
    assert!(!text.stdout.trim_end().contains('\n'));
    // The key: 0600 in a 0700 directory, never printed.
    let key = project.path(KEY);
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(key.parent().unwrap()), 0o700);
    let pem = std::fs::read_to_string(&key).unwrap();
    let secret = pem.lines().nth(1).unwrap();
    assert!(!text.stdout.contains(secret) && !text.stderr.contains(secret));

    // Another project: another key, another sub for the same name.
    let other = Project::new(&emulator);
    assert_ne!(mint(&other, "alice")["sub"], first["sub"]);

    // A key readable by others, or a symlink, is refused with the fix; nothing is minted.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let shared = project.stackctl(&["token", "--local", "--user", "alice"]);
    assert_ne!(shared.code, 0);
    assert!(shared.stdout.is_empty(), "{}", shared.stdout);
    assert!(
        shared.stderr.contains("fix: chmod 600"),
        "{}",
        shared.stderr
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let moved = project.path("moved.pem");
    std::fs::rename(&key, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &key).unwrap();
    let linked = project.stackctl(&["token", "--local", "--user", "alice"]);
    assert_ne!(linked.code, 0);
    assert!(linked.stdout.is_empty(), "{}", linked.stdout);
    assert!(linked.stderr.contains("symbolic link"), "{}", linked.stderr);
    // A bad user name: 64, before anything.
    project
        .stackctl(&["token", "--local", "--user", "a b"])
        .expect_code(64);
}

/// A token signed with the project's key by jose (not stackctl), expired an hour ago; and the RFC 7638
/// thumbprint jose computes for the JWKS's key.
fn crafted(project: &Project, jwk: &Value) -> (String, String) {
    let script = project.path("lambda/craft-token.mjs");
    std::fs::write(
        &script,
        r#"import { importPKCS8, SignJWT, calculateJwkThumbprint } from "jose";
import { readFileSync } from "node:fs";
const [keyFile, jwkText, issuer] = process.argv.slice(2);
const jwk = JSON.parse(jwkText);
const key = await importPKCS8(readFileSync(keyFile, "utf8"), "ES256");
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({ token_use: "access" })
  .setProtectedHeader({ alg: "ES256", kid: jwk.kid })
  .setIssuer(issuer).setAudience("stackctl-local").setSubject("expired-user")
  .setIssuedAt(now - 7200).setNotBefore(now - 7200).setExpirationTime(now - 3600)
  .sign(key);
console.log(JSON.stringify({ token, thumbprint: await calculateJwkThumbprint(jwk) }));
"#,
    )
    .unwrap();
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(project.path(KEY))
        .arg(jwk.to_string())
        .arg(ISSUER)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["token"].as_str().unwrap().to_string(),
        v["thumbprint"].as_str().unwrap().to_string(),
    )
}

async fn call(method: &str, url: &str, token: Option<&str>, body: &str) -> super::dev::Answer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(b) = &bearer {
        headers.push(("authorization", b.as_str()));
    }
    http(method, url, &headers, Bytes::from(body.to_string())).await
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_auth_local_verifies_local_tokens_as_deployed() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let alice = token(&project, "alice");
    let bob = token(&project, "bob");
    let alice_sub = mint(&project, "alice")["sub"].as_str().unwrap().to_string();
    let foreign = token(&Project::new(&emulator), "alice");

    let dev = Dev::start(&project, &["--auth", "local"]);
    let said = dev.stderr();
    assert!(said.contains("dev: --auth local:"), "{said}");
    assert!(said.contains("stack.toml has no [auth]"), "{said}");
    let items = format!("{}/items", dev.base);

    let anonymous = call("GET", &items, None, "").await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    let created = call("POST", &items, Some(&alice), r#"{"title":"Buy milk"}"#).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["userId"], alice_sub.as_str());
    let mine = call("GET", &items, Some(&alice), "").await;
    assert_eq!(mine.status, 200, "{}", mine.text());
    assert_eq!(mine.json()["items"][0]["title"], "Buy milk");
    let theirs = call("GET", &items, Some(&bob), "").await;
    assert_eq!(theirs.status, 200, "{}", theirs.text());
    assert_eq!(theirs.json()["items"], serde_json::json!([]));
    let posing = call(
        "GET",
        &format!("{items}?userId={alice_sub}"),
        Some(&bob),
        "",
    )
    .await;
    assert_eq!(posing.status, 403, "{}", posing.text());
    let other_project = call("GET", &items, Some(&foreign), "").await;
    assert_eq!(other_project.status, 401, "{}", other_project.text());
    assert_eq!(
        other_project.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );

    // The documents: the issuer, dev's own JWKS URL, the public key only (its kid is its thumbprint).
    let discovery = get(&format!("{}/.well-known/openid-configuration", dev.base)).await;
    assert_eq!(discovery.status, 200);
    assert_eq!(discovery.json()["issuer"], ISSUER);
    assert_eq!(
        discovery.json()["jwks_uri"],
        format!("{}/.well-known/jwks.json", dev.base)
    );
    let jwks = get(&format!("{}/.well-known/jwks.json", dev.base)).await;
    assert_eq!(jwks.status, 200);
    let key = jwks.json()["keys"][0].clone();
    assert_eq!(jwks.json()["keys"].as_array().unwrap().len(), 1);
    assert!(key.get("d").is_none(), "{key}");
    assert_eq!(key["kty"], "EC");
    // dev's guard applies to them: another Host is refused.
    let rebound = http(
        "GET",
        &format!("{}/.well-known/jwks.json", dev.base),
        &[("host", "evil.example")],
        Bytes::new(),
    )
    .await;
    assert_eq!(rebound.status, 421);
    let foreign_page = http(
        "GET",
        &format!("{}/.well-known/jwks.json", dev.base),
        &[("origin", "https://evil.example")],
        Bytes::new(),
    )
    .await;
    assert_eq!(foreign_page.status, 403);
    let own_page = http(
        "GET",
        &format!("{}/.well-known/jwks.json", dev.base),
        &[("origin", "http://localhost:5173")],
        Bytes::new(),
    )
    .await;
    assert_eq!(own_page.status, 200);
    assert_eq!(own_page.header("access-control-allow-origin"), Some("*"));

    // A token of this key but expired: 401. jose's thumbprint is the kid.
    let (expired, thumbprint) = crafted(&project, &key);
    assert_eq!(key["kid"], thumbprint.as_str());
    let late = call("GET", &items, Some(&expired), "").await;
    assert_eq!(late.status, 401, "{}", late.text());
    assert!(late.text().contains("expired"), "{}", late.text());
    for secret in [&alice, &bob, &expired] {
        assert!(
            !dev.stderr().contains(secret.as_str()),
            "a token in dev's log"
        );
    }
    drop(dev);

    // Another dev of the project (a restart, another port), one connection and one worker: alice's token
    // still works, and the worker's JWKS fetch does not wait for the one connection slot the client holds.
    let dev = Dev::start_with_env(
        &project,
        &["--auth", "local", "--workers", "1"],
        &[("STACKCTL_DEV_MAX_CONNECTIONS", "1")],
    );
    let again = call("GET", &format!("{}/items", dev.base), Some(&alice), "").await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["items"][0]["title"], "Buy milk");
    assert!(
        dev.stderr().contains("GET /.well-known/jwks.json 200"),
        "{}",
        dev.stderr()
    );
}

/// A function configured from stack.toml's `[auth]` never accepts a local token: not even one whose
/// `jwks_url` is the local issuer's own JWKS (its `iss` is not the file's issuer), and the local issuer
/// cannot be named in the file at all (http).
#[tokio::test(flavor = "multi_thread")]
async fn a_function_configured_from_stack_toml_refuses_local_tokens() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let alice = token(&project, "alice");
    let dev = Dev::start(&project, &["--auth", "local"]);
    let stack = project.read("stack.toml");
    let events = Path::new(REPO).join("lambda/events/list-items.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(events).unwrap()).unwrap();
    event["headers"]["authorization"] = format!("Bearer {alice}").into();
    event["rawQueryString"] = "".into();
    event
        .as_object_mut()
        .unwrap()
        .remove("queryStringParameters");
    project.write("local-token.json", &event.to_string());

    project.write(
        "stack.toml",
        &format!("{stack}\n[auth]\nissuer = \"{ISSUER}\"\naudience = \"stackctl-local\"\n"),
    );
    let refused = project.stackctl(&["invoke", "--local", "local-token.json"]);
    refused.expect_code(64);
    assert!(refused.stderr.contains("https"), "{}", refused.stderr);

    project.write(
        "stack.toml",
        &format!(
            "{stack}\n[auth]\nissuer = \"https://issuer.example\"\naudience = \"stackctl-local\"\n\
             jwks_url = \"{}/.well-known/jwks.json\"\n",
            dev.base
        ),
    );
    let run = project.stackctl(&["invoke", "--local", "local-token.json"]);
    run.ok();
    assert!(run.stdout.starts_with("401 ("), "{}", run.stdout);
    assert!(run.stdout.contains("another issuer"), "{}", run.stdout);
}

/// smoke against `dev --auth local` with the offline issuer's tokens (`--auth local`): the two users, the
/// isolation steps, a PASS, and nothing left in the table (issue 23 item 6 "on dev", with no AWS sign-in).
#[test]
fn smoke_as_two_local_users_against_dev_auth_local_passes() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let dev = Dev::start(&project, &["--auth", "local"]);
    let run = project.stackctl(&[
        "smoke",
        &format!("--url={}", dev.base),
        "--auth",
        "local",
        "--output",
        "json",
    ]);
    run.ok();
    let doc = run.json();
    assert_eq!(doc["passed"], true, "{}", run.stdout);
    assert_eq!(doc["steps"].as_array().unwrap().len(), 27, "{}", run.stdout);
    assert_eq!(
        doc["test_users"].as_array().unwrap().len(),
        2,
        "{}",
        run.stdout
    );
    // Without --auth local the same dev answers 401s: smoke's anonymous sequence fails there.
    let anonymous = project.stackctl(&["smoke", &format!("--url={}", dev.base)]);
    anonymous.expect_code(1);
}

/// `--auth local` tokens stay on this machine: smoke refuses to send them to the deployed URL or to any
/// host that is not loopback (exit 64, nothing sent).
#[test]
fn smoke_never_sends_local_tokens_off_this_machine() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    for url in [
        "--url=http://192.0.2.2:9",
        "--url=https://example.com",
        "--url",
    ] {
        let mark = emulator.mark();
        let run = project.stackctl(&["smoke", url, "--auth", "local"]);
        run.expect_code(64);
        assert!(
            run.stderr.contains("not a loopback address"),
            "{url}: {}",
            run.stderr
        );
        assert!(emulator.requests_since(mark).is_empty(), "{url}");
    }
}
