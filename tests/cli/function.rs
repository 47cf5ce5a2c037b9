//! The Lambda function where real AWS is stricter than moto: tags hidden from GetFunction, a function whose
//! creation failed, Lambda's size limits, and the architecture (which goes with the code).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, Runtime, State};
use serde_json::json;

use crate::support::*;

async fn function_exists(emulator: &Emulator) -> bool {
    let aws = emulator.moto_clients().await;
    aws.lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .is_ok()
}

/// A role someone else made, straight in moto (no propagation delay), for functions the tests make.
async fn someone_elses_role(emulator: &Emulator) -> String {
    let aws = emulator.moto_clients().await;
    aws.iam
        .create_role()
        .role_name("someone-elses-role")
        .assume_role_policy_document(TRUST_POLICY)
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string()
}

/// A function stackctl did not create (no `stackctl:stack` tag), made through `clients`.
async fn adopted_function(clients: &Clients, role: &str, variables: &[(&str, &str)]) {
    clients
        .lambda
        .create_function()
        .function_name(FUNCTION)
        .role(role)
        .runtime(Runtime::Nodejs24x)
        .handler("index.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(tiny_zip("exports.handler = async () => 1;")))
                .build(),
        )
        .environment(
            Environment::builder()
                .set_variables(Some(
                    variables
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<HashMap<_, _>>(),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// The function's State as stackctl sees it (through the strict proxy), once it is no longer Pending.
async fn settled_state(emulator: &Emulator) -> (String, Option<String>) {
    let aws = emulator.clients().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = aws
            .lambda
            .get_function_configuration()
            .function_name(FUNCTION)
            .send()
            .await
            .unwrap();
        let state = c.state().map_or("Active", State::as_str).to_string();
        if state != "Pending" || Instant::now() > deadline {
            return (state, c.state_reason().map(str::to_string));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// GetFunction leaves Tags out for a caller without `lambda:ListTags` (TagsError instead): stackctl asks
/// ListTags, so down still knows the function is the stack's and deletes it.
#[tokio::test(flavor = "multi_thread")]
async fn hidden_tags_are_read_with_list_tags_so_down_still_deletes_the_owned_function() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    emulator.strict().set(json!({"function_tags_error": true}));
    let mark = emulator.mark();
    project.stackctl(&["down", "--confirm"]).ok();
    assert!(
        emulator
            .requests_since(mark)
            .iter()
            .any(|r| r.operation == "ListTags"),
        "GetFunction hid the tags, but stackctl never asked ListTags"
    );
    assert!(
        !function_exists(&emulator).await,
        "down left the stack's function behind: it read hidden tags as \"not ours\""
    );
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
}

/// With ListTags denied too, ownership is unknown: down is an error naming the denial and writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_denied_list_tags_is_an_error_and_down_writes_nothing() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    emulator
        .strict()
        .set(json!({"function_tags_error": true, "deny_operations": ["ListTags"]}));
    let mark = emulator.mark();
    let down = project.stackctl(&["down", "--confirm"]);
    down.expect_code(1);
    assert!(
        down.stderr
            .contains("not authorized to perform: lambda:ListTags")
            && down.stderr.contains("allow `lambda:ListTags`"),
        "{}",
        down.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert_eq!(emulator.strict().injected_count("AccessDenied"), 1);
    assert!(function_exists(&emulator).await);
    // plan and status cannot tell ownership either: an error, not a guess.
    project.stackctl(&["status"]).expect_code(1);
}

/// A function whose creation failed (State Failed) is not repaired by updates: the next up deletes it,
/// waits until it is gone and creates it again, and plan says so first.
#[tokio::test(flavor = "multi_thread")]
async fn a_function_whose_creation_failed_is_recreated_by_the_next_up() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    emulator.strict().set(json!({"fail_next_create": {
        "function": FUNCTION, "reason": "The subnet has no free IP addresses", "reason_code": "SubnetOutOfIPAddresses"}}));
    let first = project.stackctl(&["up"]);
    first.expect_code(1);
    assert!(
        first.stderr.contains("The subnet has no free IP addresses"),
        "{}",
        first.stderr
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("~ state: Failed -> recreate (delete + create)")
            && plan.stdout.contains(
                "= state_reason: SubnetOutOfIPAddresses: The subnet has no free IP addresses"
            ),
        "{}",
        plan.stdout
    );
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.ok();
    assert!(up.stdout.contains("recreated"), "{}", up.stdout);
    assert_eq!(
        emulator.writes_since(mark),
        vec!["DeleteFunction", "CreateFunction"]
    );
    assert_eq!(settled_state(&emulator).await.0, "Active");
    project.stackctl(&["status"]).expect_code(0);
}

/// A Failed function the stack did not create is never deleted: up stops before any write, saying why.
#[tokio::test(flavor = "multi_thread")]
async fn an_adopted_function_whose_creation_failed_blocks_up_before_any_write() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let role = someone_elses_role(&emulator).await;
    emulator.strict().set(json!({"fail_next_create": {
        "function": FUNCTION, "reason": "The KMS key is disabled", "reason_code": "KMSKeyDisabled"}}));
    adopted_function(&emulator.clients().await, &role, &[]).await;
    assert_eq!(settled_state(&emulator).await.0, "Failed");
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr.contains("nothing was changed")
            && up
                .stderr
                .contains("KMSKeyDisabled: The KMS key is disabled")
            && up.stderr.contains("delete-function"),
        "{}",
        up.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert!(function_exists(&emulator).await);
}

/// Lambda's 4 KB covers every variable, those someone else set (which stackctl keeps) included: checked
/// against the live function before the first write.
#[tokio::test(flavor = "multi_thread")]
async fn variables_kept_on_an_adopted_function_count_toward_the_4_kb_limit() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let role = someone_elses_role(&emulator).await;
    // TABLE_NAME (10 + 20 bytes) from the stack file, CERT (4 + 4063) kept from the live function: 4097.
    let big = "x".repeat(4063);
    adopted_function(&emulator.moto_clients().await, &role, &[("CERT", &big)]).await;
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr.contains(
            "would total 4097 bytes (keys and values), over Lambda's limit of 4096 bytes"
        ) && up
            .stderr
            .contains("30 from the stack file and 4067 from variables set outside it (`CERT`)"),
        "{}",
        up.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
}

/// A package over 262,144,000 bytes unzipped is refused before any write, naming the size and the limit.
#[tokio::test(flavor = "multi_thread")]
async fn a_package_over_the_unzipped_limit_fails_before_any_write() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // A sparse file: no disk space, and stackctl never reads it.
    project.edit(
        "stack.toml",
        "build = \"npm run build\"",
        "build = \"npm run build && truncate -s 262144001 dist/big.bin\"",
    );
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr
            .contains("over Lambda's limit of 262144000 bytes for a deployment package unzipped"),
        "{}",
        up.stderr
    );
    assert!(
        up.stderr.contains("`big.bin`, 262144001 bytes"),
        "{}",
        up.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
}

/// `function.architecture`: sent on create, shown as a field diff, and changed with the code (Lambda takes
/// Architectures in UpdateFunctionCode, not in UpdateFunctionConfiguration).
#[tokio::test(flavor = "multi_thread")]
async fn the_architecture_is_created_shown_and_changed_with_the_code() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\narchitecture = \"arm64\"\n",
    );
    let plan = project.stackctl(&["plan"]);
    assert!(
        plan.stdout.contains("+ architecture: arm64"),
        "{}",
        plan.stdout
    );
    project.stackctl(&["up"]).ok();
    let architecture = || async {
        let aws = emulator.clients().await;
        let c = aws
            .lambda
            .get_function_configuration()
            .function_name(FUNCTION)
            .send()
            .await
            .unwrap();
        c.architectures().to_vec()
    };
    assert_eq!(architecture().await, vec![Architecture::Arm64]);

    project.edit("stack.toml", "architecture = \"arm64\"\n", "");
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains("~ architecture: arm64 -> x86_64"),
        "{}",
        plan.stdout
    );
    let status = project.stackctl(&["status"]);
    status.expect_code(2);
    assert!(
        status.stdout.contains("architecture: arm64"),
        "{}",
        status.stdout
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), vec!["UpdateFunctionCode"]);
    assert_eq!(architecture().await, vec![Architecture::X8664]);
    project.stackctl(&["status"]).expect_code(0);
}

