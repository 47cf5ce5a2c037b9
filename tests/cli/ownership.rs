//! Ownership where the emulator cannot tell: IAM is global (one role serves every region), a same-named
//! resource the stack did not create is never changed beyond the documented adoption changes, one that
//! another stack or stage tagged is never written, attached to or deleted, and a table whose tags are not
//! found while it is CREATING is still recognised as the stack's.

use serde_json::json;

use crate::support::strict;
use crate::support::*;

async fn role_and_policy_exist(emulator: &Emulator) -> (bool, bool) {
    let aws = emulator.moto_clients().await;
    let role = aws.iam.get_role().role_name(ROLE).send().await.is_ok();
    let policy = aws
        .iam
        .get_policy()
        .policy_arn(policy_arn())
        .send()
        .await
        .is_ok();
    (role, policy)
}

/// The same stack file run with `--region us-west-2` finds the us-east-1 deployment's role and policy (IAM
/// is global, the tags are the same): it never changes or deletes them, plan says why and how to fix it,
/// and with region-specific IAM names both regions live side by side and go down independently.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_region_never_takes_over_the_first_regions_iam() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();

    let mark = emulator.mark();
    let plan = project.stackctl(&["plan", "--region", "us-west-2"]);
    assert!(
        plan.stdout
            .contains("role my-frontend-app-lambda-role: blocked"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("owned by this stack's deployment in region `us-east-1`"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("role.name = \"my-frontend-app-lambda-role-us-west-2\""),
        "{}",
        plan.stdout
    );
    let up = project.stackctl(&["up", "--region", "us-west-2"]);
    up.expect_code(1);
    assert!(up.stderr.contains("nothing was changed"), "{}", up.stderr);
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());

    let down = project.stackctl(&["down", "--confirm", "--region", "us-west-2"]);
    down.ok();
    assert_eq!(
        emulator.writes_since(mark),
        Vec::<String>::new(),
        "down in us-west-2 touched the us-east-1 deployment's IAM"
    );
    assert_eq!(role_and_policy_exist(&emulator).await, (true, true));
    project.stackctl(&["status"]).expect_code(0);

    // The fix plan names: a second deployment with its own IAM names.
    let west = Project::new(&emulator);
    west.edit(
        "stack.toml",
        "name = \"my-frontend-app-lambda-role\"",
        "name = \"my-frontend-app-lambda-role-us-west-2\"",
    );
    west.edit(
        "stack.toml",
        "name = \"MyFrontendAppLambdaDynamoDB\"",
        "name = \"MyFrontendAppLambdaDynamoDB-us-west-2\"",
    );
    west.stackctl(&["up", "--region", "us-west-2"]).ok();
    west.stackctl(&["status", "--region", "us-west-2"])
        .expect_code(0);
    project.stackctl(&["status"]).expect_code(0);
    west.stackctl(&["down", "--confirm", "--region", "us-west-2"])
        .ok();
    project.stackctl(&["status"]).expect_code(0);
    assert_eq!(role_and_policy_exist(&emulator).await, (true, true));
    project.stackctl(&["down", "--confirm"]).ok();
    assert_eq!(role_and_policy_exist(&emulator).await, (false, false));
}

/// A same-named table the stack did not create, with other settings (provisioned, deletion protection on):
/// `up` does not switch it to on-demand nor turn its protection off; it stops before any write and says why.
#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_table_with_other_settings_is_never_updated() {
    use aws_sdk_dynamodb::types::{BillingMode, ProvisionedThroughput};
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let moto = emulator.moto_clients().await;
    create_stack_table(&moto.dynamodb)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(5)
                .build()
                .unwrap(),
        )
        .deletion_protection_enabled(true)
        .send()
        .await
        .unwrap();
    let mark = emulator.mark();
    let plan = project.stackctl(&["plan"]);
    assert!(
        plan.stdout.contains("table my-frontend-app-data: blocked"),
        "{}",
        plan.stdout
    );
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr.contains("not created by this stack"),
        "{}",
        up.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    let table = moto
        .dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.deletion_protection_enabled(), Some(true));
    // Still provisioned (a BillingModeSummary, when there is one, says PROVISIONED).
    assert!(
        table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .is_none_or(|b| b.as_str() == "PROVISIONED"),
        "{table:?}"
    );
    assert_eq!(
        table
            .provisioned_throughput()
            .and_then(|p| p.read_capacity_units()),
        Some(5)
    );
}

