//! Stages: two stages side by side in one account, each up and down on its own; `[stages.<name>]`
//! overlays; `down` of a stage that has nothing; `ls` of complete, partial and old stages (the Tagging API
//! as AWS answers it); `stage-name`; missing and expired credentials.

use serde_json::json;

use crate::support::*;

fn staged(name: &str, stage: &str) -> String {
    format!("{name}-{stage}")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stages_live_side_by_side_and_go_down_independently() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // pr-1 and pr-12: names one is a prefix of the other's, as a careless reaper would confuse.
    project.stackctl(&["--stage", "pr-1", "up"]).ok();
    let up = project.stackctl_with(&["up", "--output", "json"], &[("STACKCTL_STAGE", "pr-12")]);
    up.ok();
    assert_eq!(up.json()["stage"], "pr-12");
    let aws = emulator.moto_clients().await;
    for stage in ["pr-1", "pr-12"] {
        let table = staged(TABLE, stage);
        assert!(table_exists(&aws, &table).await, "{table}");
        let tags = table_tags(&aws, &table).await;
        assert_eq!(tags["stackctl:stack"], "my-frontend-app");
        assert_eq!(tags["stackctl:stage"], stage);
        aws.lambda
            .get_function()
            .function_name(staged(FUNCTION, stage))
            .send()
            .await
            .unwrap();
        let role = aws
            .iam
            .get_role()
            .role_name(staged(ROLE, stage))
            .send()
            .await
            .unwrap();
        let role = role.role().unwrap();
        assert!(role
            .tags()
            .iter()
            .any(|t| t.key() == "stackctl:stage" && t.value() == stage));
    }
    // Without a stage, the tutorial's names: nothing of either stage is this stack's.
    assert!(!table_exists(&aws, TABLE).await);

    let down = project.stackctl(&["--stage", "pr-1", "down", "--confirm", "--output", "json"]);
    down.ok();
    let report = down.json();
    assert_eq!(report["stage"], "pr-1");
    assert_eq!(report["found"], 5, "{report:#}");
    assert!(!table_exists(&aws, &staged(TABLE, "pr-1")).await);
    assert!(aws
        .iam
        .get_role()
        .role_name(staged(ROLE, "pr-1"))
        .send()
        .await
        .is_err());
    // pr-12 is untouched and in sync.
    assert!(table_exists(&aws, &staged(TABLE, "pr-12")).await);
    // All that is left is pr-12's: every kind of pr-1 is gone.
    let left = leftovers(&emulator).await;
    assert!(
        left.iter()
            .all(|entry| entry.split(' ').nth(1).unwrap().ends_with("-pr-12")),
        "{left:#?}"
    );
    project.stackctl(&["--stage", "pr-12", "status"]).ok();

    // Again: nothing found, and it says so.
    let again = project.stackctl(&["--stage", "pr-1", "down", "--confirm", "--output", "json"]);
    again.ok();
    assert_eq!(again.json()["found"], 0);
    let text = project.stackctl(&["--stage", "pr-1", "down", "--confirm"]);
    text.ok();
    assert!(
        text.stdout.contains(
            "down: nothing found: stage `pr-1` of stack `my-frontend-app` has no resources in us-east-1"
        ),
        "{}",
        text.stdout
    );
    project
        .stackctl(&["--stage", "pr-12", "down", "--confirm"])
        .ok();
    assert!(!table_exists(&aws, &staged(TABLE, "pr-12")).await);
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn down_of_a_stage_that_was_never_deployed_finds_nothing() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let mark = emulator.mark();
    let run = project.stackctl(&["--stage", "pr-9", "down", "--confirm", "--output", "json"]);
    run.ok();
    let report = run.json();
    assert_eq!(
        (report["found"].clone(), report["stage"].clone()),
        (json!(0), json!("pr-9"))
    );
    assert!(emulator.writes_since(mark).is_empty());
    // The preview of nothing exits 0 too (3 only when there is something to delete).
    project.stackctl(&["--stage", "pr-9", "down"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn overlays_give_a_stage_its_own_settings_over_the_inherited_base() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let text = project.read("stack.toml")
        + "\n[stages.live]\ntable.deletion_protection = true\nfunction.memory_mb = 256\n\n\
           [stages.live.function.environment]\nLOG_LEVEL = \"warn\"\n";
    project.write("stack.toml", &text);
    project.stackctl(&["--stage", "live", "up"]).ok();
    project.stackctl(&["--stage", "dev", "up"]).ok();
    let aws = emulator.moto_clients().await;
    let describe = |stage: &'static str| {
        let aws = &aws;
        async move {
            let table = aws
                .dynamodb
                .describe_table()
                .table_name(staged(TABLE, stage))
                .send()
                .await
                .unwrap();
            let function = aws
                .lambda
                .get_function_configuration()
                .function_name(staged(FUNCTION, stage))
                .send()
                .await
                .unwrap();
            (
                table.table().unwrap().deletion_protection_enabled(),
                function.memory_size(),
                function
                    .environment()
                    .and_then(|e| e.variables())
                    .cloned()
                    .unwrap_or_default(),
            )
        }
    };
    let (protected, memory, variables) = describe("live").await;
    assert_eq!((protected, memory), (Some(true), Some(256)));
    assert_eq!(variables["LOG_LEVEL"], "warn");
    assert_eq!(variables["TABLE_NAME"], staged(TABLE, "live"));
    let (protected, memory, variables) = describe("dev").await;
    assert_ne!(protected, Some(true));
    assert_eq!(memory, Some(128));
    assert!(!variables.contains_key("LOG_LEVEL"));
    assert_eq!(variables["TABLE_NAME"], staged(TABLE, "dev"));
    // dev goes; prod's protected table stays.
    project
        .stackctl(&["--stage", "dev", "down", "--confirm"])
        .ok();
    assert!(table_exists(&aws, &staged(TABLE, "live")).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_finds_complete_partial_and_old_stages_by_their_tags_only() {
    let emulator = Emulator::start();
    // `ls --all` reads other stacks' resources: beyond the generated policy.
    emulator.grant(OPERATOR_USER, LS_ACCOUNT_WIDE);
    let project = Project::new(&emulator);
    for stage in ["old", "pr-1", "pr-2"] {
        project.stackctl(&["--stage", stage, "up"]).ok();
    }
    let aws = emulator.moto_clients().await;
    // pr-2 half torn down (as a down that was interrupted would leave it).
    aws.lambda
        .delete_function()
        .function_name(staged(FUNCTION, "pr-2"))
        .send()
        .await
        .unwrap();
    aws.logs
        .delete_log_group()
        .log_group_name(format!("/aws/lambda/{}", staged(FUNCTION, "pr-2")))
        .send()
        .await
        .unwrap();
    // Another stack's table: only --all lists it.
    tagged_stack_table(&aws.dynamodb, "other")
        .table_name("someone-elses")
        .send()
        .await
        .unwrap();
    emulator
        .strict()
        .set(json!({"created_ago_secs": {staged(TABLE, "old"): 10 * 86_400}}));

    let listing = project.stackctl(&["ls", "--output", "json"]);
    listing.ok();
    let listing = listing.json();
    assert_eq!(listing["stack"], "my-frontend-app");
    let stages = listing["stages"].as_array().unwrap();
    let names: Vec<&str> = stages
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["old", "pr-1", "pr-2"], "{listing:#}");
    assert_eq!(stages[1]["complete"], true);
    let kinds: Vec<&str> = stages[1]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["table", "role", "policy", "function", "log_group"]);
    assert_eq!(stages[2]["complete"], false);
    assert_eq!(stages[2]["missing"], json!(["function", "log_group"]));
    assert!(stages[0]["age_secs"].as_u64().unwrap() >= 10 * 86_400);
    assert!(stages[1]["age_secs"].as_u64().unwrap() < 86_400);

    let old = project.stackctl(&["ls", "--older-than", "7d", "--output", "json"]);
    old.ok();
    let old = old.json();
    let names: Vec<&str> = old["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["old"]);
    let text = project.stackctl(&["ls", "--older-than", "7d"]);
    text.ok();
    assert!(
        text.stdout
            .starts_with("stack my-frontend-app in us-east-1: 1 stage older than 7d 0h"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("\nold: complete, created "),
        "{}",
        text.stdout
    );

    let all = project.stackctl(&["ls", "--all", "--output", "json"]);
    all.ok();
    let all = all.json();
    assert!(all["stages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["stack"] == "other"
            && s["stage"].is_null()
            && s["missing"].as_array().unwrap().len() == 4));

    // The reaper's step: down the old one. The Tagging API still lists its table, function and log group
    // for minutes (the proxy does as AWS does); ls confirms each with a describe and leaves them out.
    emulator.strict().clear_log();
    project
        .stackctl(&["--stage", "old", "down", "--confirm"])
        .ok();
    let after = project.stackctl(&["ls", "--output", "json"]);
    after.ok();
    assert_eq!(
        emulator.strict().injected_count("stale"),
        1,
        "{:?}",
        emulator.strict().injected()
    );
    let names: Vec<String> = after.json()["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["pr-1", "pr-2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn stage_name_makes_valid_distinct_stages_that_fit_and_up_refuses_bad_ones() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let name = |reference: &str| {
        let run = project.stackctl(&["stage-name", reference]);
        run.ok();
        run.stdout.trim_end().to_string()
    };
    // The README's examples, exactly as it prints them.
    let readme = std::fs::read_to_string(format!("{REPO}/README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let examples: Vec<(&str, &str)> = lines
        .windows(2)
        .filter_map(|w| Some((w[0].strip_prefix("$ stackctl stage-name ")?, w[1])))
        .collect();
    assert_eq!(
        examples,
        [
            ("feature/Login_v2", "feature-login-v2-181d1296"),
            ("pr-17", "pr-17-9aa12d00"),
            ("refs/heads/main", "main-0d6e4079"),
            ("prod", "prod-6754af96"),
        ]
    );
    for (reference, stage) in examples {
        assert_eq!(name(reference), stage, "README: stage-name {reference}");
    }
    // Never a name a person chose, not even one that is already a valid stage.
    assert_eq!(name("main"), "main-0d6e4079");
    let slash = name("fix/foo");
    assert_eq!(slash, "fix-foo-528e1f7c");
    assert_eq!(name("fix-foo"), "fix-foo-2fa93159");
    // A stage the file declares is never the answer, even when the hash would make exactly that name.
    let text = project.read("stack.toml") + "\n[stages.fix-foo-528e1f7c]\n";
    project.write("stack.toml", &text);
    let drawn_again = name("fix/foo");
    assert!(
        drawn_again.starts_with("fix-foo-") && drawn_again.len() == 16,
        "{drawn_again}"
    );
    assert_ne!(drawn_again, slash);
    assert_eq!(name("fix/foo"), drawn_again, "not stable");
    let long = name(&format!("feature/{}", "x".repeat(80)));
    assert_eq!(long.len(), 36, "{long}");
    // ... and that stage deploys.
    let mark = emulator.mark();
    let bad = project.stackctl(&["--stage", "Fix/Foo", "up"]);
    bad.expect_code(64);
    assert!(
        bad.stderr
            .contains("the stage name `Fix/Foo` does not start with a lower-case letter"),
        "{}",
        bad.stderr
    );
    assert!(emulator.requests_since(mark).is_empty());
    project.stackctl(&["--stage", &long, "plan"]).expect_code(2);
}

/// A run without credentials: env vars gone, no config files, no instance metadata.
fn without_credentials(project: &Project, args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let output = project
        .command(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_ROLE_ARN")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    Run::from(output)
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_and_expired_credentials_are_one_line_that_says_how_to_provide_them() {
    let emulator = Emulator::start();
    let project = Project::unbuilt(&emulator);
    let mark = emulator.mark();
    let run = without_credentials(&project, &["up"]);
    run.expect_code(1);
    let line = run.stderr.trim_end();
    assert!(!line.contains('\n'), "{}", run.stderr);
    assert!(
        line.starts_with(
            "error: no AWS credentials found (tried environment variables, the default profile in \
             ~/.aws/config and ~/.aws/credentials (SSO, credential_process), a web identity token"
        ),
        "{line}"
    );
    for how in [
        "AWS_ACCESS_KEY_ID",
        "--profile <name>",
        "aws sso login",
        "OIDC",
    ] {
        assert!(line.contains(how), "{how}: {line}");
    }
    assert!(
        !line.contains("dispatch failure") && !line.contains("IMDS"),
        "{line}"
    );
    // Nothing was sent, nothing was built.
    assert!(emulator.requests_since(mark).is_empty());
    assert!(!project.path("lambda/dist").exists());

    let run = without_credentials(&project, &["--profile", "nope", "status"]);
    run.expect_code(1);
    assert!(run.stderr.trim_end().lines().count() == 1, "{}", run.stderr);
    assert!(run.stderr.contains("profile `nope`"), "{}", run.stderr);

    emulator.strict().set(json!({"expired_token": true}));
    let run = project.stackctl(&["-q", "status"]);
    run.expect_code(1);
    let line = run.stderr.trim_end();
    assert!(
        line.starts_with("error: the AWS credentials have expired (AWS answered ExpiredToken"),
        "{line}"
    );
    assert!(
        !line.contains('\n') && line.contains("aws sso login"),
        "{line}"
    );
}

/// Ownership is by stack and stage, not by name: a stage whose overlay names its table exactly as another
/// stage's table is named finds that table, and `down` of it leaves it alone.
#[tokio::test(flavor = "multi_thread")]
async fn down_of_a_stage_never_deletes_another_stages_resource_of_the_same_name() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let text = project.read("stack.toml")
        + "\n[stages.data]\ntable.name = \"my-frontend-app-${stage}-app\"\n";
    project.write("stack.toml", &text);
    project.stackctl(&["--stage", "app", "up"]).ok();
    let shared = staged(TABLE, "app");
    assert_eq!(shared, "my-frontend-app-data-app");
    let down = project.stackctl(&["--stage", "data", "down", "--confirm", "--output", "json"]);
    down.ok();
    let report = down.json();
    let table = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "table")
        .unwrap();
    assert_eq!(
        (table["name"].as_str(), table["action"].as_str()),
        (Some(shared.as_str()), Some("keep")),
        "{report:#}"
    );
    assert_eq!(report["found"], 0, "{report:#}");
    let aws = emulator.moto_clients().await;
    assert!(table_exists(&aws, &shared).await);
    project.stackctl(&["--stage", "app", "status"]).ok();
}

/// IAM is global: the same stage in a second region finds its role and policy, tagged with the first
/// region, and is refused before any write. The shipped stack.toml's `prod` puts `${region}` into its IAM
/// names: it deploys in both regions, and each goes down on its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_stage_in_two_regions_stays_apart() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["--stage", "staging", "up"]).ok();
    let mark = emulator.mark();
    let refused = project.stackctl(&["--stage", "staging", "--region", "us-west-2", "up"]);
    refused.expect_code(1);
    assert!(
        refused
            .stderr
            .contains("owned by stage `staging` of this stack in region `us-east-1`")
            && refused.stderr.contains("${region}"),
        "{}",
        refused.stderr
    );
    assert!(
        emulator.writes_since(mark).is_empty(),
        "{:?}",
        emulator.writes_since(mark)
    );

    project.stackctl(&["--stage", "prod", "up"]).ok();
    project
        .stackctl(&["--stage", "prod", "--region", "us-west-2", "up"])
        .ok();
    let aws = emulator.moto_clients().await;
    for region in ["us-east-1", "us-west-2"] {
        aws.iam
            .get_role()
            .role_name(format!("{ROLE}-prod-{region}"))
            .send()
            .await
            .unwrap();
    }
    // Each region's prod is its own: in sync, its table protected (the shipped overlay), and it goes down
    // alone once its protection is turned off.
    project.stackctl(&["--stage", "prod", "status"]).ok();
    let west = emulator.moto_clients_in("us-west-2").await;
    let table = staged(TABLE, "prod");
    let protected = west
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        protected.table().unwrap().deletion_protection_enabled(),
        Some(true)
    );
    let west_prod = [
        "--stage",
        "prod",
        "--region",
        "us-west-2",
        "down",
        "--confirm",
    ];
    let refused = project.stackctl(&west_prod);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("deletion protection is on"),
        "{}",
        refused.stderr
    );
    west.dynamodb
        .update_table()
        .table_name(&table)
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    project.stackctl(&west_prod).ok();
    assert!(aws
        .iam
        .get_role()
        .role_name(format!("{ROLE}-prod-us-west-2"))
        .send()
        .await
        .is_err());
    project.stackctl(&["--stage", "prod", "status"]).ok();
}

/// A nightly reaper deletes a stage's role and policy while `ls` runs: they were listed (under the stack's
/// IAM path, where stackctl creates them), then their tag reads answer NoSuchEntity. Gone is gone: `ls`
/// succeeds and leaves them out.
#[tokio::test(flavor = "multi_thread")]
async fn ls_leaves_out_a_role_or_policy_deleted_between_the_list_and_its_tag_read() {
    use aws_sdk_iam::types::Tag;
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.moto_clients().await;
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build().unwrap();
    for stage in ["pr-7", "pr-8"] {
        let tags = [
            tag("stackctl:stack", "my-frontend-app"),
            tag("stackctl:stage", stage),
        ];
        aws.iam
            .create_role()
            .role_name(staged(ROLE, stage))
            .path(IAM_PATH)
            .assume_role_policy_document(TRUST_POLICY)
            .set_tags(Some(tags.to_vec()))
            .send()
            .await
            .unwrap();
        aws.iam
            .create_policy()
            .policy_name(staged(POLICY, stage))
            .path(IAM_PATH)
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
            )
            .set_tags(Some(tags.to_vec()))
            .send()
            .await
            .unwrap();
    }
    emulator
        .strict()
        .set(json!({"iam_gone_on_tag_read": [".*-pr-8"]}));
    let listing = project.stackctl(&["ls", "--output", "json"]);
    listing.ok();
    assert_eq!(
        emulator.strict().injected_count("NoSuchEntity"),
        2,
        "{:?}",
        emulator.strict().injected()
    );
    let listing = listing.json();
    let stages = listing["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 1, "{listing:#}");
    assert_eq!(stages[0]["stage"], "pr-7");
    let names: Vec<&str> = stages[0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [staged(ROLE, "pr-7"), staged(POLICY, "pr-7")]);
}