/// A zip holding native addons (`.node`) gets a warning: they must be built for Linux on the function's
/// architecture.
#[tokio::test(flavor = "multi_thread")]
async fn native_modules_in_the_package_get_a_warning_naming_the_architecture() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "build = \"npm run build\"",
        "build = \"npm run build && mkdir -p dist/node_modules/addon && printf x > dist/node_modules/addon/addon.node\"\narchitecture = \"arm64\"",
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stderr.contains(
            "warning: the package holds native Node.js modules (node_modules/addon/addon.node): they must be built for Linux on arm64"
        ),
        "{}",
        plan.stderr
    );
    // The unchanged build comes from the cache: still warned.
    let again = project.stackctl(&["plan"]);
    assert!(
        again.stderr.contains("native Node.js modules"),
        "{}",
        again.stderr
    );
}

/// The reserved concurrency (GetFunction's `Concurrency`), through moto.
async fn reserved(emulator: &Emulator) -> Option<i32> {
    let aws = emulator.moto_clients().await;
    aws.lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap()
        .concurrency()
        .and_then(|c| c.reserved_concurrent_executions())
}

fn reserve(project: &Project, n: i32) {
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        &format!("timeout_secs = 10\nreserved_concurrency = {n}\n"),
    );
}

/// Reserved concurrency comes out of the account's pool, which keeps at least 100 unreserved (or all of
/// a smaller limit): a reservation past that is blocked by plan and up before any write, with the pool
/// before and after; one that fits is shown the same way and made.
#[tokio::test(flavor = "multi_thread")]
async fn a_reservation_the_account_pool_cannot_give_is_blocked_before_any_write() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // A new account: 10 in all, so none to reserve.
    emulator
        .strict()
        .set(json!({"lambda_account_concurrency": 10}));
    reserve(&project, 5);
    let mark = emulator.mark();
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains(
            "account_unreserved_concurrency: 10 of 10 in us-east-1 -> 5 (Lambda keeps at least 10 unreserved)"
        ) && plan.stdout.contains("below Lambda's minimum of 10"),
        "{}",
        plan.stdout
    );
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr.contains("nothing was changed")
            && up.stderr.contains("reserving 5 would leave")
            && up.stderr.contains("remove `function.reserved_concurrency`"),
        "{}",
        up.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert!(!function_exists(&emulator).await);

    // 160 in all, 40 reserved by another function: 20 fit (120 - 20 = 100), 21 do not.
    emulator
        .strict()
        .set(json!({"lambda_account_concurrency": 160}));
    let role = someone_elses_role(&emulator).await;
    let moto = emulator.moto_clients().await;
    moto.lambda
        .create_function()
        .function_name("another-app")
        .role(&role)
        .runtime(Runtime::Nodejs24x)
        .handler("index.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(tiny_zip("exports.handler = async () => 1;")))
                .build(),
        )
        .send()
        .await
        .unwrap();
    moto.lambda
        .put_function_concurrency()
        .function_name("another-app")
        .reserved_concurrent_executions(40)
        .send()
        .await
        .unwrap();
    project.edit(
        "stack.toml",
        "reserved_concurrency = 5",
        "reserved_concurrency = 21",
    );
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr.contains("at 99, below Lambda's minimum of 100")
            && up.stderr.contains("reserve at most 20"),
        "{}",
        up.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());

    project.edit(
        "stack.toml",
        "reserved_concurrency = 21",
        "reserved_concurrency = 20",
    );
    let plan = project.stackctl(&["plan"]);
    assert!(
        plan.stdout.contains(
            "account_unreserved_concurrency: 120 of 160 in us-east-1 -> 100 (Lambda keeps at least 100 unreserved)"
        ),
        "{}",
        plan.stdout
    );
    project.stackctl(&["up"]).ok();
    assert_eq!(reserved(&emulator).await, Some(20));
    // In sync: the pool is not read again (the reservation does not grow).
    let mark = emulator.mark();
    project.stackctl(&["plan"]).expect_code(0);
    assert!(
        !emulator
            .requests_since(mark)
            .iter()
            .any(|r| r.operation == "GetAccountSettings"),
        "the pool was read for a reservation that does not grow"
    );
}