/// A same-named managed policy the stack did not create, with another document: `up` writes no new
/// default version (which would also delete its oldest one at five) and says why.
#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_policy_with_another_document_gets_no_new_version() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let moto = emulator.moto_clients().await;
    let document = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::theirs/*"}]});
    moto.iam
        .create_policy()
        .policy_name(POLICY)
        .policy_document(document.to_string())
        .send()
        .await
        .unwrap();
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr.contains("does not write a new version"),
        "{}",
        up.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    // The foreign policy is at `/` (where it was made): found there, left as it is.
    let versions = moto
        .iam
        .list_policy_versions()
        .policy_arn(legacy_policy_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1);
}

/// `down` after an up killed while the table was CREATING, on an AWS whose ListTagsOfResource answers
/// ResourceNotFound for a CREATING table: the table is still recognised as the stack's (down waits for
/// ACTIVE and reads the tags again) and deleted, not kept as someone else's.
#[tokio::test(flavor = "multi_thread")]
async fn down_recognises_its_creating_table_whose_tags_are_not_found_yet() {
    let config = json!({"table_creating_ms": 3000, "describe_not_found_after_create": false,
                        "tags_not_found_while_creating": true});
    let emulator = Emulator::start_with(strict::merge(strict::realistic(), config), 8);
    let project = Project::new(&emulator);
    // The table stays CREATING (its tags not found) until the test moves the proxy's clock: once down has
    // been told so.
    emulator.strict().freeze_clock();
    let up = project
        .command(&["up"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill the up once the table has been created (CREATING until the clock moves).
    let mut up = up;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !emulator
        .strict()
        .requests()
        .iter()
        .any(|r| r.operation == "CreateTable")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "up never created the table"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    up.kill().unwrap();
    up.wait().unwrap();
    emulator.strict().clear_log();
    let mut down = project
        .command(&["down", "--confirm"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while emulator
        .strict()
        .injected_by("ListTagsOfResource", "ResourceNotFoundException")
        == 0
    {
        if let Some(status) = down.try_wait().unwrap() {
            let out = Run::from(down.wait_with_output().unwrap());
            panic!(
                "down ended ({status}) without the tags 'not found': the test proves nothing\n{}\n{}",
                out.stdout, out.stderr
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "down never read the tags"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    emulator.strict().advance_clock(3000);
    emulator.strict().thaw_clock();
    let down = Run::from(down.wait_with_output().unwrap());
    down.ok();
    assert_eq!(
        leftovers(&emulator).await,
        Vec::<String>::new(),
        "down kept some of its own:\n{}",
        down.stdout
    );
}

/// Who a foreign resource's tags name: another stack (with our stage), or another stage of this stack.
#[derive(Clone, Copy, Debug)]
enum Foreign {
    OtherStack,
    OtherStage,
}

impl Foreign {
    fn tags(self, stage: &str) -> Vec<(&'static str, String)> {
        match self {
            Foreign::OtherStack => vec![
                ("stackctl:stack", "someone-else".to_string()),
                ("stackctl:stage", stage.to_string()),
            ],
            Foreign::OtherStage => vec![
                ("stackctl:stack", "my-frontend-app".to_string()),
                ("stackctl:stage", "pr-9".to_string()),
            ],
        }
    }

    /// How plan names the owner.
    fn owner(self) -> &'static str {
        match self {
            Foreign::OtherStack => "owned by stack `someone-else`",
            Foreign::OtherStage => "owned by stage `pr-9` of this stack",
        }
    }
}

/// The kinds of resource a stack has, each made foreign in its own stage.
const FOREIGN_KINDS: [&str; 6] = [
    "table",
    "role",
    "policy",
    "function",
    "log_group",
    "function_url",
];

const OTHER_DOCUMENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

/// Creates, straight in moto, the resource of `kind` that stage `stage` of the stack would use, tagged by
/// someone else. Returns the name plan shows.
async fn create_foreign(aws: &Clients, kind: &str, stage: &str, owner: Foreign) -> String {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{FunctionCode, FunctionUrlAuthType, Runtime};
    let tags = owner.tags(stage);
    let iam_tags: Vec<aws_sdk_iam::types::Tag> = tags
        .iter()
        .map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(*k)
                .value(v)
                .build()
                .unwrap()
        })
        .collect();
    let map: std::collections::HashMap<String, String> = tags
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let function = format!("{FUNCTION}-{stage}");
    match kind {
        "table" => {
            let name = format!("{TABLE}-{stage}");
            let mut request = create_stack_table(&aws.dynamodb)
                .table_name(&name)
                .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest);
            for (k, v) in &tags {
                request = request.tags(
                    aws_sdk_dynamodb::types::Tag::builder()
                        .key(*k)
                        .value(v)
                        .build()
                        .unwrap(),
                );
            }
            request.send().await.unwrap();
            name
        }
        "role" => {
            let name = format!("{ROLE}-{stage}");
            aws.iam
                .create_role()
                .role_name(&name)
                .assume_role_policy_document(TRUST_POLICY)
                .set_tags(Some(iam_tags))
                .send()
                .await
                .unwrap();
            name
        }
        "policy" => {
            let name = format!("{POLICY}-{stage}");
            aws.iam
                .create_policy()
                .policy_name(&name)
                .policy_document(OTHER_DOCUMENT)
                .set_tags(Some(iam_tags))
                .send()
                .await
                .unwrap();
            name
        }
        "function" | "function_url" => {
            let role = aws
                .iam
                .create_role()
                .role_name(format!("their-role-{stage}"))
                .assume_role_policy_document(TRUST_POLICY)
                .send()
                .await
                .unwrap();
            aws.lambda
                .create_function()
                .function_name(&function)
                .role(role.role().unwrap().arn())
                .runtime(Runtime::Nodejs24x)
                .handler("index.handler")
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(tiny_zip("exports.handler = async () => 1;")))
                        .build(),
                )
                .set_tags(Some(map))
                .send()
                .await
                .unwrap();
            if kind == "function_url" {
                aws.lambda
                    .create_function_url_config()
                    .function_name(&function)
                    .auth_type(FunctionUrlAuthType::AwsIam)
                    .send()
                    .await
                    .unwrap();
            }
            function
        }
        "log_group" => {
            let name = format!("/aws/lambda/{function}");
            aws.logs
                .create_log_group()
                .log_group_name(&name)
                .set_tags(Some(map))
                .send()
                .await
                .unwrap();
            name
        }
        other => panic!("no such kind {other}"),
    }
}

/// Whether the foreign resource is still there, as it was made (for the URL: still auth AWS_IAM).
async fn foreign_intact(aws: &Clients, kind: &str, name: &str) -> bool {
    match kind {
        "table" => aws
            .dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .is_ok(),
        "role" => aws.iam.get_role().role_name(name).send().await.is_ok(),
        "policy" => aws
            .iam
            .list_policy_versions()
            .policy_arn(format!("arn:aws:iam::{ACCOUNT}:policy/{name}"))
            .send()
            .await
            .is_ok_and(|v| v.versions().len() == 1),
        "function" => aws
            .lambda
            .get_function()
            .function_name(name)
            .send()
            .await
            .is_ok_and(|f| {
                f.configuration()
                    .and_then(|c| c.role())
                    .is_some_and(|r| r.contains("their-role-"))
            }),
        "function_url" => aws
            .lambda
            .get_function_url_config()
            .function_name(name)
            .send()
            .await
            .is_ok_and(|u| u.auth_type().as_str() == "AWS_IAM"),
        "log_group" => aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .is_ok_and(|g| {
                g.log_groups()
                    .iter()
                    .any(|g| g.log_group_name() == Some(name))
            }),
        other => panic!("no such kind {other}"),
    }
}

/// For every kind, in a stage of its own: the resource that stage would use exists, tagged by `owner`.
/// `plan` names it blocked with its owner and the fix, `up` refuses before any write, and `down --confirm`
/// leaves it as it was.
async fn another_deployments_resource_is_never_taken_over(owner: Foreign) {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // A URL in the file, so that the function URL is one of the stack's resources.
    let text =
        project.read("stack.toml") + "\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n";
    project.write("stack.toml", &text);
    let aws = emulator.moto_clients().await;
    for (i, kind) in FOREIGN_KINDS.iter().enumerate() {
        let stage = format!("c{i}");
        let name = create_foreign(&aws, kind, &stage, owner).await;
        let mark = emulator.mark();
        let plan = project.stackctl(&["--stage", &stage, "plan"]);
        plan.expect_code(2);
        let shown = if *kind == "function_url" {
            format!("function_url {name}: blocked")
        } else {
            format!("{kind} {name}: blocked")
        };
        assert!(plan.stdout.contains(&shown), "{kind}: {}", plan.stdout);
        assert!(
            plan.stdout.contains(owner.owner()),
            "{kind}: {}",
            plan.stdout
        );
        let field = match *kind {
            "log_group" | "function_url" => "function.name",
            "table" => "table.name",
            "role" => "role.name",
            "policy" => "policy.name",
            _ => "function.name",
        };
        assert!(
            plan.stdout.contains(&format!("`{field}`")),
            "{kind}: no fix named: {}",
            plan.stdout
        );
        let up = project.stackctl(&["--stage", &stage, "up"]);
        up.expect_code(1);
        assert!(
            up.stderr.contains("nothing was changed"),
            "{kind}: {}",
            up.stderr
        );
        assert!(up.stderr.contains(owner.owner()), "{kind}: {}", up.stderr);
        assert_eq!(emulator.writes_since(mark), Vec::<String>::new(), "{kind}");
        project
            .stackctl(&["--stage", &stage, "down", "--confirm"])
            .ok();
        assert_eq!(
            emulator.writes_since(mark),
            Vec::<String>::new(),
            "{kind}: down wrote"
        );
        assert!(
            foreign_intact(&aws, kind, &name).await,
            "{kind} {name} was changed"
        );
    }
}

/// Deploying a stage over resources of the same names that another stack made: nothing of theirs is
/// adopted, attached to, rewritten or deleted.
#[tokio::test(flavor = "multi_thread")]
async fn another_stacks_resource_is_never_taken_over() {
    another_deployments_resource_is_never_taken_over(Foreign::OtherStack).await;
}

/// The same with another stage of this very stack (`pr-9`'s resources, found under this stage's names).
#[tokio::test(flavor = "multi_thread")]
async fn another_stages_resource_is_never_taken_over() {
    another_deployments_resource_is_never_taken_over(Foreign::OtherStage).await;
}

/// A role and policy tagged with the stack but with no `stackctl:region` (made before regions were
/// recorded) whose role IAM says was last used in us-west-2, where a function of the stack may run on
/// it: us-east-1 neither claims, changes nor deletes them (plan names the region and the fix); run from
/// us-west-2, stackctl claims them and records that region.
#[tokio::test(flavor = "multi_thread")]
async fn an_untagged_region_role_used_in_another_region_is_not_claimed() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let moto = emulator.moto_clients().await;
    remove_region_tags(&moto.iam).await;
    // Last used here: this region's, claimed as before (the region tag is put back).
    emulator
        .strict()
        .set(json!({"role_last_used_region": {ROLE: "us-east-1"}}));
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(!plan.stdout.contains("blocked"), "{}", plan.stdout);

    emulator
        .strict()
        .set(json!({"role_last_used_region": {ROLE: "us-west-2"}}));
    let mark = emulator.mark();
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    for kind in [format!("role {ROLE}"), format!("policy {POLICY}")] {
        assert!(
            plan.stdout.contains(&format!("{kind}: blocked")),
            "{kind}: {}",
            plan.stdout
        );
    }
    assert!(
        plan.stdout.contains("was last used in region `us-west-2`")
            && plan.stdout.contains("`--region us-west-2`")
            && plan
                .stdout
                .contains("role.name = \"my-frontend-app-lambda-role-us-east-1\""),
        "{}",
        plan.stdout
    );
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(up.stderr.contains("nothing was changed"), "{}", up.stderr);
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());

    let mark = emulator.mark();
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    let writes = emulator.writes_since(mark);
    assert!(
        !writes
            .iter()
            .any(|w| w.contains("Role") || w.contains("Policy") || w.contains("Tag")),
        "down in us-east-1 touched the role or policy us-west-2 uses: {writes:?}"
    );
    assert_eq!(role_and_policy_exist(&emulator).await, (true, true));

    // From us-west-2 they are claimed: that region's tag goes on, and us-east-1 then sees them as its.
    let west = project.stackctl(&["plan", "--region", "us-west-2"]);
    west.expect_code(2);
    assert!(!west.stdout.contains("blocked"), "{}", west.stdout);
}

/// A policy tagged with the stack but with no `stackctl:region`, attached to a role that another region's
/// deployment tagged (`stackctl:region = us-west-2`) and that IAM never saw used (no RoleLastUsed): the
/// role's tag says where the policy is used as surely as RoleLastUsed would, so us-east-1 neither claims
/// nor deletes the policy (down would detach it from us-west-2's role, whose function then loses access).
#[tokio::test(flavor = "multi_thread")]
async fn an_untagged_region_policy_on_another_regions_role_is_not_claimed() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let moto = emulator.moto_clients().await;
    moto.iam
        .tag_role()
        .role_name(ROLE)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("stackctl:region")
                .value("us-west-2")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    moto.iam
        .untag_policy()
        .policy_arn(policy_arn())
        .tag_keys("stackctl:region")
        .send()
        .await
        .unwrap();
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains(&format!("policy {POLICY}: blocked"))
            && plan.stdout.contains("`us-west-2`"),
        "{}",
        plan.stdout
    );
    let mark = emulator.mark();
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    let writes = emulator.writes_since(mark);
    assert!(
        !writes
            .iter()
            .any(|w| w.contains("Role") || w.contains("Policy")),
        "down in us-east-1 touched the role or the policy us-west-2's role uses: {writes:?}"
    );
    assert_eq!(role_and_policy_exist(&emulator).await, (true, true));
}

/// The stack's policy, also attached to another stack's role (its `role.managed_policy_arns` names our
/// policy's ARN): deleting the policy would detach it from their role (DeletePolicy needs every attachment
/// gone), a write to another deployment's resource that leaves their function without its permissions.
/// `down` names that role and its owner and deletes nothing; their role keeps the policy.
#[tokio::test(flavor = "multi_thread")]
async fn down_never_detaches_its_policy_from_another_stacks_role() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let moto = emulator.moto_clients().await;
    moto.iam
        .create_role()
        .role_name("their-role")
        .assume_role_policy_document(TRUST_POLICY)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("stackctl:stack")
                .value("someone-else")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    moto.iam
        .attach_role_policy()
        .role_name("their-role")
        .policy_arn(policy_arn())
        .send()
        .await
        .unwrap();
    let mark = emulator.mark();
    let down = project.stackctl(&["down", "--confirm", "--delete-data"]);
    down.expect_code(1);
    assert!(
        down.stderr.contains("nothing was deleted")
            && down.stderr.contains("`their-role`")
            && down.stderr.contains("`someone-else`"),
        "{}",
        down.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    let attached = moto
        .iam
        .list_attached_role_policies()
        .role_name("their-role")
        .send()
        .await
        .unwrap();
    assert_eq!(attached.attached_policies().len(), 1);
}

/// trust27, item 2: a role with the stack's role name made between up's read and its CreateRole (the proxy
/// holds CreateRole while the test makes it straight on moto, at `/` or at the stack's path: IAM's role names
/// are unique whatever the path) answers EntityAlreadyExists. up reads it
/// (GetRole and its tags) and, as the role is not this stack's and stage's by the read path's rule, stops
/// with exit 1 naming the role, whose it looks like and the fix; nothing is attached to it, put on it,
/// tagged on it or deployed with it.
async fn a_role_made_between_read_and_create_is_never_used(
    path: &str,
    tags: Vec<(&str, &str)>,
    whose: &str,
) {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    emulator
        .strict()
        .set(json!({"hold_operations": ["CreateRole"]}));
    let mark = emulator.mark();
    let child = project
        .command(&["up"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting stackctl");
    emulator.strict().wait_until_held(Some("CreateRole"), 1);
    let moto = emulator.moto_clients().await;
    let tags: Vec<aws_sdk_iam::types::Tag> = tags
        .iter()
        .map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build()
                .unwrap()
        })
        .collect();
    moto.iam
        .create_role()
        .role_name(ROLE)
        .path(path)
        .assume_role_policy_document(TRUST_POLICY)
        .set_tags(Some(tags.clone()))
        .send()
        .await
        .unwrap();
    emulator.strict().set(json!({"hold_operations": null}));
    let run = Run::from(child.wait_with_output().expect("waiting for stackctl"));
    run.expect_code(1);
    for part in [
        &format!("creating IAM role `{ROLE}`: a role with this name appeared since this run read"),
        whose,
        "`role.name`",
        "Nothing was attached to it, put on it or deployed with it",
    ] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }
    let writes = emulator.writes_since(mark);
    for touch in [
        "AttachRolePolicy",
        "PutRolePolicy",
        "UpdateAssumeRolePolicy",
        "TagRole",
        "CreateFunction",
    ] {
        assert!(!writes.iter().any(|w| w == touch), "{touch}: {writes:?}");
    }
    let role = moto.iam.get_role().role_name(ROLE).send().await.unwrap();
    let role = role.role().unwrap();
    assert_eq!(role.tags().len(), tags.len(), "{:?}", role.tags());
    let attached = moto
        .iam
        .list_attached_role_policies()
        .role_name(ROLE)
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty());
    let inline = moto
        .iam
        .list_role_policies()
        .role_name(ROLE)
        .send()
        .await
        .unwrap();
    assert!(inline.policy_names().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untagged_role_made_between_read_and_create_is_never_used() {
    a_role_made_between_read_and_create_is_never_used("/", Vec::new(), "it is untagged").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_stacks_role_made_between_read_and_create_is_never_used() {
    a_role_made_between_read_and_create_is_never_used(
        IAM_PATH,
        vec![("stackctl:stack", "someone-else")],
        "owned by stack `someone-else`",
    )
    .await;
}

/// trust27, item 2 (the policy's branch, now sharing the role's rule): another stack's policy made at the
/// stack's policy ARN between up's read and its CreatePolicy is neither written (no CreatePolicyVersion) nor
/// attached; exit 1 naming it and its owner.
#[tokio::test(flavor = "multi_thread")]
async fn another_stacks_policy_made_between_read_and_create_is_never_used() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    emulator
        .strict()
        .set(json!({"hold_operations": ["CreatePolicy"]}));
    let mark = emulator.mark();
    let child = project
        .command(&["up"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting stackctl");
    emulator.strict().wait_until_held(Some("CreatePolicy"), 1);
    let moto = emulator.moto_clients().await;
    moto.iam
        .create_policy()
        .policy_name(POLICY)
        .path(IAM_PATH)
        .policy_document(OTHER_DOCUMENT)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("stackctl:stack")
                .value("someone-else")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    emulator.strict().set(json!({"hold_operations": null}));
    let run = Run::from(child.wait_with_output().expect("waiting for stackctl"));
    run.expect_code(1);
    for part in [
        &format!(
            "creating IAM policy `{POLICY}`: a policy appeared at `{}`",
            policy_arn()
        ),
        "owned by stack `someone-else`",
        "It was not written nor attached",
    ] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }
    let writes = emulator.writes_since(mark);
    assert!(
        !writes
            .iter()
            .any(|w| w == "CreatePolicyVersion" || w == "TagPolicy"),
        "{writes:?}"
    );
    let holders = moto
        .iam
        .list_entities_for_policy()
        .policy_arn(policy_arn())
        .send()
        .await
        .unwrap();
    assert!(holders.policy_roles().is_empty(), "{holders:?}");
    let versions = moto
        .iam
        .list_policy_versions()
        .policy_arn(policy_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1);
}

/// fixb27, item 2: an untagged role of the stack's name (adopted, DESIGN.md) whose trust policy also lets a
/// user assume it: `up` is blocked before any write, naming the role, the extra principal and the fix, and
/// the role's trust policy is left as it is (adoption never rewrites it).
#[tokio::test(flavor = "multi_thread")]
async fn an_adopted_role_that_trusts_more_than_lambda_gets_nothing_attached() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let mallory = "arn:aws:iam::123456789012:user/mallory";
    let trust = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": mallory}, "Action": "sts:AssumeRole"}
    ]})
    .to_string();
    let moto = emulator.moto_clients().await;
    moto.iam
        .create_role()
        .role_name(ROLE)
        .assume_role_policy_document(&trust)
        .send()
        .await
        .unwrap();
    let mark = emulator.mark();
    let run = project.stackctl(&["up"]);
    run.expect_code(1);
    for part in [
        ROLE,
        mallory,
        "Remove them from the role's trust policy",
        "`role.name`",
    ] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }
    let writes = emulator.writes_since(mark);
    assert!(writes.is_empty(), "{writes:?}");
    let attached = moto
        .iam
        .list_attached_role_policies()
        .role_name(ROLE)
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty());
    let role = moto.iam.get_role().role_name(ROLE).send().await.unwrap();
    let live = role.role().unwrap().assume_role_policy_document().unwrap();
    let live = percent_encoding::percent_decode_str(live)
        .decode_utf8()
        .unwrap();
    let live: serde_json::Value = serde_json::from_str(&live).unwrap();
    assert_eq!(
        live,
        serde_json::from_str::<serde_json::Value>(&trust).unwrap()
    );
}
