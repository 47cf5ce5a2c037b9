//! What the environment of local runs and builds holds: `invoke --local` and `smoke --local` give the handler
//! only the variables stack.toml declares plus stackctl's own, never the live function's (anyone allowed
//! `lambda:UpdateFunctionConfiguration` could otherwise run code on the developer's machine, next to their
//! credentials); the build (`plan`, `up`, `dev`) runs npm with no credential of any kind.

use aws_sdk_lambda::types::Environment;

use crate::support::*;

/// A module that, once loaded by any Node.js, writes that process's environment to `<dir>/ran.json`.
fn planted_module(project: &Project) -> String {
    let path = project.path("planted/x.js");
    project.write(
        "planted/x.js",
        &format!(
            "require(\"node:fs\").writeFileSync({:?}, JSON.stringify(process.env));\n",
            project.path("planted/ran.json").display().to_string()
        ),
    );
    path.display().to_string()
}

/// What someone allowed `lambda:UpdateFunctionConfiguration` puts on the deployed function.
async fn plant_variables(emulator: &Emulator, module: &str) {
    let aws = emulator.clients().await;
    aws.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .environment(
            Environment::builder()
                .variables("TABLE_NAME", TABLE)
                .variables("NODE_OPTIONS", format!("--require {module}"))
                .variables("FOREIGN_SECRET", "from-the-live-function")
                .variables("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
                .variables("HTTPS_PROXY", "http://127.0.0.1:9")
                .variables("HOME", "/nonexistent-home")
                .variables("LD_PRELOAD", "/nonexistent/planted.so")
                .build(),
        )
        .send()
        .await
        .expect("UpdateFunctionConfiguration");
}

const PLANTED: [&str; 6] = [
    "NODE_OPTIONS",
    "FOREIGN_SECRET",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "HTTPS_PROXY",
    "HOME",
    "LD_PRELOAD",
];

#[tokio::test(flavor = "multi_thread")]
async fn local_runs_never_take_the_live_functions_variables() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let module = planted_module(&project);
    plant_variables(&emulator, &module).await;
    let ran = project.path("planted/ran.json");

    // A handler that answers with its environment, under a handler string of its own.
    project.write(
        "lambda/dist/envdump.js",
        "exports.handler = async () => ({ statusCode: 200, headers: { \"Content-Type\": \"application/json\", \
         \"Access-Control-Allow-Origin\": \"*\" }, body: JSON.stringify(process.env) });\n",
    );
    let stack = project.read("stack.toml");
    project.write(
        "stack.toml",
        &stack.replace(
            "handler = \"handler.handler\"",
            "handler = \"envdump.handler\"",
        ),
    );
    project.write(
        "event.json",
        r#"{"requestContext": {"http": {"method": "GET"}}}"#,
    );
    let run = project.stackctl(&["invoke", "--local", "event.json", "--output", "json"]);
    run.ok();
    assert!(!ran.exists(), "the live function's NODE_OPTIONS ran code");
    let env = &run.json()["response"]["body"];
    for name in PLANTED {
        let value = env[name].as_str().unwrap_or_default();
        assert!(
            !value.contains("nonexistent")
                && !value.contains("127.0.0.1:9")
                && !value.contains("planted")
                && !value.contains("from-the-live-function"),
            "{name}={value} reached the handler"
        );
    }
    assert!(env.get("FOREIGN_SECRET").is_none(), "{env}");
    assert!(env.get("NODE_OPTIONS").is_none(), "{env}");
    // What stack.toml declares (placeholders resolved) and what Lambda sets are there.
    assert_eq!(env["TABLE_NAME"], TABLE);
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], FUNCTION);
    // The variables left out are named (never their values).
    assert!(
        run.stderr
            .contains("--local passes only the variables stack.toml declares")
            && run.stderr.contains("`FOREIGN_SECRET`")
            && run.stderr.contains("`NODE_OPTIONS`")
            && !run.stderr.contains("from-the-live-function"),
        "{}",
        run.stderr
    );

    // smoke --local with the tutorial's handler: every step passes (a planted DynamoDB endpoint or proxy
    // would fail them), and nothing planted ran.
    project.write("stack.toml", &stack);
    let run = project.stackctl(&["smoke", "--local"]);
    run.ok();
    assert!(!ran.exists(), "the live function's NODE_OPTIONS ran code");
}

