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