/// A reservation stackctl makes on a function it did not create is marked, and down gives it back to the
/// account's pool (DeleteFunctionConcurrency) while the function stays; someone else's is never removed.
#[tokio::test(flavor = "multi_thread")]
async fn a_reservation_made_on_an_adopted_function_is_removed_by_down() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let role = someone_elses_role(&emulator).await;
    adopted_function(&emulator.moto_clients().await, &role, &[]).await;
    reserve(&project, 5);
    project.stackctl(&["up"]).ok();
    assert_eq!(reserved(&emulator).await, Some(5));
    let aws = emulator.moto_clients().await;
    let tags = || async {
        aws.lambda
            .get_function()
            .function_name(FUNCTION)
            .send()
            .await
            .unwrap()
            .tags()
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        tags().await.get("stackctl:concurrency").map(String::as_str),
        Some("my-frontend-app")
    );
    let preview = project.stackctl(&["down"]);
    assert!(
        preview.stdout.contains("- reserved_concurrency: 5"),
        "{}",
        preview.stdout
    );
    let mark = emulator.mark();
    project.stackctl(&["down", "--confirm"]).ok();
    assert!(
        function_exists(&emulator).await,
        "the adopted function stays"
    );
    assert_eq!(reserved(&emulator).await, None);
    assert!(!tags().await.contains_key("stackctl:concurrency"));
    let writes = emulator.writes_since(mark);
    assert!(
        writes.contains(&"DeleteFunctionConcurrency".to_string())
            && !writes.contains(&"DeleteFunction".to_string()),
        "{writes:?}"
    );

    // Someone else's reservation on it is theirs: up changes it (the file asks for 5), down puts theirs back.
    aws.lambda
        .put_function_concurrency()
        .function_name(FUNCTION)
        .reserved_concurrent_executions(7)
        .send()
        .await
        .unwrap();
    project.stackctl(&["up"]).ok();
    project.stackctl(&["down", "--confirm"]).ok();
    assert_eq!(
        reserved(&emulator).await,
        Some(7),
        "changed by up, given back as it was by down"
    );
}