/// Credential-bearing variables a developer's shell or a CI job may hold, each with a value of its own.
const CREDENTIAL_VARIABLES: [&str; 22] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_SSO_SESSION",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "GITHUB_TOKEN",
    "CI_JOB_JWT",
    "CI_JOB_JWT_V2",
    "CI_JOB_TOKEN",
    "SOME_OTHER_SECRET",
];

#[tokio::test(flavor = "multi_thread")]
async fn the_build_runs_with_no_credential_variables() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // A build script that writes the environment npm gives it.
    let mut package: serde_json::Value =
        serde_json::from_str(&project.read("lambda/package.json")).unwrap();
    package["scripts"]["prebuild"] = serde_json::json!(
        "node -e \"require('node:fs').writeFileSync('../build-env.json', JSON.stringify(process.env))\""
    );
    project.write(
        "lambda/package.json",
        &serde_json::to_string_pretty(&package).unwrap(),
    );
    // A real profile and credentials file, so that stackctl itself still finds credentials (from the
    // environment: the access key the harness sets comes first in the chain).
    project.write(
        "aws/config",
        "[profile ci]\nregion = us-east-1\n[sso-session corp]\nsso_region = us-east-1\n",
    );
    project.write(
        "aws/credentials",
        "[ci]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    );
    project.write("aws/token", "planted-web-identity-token");
    let config = project.path("aws/config").display().to_string();
    let credentials = project.path("aws/credentials").display().to_string();
    let token = project.path("aws/token").display().to_string();
    let values: Vec<(&str, String)> = CREDENTIAL_VARIABLES
        .iter()
        .map(|name| {
            let value = match *name {
                "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => "testing".to_string(),
                "AWS_PROFILE" | "AWS_DEFAULT_PROFILE" => "ci".to_string(),
                "AWS_SSO_SESSION" => "corp".to_string(),
                "AWS_CONFIG_FILE" => config.clone(),
                "AWS_SHARED_CREDENTIALS_FILE" => credentials.clone(),
                "AWS_WEB_IDENTITY_TOKEN_FILE" => token.clone(),
                "AWS_CONTAINER_CREDENTIALS_FULL_URI" => "http://127.0.0.1:9/planted".to_string(),
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" => "/planted-relative-uri".to_string(),
                "AWS_ROLE_ARN" => "arn:aws:iam::123456789012:role/planted-role".to_string(),
                other => format!("planted-{}", other.to_lowercase()),
            };
            (*name, value)
        })
        .collect();
    let mut env: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // What npm and the build need is kept.
    env.push(("npm_config_stackctl_kept", "kept"));
    env.push(("LANG", "C.UTF-8"));

    let run = project.stackctl_with(&["plan"], &env);
    run.expect_code(2);
    let seen: serde_json::Value =
        serde_json::from_str(&project.read("build-env.json")).expect("the prebuild script ran");
    let seen = seen.as_object().unwrap();
    for (name, value) in &values {
        assert!(seen.get(*name).is_none(), "the build saw {name}");
        if value != "testing" && value != "ci" && value != "corp" {
            assert!(
                seen.values()
                    .all(|v| !v.as_str().unwrap_or_default().contains(value.as_str())),
                "the build saw the value of {name}"
            );
        }
    }
    assert!(
        seen.keys().all(|k| !k.starts_with("AWS_")
            && !k.starts_with("ACTIONS_")
            && !k.starts_with("CI_JOB")),
        "{:?}",
        seen.keys().collect::<Vec<_>>()
    );
    for kept in ["PATH", "HOME", "npm_config_stackctl_kept", "LANG"] {
        assert!(seen.contains_key(kept), "the build did not get {kept}");
    }
}