/// GetAccountSettings denied: a growing reservation is an error naming the permission (never a skipped
/// check), with nothing written; a reservation that shrinks needs no pool and goes through.
#[tokio::test(flavor = "multi_thread")]
async fn a_denied_pool_read_is_an_error_naming_the_permission_and_a_decrease_needs_none() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    reserve(&project, 5);
    project.stackctl(&["up"]).ok();
    emulator
        .strict()
        .set(json!({"deny_operations": ["GetAccountSettings"]}));
    project.edit(
        "stack.toml",
        "reserved_concurrency = 5",
        "reserved_concurrency = 6",
    );
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr.contains("`lambda:GetAccountSettings`"),
        "{}",
        up.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert_eq!(reserved(&emulator).await, Some(5));

    project.edit(
        "stack.toml",
        "reserved_concurrency = 6",
        "reserved_concurrency = 4",
    );
    project.stackctl(&["up"]).ok();
    assert_eq!(reserved(&emulator).await, Some(4));
}

/// A reservation someone else set on an adopted function and up changed is given back as it was by down
/// (and by an up without the key): the owner's cap and the account's pool are what they were.
#[tokio::test(flavor = "multi_thread")]
async fn a_reservation_up_changed_on_an_adopted_function_is_restored_by_down() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let role = someone_elses_role(&emulator).await;
    let aws = emulator.moto_clients().await;
    adopted_function(&aws, &role, &[]).await;
    aws.lambda
        .put_function_concurrency()
        .function_name(FUNCTION)
        .reserved_concurrent_executions(7)
        .send()
        .await
        .unwrap();
    reserve(&project, 9);
    project.stackctl(&["up"]).ok();
    assert_eq!(reserved(&emulator).await, Some(9));

    let preview = project.stackctl(&["down"]);
    assert!(
        preview.stdout.contains("reserved_concurrency: 9 -> 7"),
        "{}",
        preview.stdout
    );
    project.stackctl(&["down", "--confirm"]).ok();
    assert!(function_exists(&emulator).await);
    assert_eq!(
        reserved(&emulator).await,
        Some(7),
        "down left the reservation up set on someone else's function"
    );
    let tags = aws
        .lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap()
        .tags()
        .cloned()
        .unwrap_or_default();
    assert!(!tags.keys().any(|k| k.starts_with("stackctl:")), "{tags:?}");
    // Their function keeps their reservation and nothing of the stack's; the stack's log group and role stay
    // while the function that uses them does (README: down).
    assert_eq!(
        leftovers(&emulator).await,
        vec![
            format!("function {FUNCTION}"),
            format!("function {FUNCTION} reserved_concurrency=7"),
            format!("log_group /aws/lambda/{FUNCTION}"),
            format!("log_group /aws/lambda/{FUNCTION} tag stackctl:stack=my-frontend-app"),
            format!("role {ROLE}"),
            format!("role {ROLE} tag stackctl:region=us-east-1"),
            format!("role {ROLE} tag stackctl:stack=my-frontend-app"),
            "role someone-elses-role".to_string()
        ]
    );

    // The same through an up whose file no longer has the key.
    project.stackctl(&["up"]).ok();
    assert_eq!(reserved(&emulator).await, Some(9));
    project.edit("stack.toml", "reserved_concurrency = 9\n", "");
    project.stackctl(&["up"]).ok();
    assert_eq!(reserved(&emulator).await, Some(7));
}
