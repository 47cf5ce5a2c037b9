use super::*;
use crate::plan::Op;
use serde_json::json;

const STACK: &str = "shop";

fn spec(auth: UrlAuth, cors: Option<CorsSpec>) -> UrlSpec {
    UrlSpec { auth, cors }
}

fn config(auth: &str, cors: Option<CorsSpec>) -> Option<LiveUrlConfig> {
    Some(LiveUrlConfig {
        url: "https://abc.lambda-url.us-east-1.on.aws/".into(),
        auth_type: auth.into(),
        cors,
    })
}

fn ours(as_wanted: bool) -> Vec<LiveStatement> {
    Public::BOTH
        .iter()
        .map(|p| LiveStatement {
            sid: p.sid(STACK),
            kind: *p,
            as_wanted,
        })
        .collect()
}

fn cors(origins: &[&str], methods: &[&str]) -> CorsSpec {
    CorsSpec {
        allow_origins: origins.iter().map(|s| s.to_string()).collect(),
        allow_methods: methods.iter().map(|s| s.to_string()).collect(),
        ..CorsSpec::default()
    }
}

#[test]
fn a_public_url_is_created_with_both_statements() {
    let wanted = spec(UrlAuth::None, None);
    let (changes, work, note) = diff(STACK, Some(&wanted), None, Owner::NoFunction, false);
    assert_eq!(work.config, ConfigWork::Create);
    assert_eq!(
        work.add,
        Public::BOTH.map(|p| (p, p.sid(STACK))).to_vec(),
        "a fresh URL's statements take the plain Sids"
    );
    assert_eq!(work.marker, Some(true));
    assert!(work.remove.is_empty() && note.is_none());
    let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "auth",
            "permission.stackctl-shop-public-url",
            "permission.stackctl-shop-public-url-invoke"
        ]
    );
}

#[test]
fn in_sync_is_no_work_and_cors_order_and_case_are_not_drift() {
    let wanted = spec(
        UrlAuth::None,
        Some(cors(
            &["https://a.example", "https://b.example"],
            &["GET", "POST"],
        )),
    );
    let live = UrlState {
        config: config(
            "NONE",
            Some(cors(
                &["https://b.example", "https://a.example"],
                &["post", "GET"],
            )),
        ),
        statements: ours(true),
    };
    let (changes, work, _) = diff(STACK, Some(&wanted), Some(&live), Owner::Function, true);
    assert!(changes.is_empty(), "{changes:?}");
    assert!(work.is_noop());
    // The stack's URL on a function without the marker (a run killed before marking it) gets it.
    let (changes, work, _) = diff(STACK, Some(&wanted), Some(&live), Owner::Function, false);
    assert_eq!(changes, vec![Change::add("tag.stackctl:url", STACK)]);
    assert_eq!((work.config, work.marker), (ConfigWork::Keep, Some(true)));
}

#[test]
fn aws_iam_removes_both_public_statements_and_updates_the_config() {
    let live = UrlState {
        config: config("NONE", None),
        statements: ours(true),
    };
    let wanted = spec(UrlAuth::AwsIam, None);
    let (changes, work, _) = diff(STACK, Some(&wanted), Some(&live), Owner::Function, true);
    assert_eq!(work.config, ConfigWork::Update);
    assert_eq!(
        work.remove,
        vec![
            "stackctl-shop-public-url".to_string(),
            "stackctl-shop-public-url-invoke".to_string()
        ]
    );
    assert!(work.add.is_empty());
    assert_eq!(changes[0], Change::modify("auth", "NONE", "AWS_IAM"));
}

#[test]
fn a_statement_not_as_stackctl_writes_it_is_replaced() {
    let mut statements = ours(true);
    statements[1].as_wanted = false;
    let live = UrlState {
        config: config("NONE", None),
        statements,
    };
    let wanted = spec(UrlAuth::None, None);
    let (changes, work, _) = diff(STACK, Some(&wanted), Some(&live), Owner::Function, true);
    assert_eq!(
        work.remove,
        vec!["stackctl-shop-public-url-invoke".to_string()]
    );
    // The replacement goes in under a new Sid (the plain one is still taken until it is removed).
    let new = Public::InvokeFunction.new_sid(STACK, &[live.statements[1].sid.clone()]);
    assert!(
        new.starts_with("stackctl-shop-public-url-invoke-")
            && new.len() == "stackctl-shop-public-url-invoke-".len() + 8,
        "{new}"
    );
    assert!(Public::InvokeFunction.owns_sid(STACK, &new));
    assert!(!Public::InvokeFunctionUrl.owns_sid(STACK, &new));
    assert_eq!(work.add, vec![(Public::InvokeFunction, new.clone())]);
    assert_eq!(work.config, ConfigWork::Keep);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].field, format!("permission.{new}"));
    // Once in, the replacement is the stack's statement, and the next diff keeps it.
    let live = UrlState {
        config: config("NONE", None),
        statements: vec![
            live.statements[0].clone(),
            LiveStatement {
                sid: new,
                kind: Public::InvokeFunction,
                as_wanted: true,
            },
        ],
    };
    let (changes, work, _) = diff(STACK, Some(&wanted), Some(&live), Owner::Function, true);
    assert!(work.is_noop() && changes.is_empty(), "{work:?}");
}

#[test]
fn a_marker_without_a_url_is_taken_off_and_not_written_twice() {
    let nothing = UrlState {
        config: None,
        statements: Vec::new(),
    };
    let (changes, work, _) = diff(STACK, None, Some(&nothing), Owner::Marked, true);
    assert_eq!(changes, vec![Change::remove("tag.stackctl:url", STACK)]);
    assert_eq!((work.config, work.marker), (ConfigWork::Keep, Some(false)));
    let wanted = spec(UrlAuth::None, None);
    let (_, work, _) = diff(STACK, Some(&wanted), None, Owner::Marked, true);
    assert_eq!((work.config, work.marker), (ConfigWork::Create, None));
}

#[test]
fn only_the_stacks_own_sids_are_recognised() {
    for sid in [
        "stackctl-shop-public-url",
        "stackctl-shop-public-url-0123abcd",
    ] {
        assert!(Public::InvokeFunctionUrl.owns_sid(STACK, sid), "{sid}");
    }
    for sid in [
        "stackctl-shop-public-url-invoke",
        "stackctl-shop-public-url-0123abcz",
        "stackctl-shop-public-url-0123abcde",
        "stackctl-shop-public-public-url",
        "mine",
    ] {
        assert!(!Public::InvokeFunctionUrl.owns_sid(STACK, sid), "{sid}");
    }
    assert!(!Public::InvokeFunctionUrl.owns_sid("shop-public", "stackctl-shop-public-url"));
}

#[test]
fn removing_the_section_deletes_the_stacks_url_and_statements_only() {
    let live = UrlState {
        config: config("NONE", None),
        statements: ours(true),
    };
    let (changes, work, _) = diff(STACK, None, Some(&live), Owner::Function, true);
    assert_eq!(work.config, ConfigWork::Delete);
    assert_eq!(work.remove.len(), 2);
    assert_eq!(work.marker, Some(false));
    assert_eq!(changes[0].op, Op::Remove);
    // On a function the stack did not create: its own URL stays, but the stack's statements go.
    let (_, work, note) = diff(STACK, None, Some(&live), Owner::Foreign, false);
    assert_eq!(work.config, ConfigWork::Keep);
    assert_eq!(work.remove.len(), 2);
    assert!(note.unwrap().contains("left alone"));
    // A URL the stack made there (marked): deleted, and the marker taken off.
    let (_, work, _) = diff(STACK, None, Some(&live), Owner::Marked, true);
    assert_eq!(
        (work.config, work.marker),
        (ConfigWork::Delete, Some(false))
    );
}

#[test]
fn an_adopted_functions_own_url_is_never_changed() {
    let live = UrlState {
        config: config("AWS_IAM", None),
        statements: Vec::new(),
    };
    let wanted = spec(UrlAuth::None, Some(cors(&["*"], &[])));
    let (changes, work, note) = diff(STACK, Some(&wanted), Some(&live), Owner::Foreign, false);
    assert!(work.is_noop(), "{work:?}");
    assert!(changes.iter().all(|c| c.op == Op::Keep), "{changes:?}");
    assert!(note.unwrap().contains("never changed or deleted"));
    // Without a URL, the stack creates one there and marks the function.
    let (_, work, _) = diff(STACK, Some(&wanted), None, Owner::Foreign, false);
    assert_eq!(
        (work.config, work.marker, work.add.len()),
        (ConfigWork::Create, Some(true), 2)
    );
}

#[test]
fn statements_are_recognised_by_sid_and_checked_by_their_conditions() {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "someone-else", "Effect": "Allow", "Principal": "*",
             "Action": "lambda:InvokeFunctionUrl", "Resource": "arn"},
            {"Sid": "stackctl-shop-public-url", "Effect": "Allow", "Principal": "*",
             "Action": "lambda:InvokeFunctionUrl", "Resource": "arn",
             "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}},
            // moto's shape (the condition as a raw key, no Condition block): not as wanted.
            {"Sid": "stackctl-shop-public-url-invoke", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": "lambda:InvokeFunction", "Resource": "arn", "InvokedViaFunctionUrl": true}
        ]
    })
    .to_string();
    let found = stack_statements(&policy, STACK).unwrap();
    assert_eq!(
        found,
        vec![
            LiveStatement {
                sid: "stackctl-shop-public-url".into(),
                kind: Public::InvokeFunctionUrl,
                as_wanted: true
            },
            LiveStatement {
                sid: "stackctl-shop-public-url-invoke".into(),
                kind: Public::InvokeFunction,
                as_wanted: false
            },
        ]
    );
    let good = json!({"Statement": {"Sid": "stackctl-shop-public-url-invoke", "Effect": "Allow",
        "Principal": "*", "Action": "lambda:InvokeFunction",
        "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}}})
    .to_string();
    assert!(stack_statements(&good, STACK).unwrap()[0].as_wanted);
    assert!(stack_statements(&good, "other").unwrap().is_empty());
}

#[test]
fn cors_is_described_canonically() {
    assert_eq!(describe_cors(None), "none");
    assert_eq!(describe_cors(Some(&CorsSpec::default())), "none");
    let c = CorsSpec {
        max_age: Some(300),
        allow_headers: vec!["Content-Type".into()],
        ..cors(&["https://app.example.com"], &["post", "GET"])
    };
    assert_eq!(
        describe_cors(Some(&c)),
        "allow_origins [\"https://app.example.com\"], allow_methods [\"GET\", \"POST\"], \
         allow_headers [\"content-type\"], max_age 300"
    );
}

/// The public URL's warning says what is true: without [auth] any caller can act as any user; with it the
/// handler refuses callers without a token, and only the cost of being called is left.
#[test]
fn the_public_urls_warning_says_what_auth_changes() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml");
    let base = std::fs::read_to_string(file).unwrap() + "\n[function.url]\nauth = \"none\"\n";
    let parse = |text: &str| {
        crate::config::parse(std::path::Path::new(file), text, "2026-01-01").expect("stack")
    };
    let anonymous = parse(&(base.clone() + "allow_anonymous = true\n"));
    let warning = public_warning(&anonymous.chosen_function()).unwrap();
    assert!(warning.contains("without authentication"), "{warning}");
    let with_auth = parse(&(base + "\n[auth]\ncognito = true\n"));
    let warning = public_warning(&with_auth.chosen_function()).unwrap();
    assert!(!warning.contains("without authentication"), "{warning}");
    assert!(warning.contains("401"), "{warning}");
}

fn state(url: &str, statements: Vec<LiveStatement>) -> UrlState {
    UrlState {
        config: Some(LiveUrlConfig {
            url: url.into(),
            auth_type: "NONE".into(),
            cors: None,
        }),
        statements,
    }
}

#[test]
fn a_url_moving_to_an_alias_names_the_old_and_the_new_url_and_retires_the_old() {
    let old = state("https://old.lambda-url.us-east-1.on.aws/", ours(true));
    // Not created yet on the alias: the new URL is not known.
    let (changes, work, note) = retire(None, &old, Some((Some("live"), None)), Owner::Function);
    assert_eq!(
        changes[0],
        Change::modify(
            "url",
            "https://old.lambda-url.us-east-1.on.aws/",
            "a new URL on alias `live`"
        )
    );
    let fields: Vec<&str> = changes[1..].iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "permission.stackctl-shop-public-url on `$LATEST`",
            "permission.stackctl-shop-public-url-invoke on `$LATEST`"
        ]
    );
    assert!(changes[1..].iter().all(|c| c.op == Op::Remove));
    let note = note.unwrap();
    assert!(
        note.starts_with(
            "the URL changes: clients of https://old.lambda-url.us-east-1.on.aws/ must move to a new URL \
             on alias `live`"
        ),
        "{note}"
    );
    assert_eq!(
        work,
        Some(Retire {
            qualifier: None,
            delete_config: true,
            remove: Public::BOTH.map(|p| p.sid(STACK)).to_vec(),
        })
    );
    // A run killed after creating the alias's URL: the new one is named.
    let (changes, _, note) = retire(
        None,
        &old,
        Some((
            Some("live"),
            Some("https://new.lambda-url.us-east-1.on.aws/"),
        )),
        Owner::Function,
    );
    assert_eq!(
        changes[0].after.as_deref(),
        Some("https://new.lambda-url.us-east-1.on.aws/")
    );
    assert!(note
        .unwrap()
        .contains("must move to https://new.lambda-url.us-east-1.on.aws/"));
}

#[test]
fn moving_back_to_latest_retires_the_alias_url_and_without_a_url_it_just_goes() {
    let old = state("https://onalias.lambda-url.us-east-1.on.aws/", ours(true));
    let (changes, work, note) = retire(Some("live"), &old, Some((None, None)), Owner::Function);
    assert_eq!(
        changes[0],
        Change::modify(
            "url",
            "https://onalias.lambda-url.us-east-1.on.aws/",
            "a new URL on `$LATEST`"
        )
    );
    assert!(note.unwrap().contains("alias `live` -> `$LATEST`"));
    assert_eq!(work.unwrap().qualifier.as_deref(), Some("live"));
    // down, or [function.url] removed: the old URL is removed, no move is announced.
    let (changes, work, note) = retire(Some("live"), &old, None, Owner::Function);
    assert_eq!(changes[0].op, Op::Remove);
    assert_eq!(changes[0].field, "url on alias `live`");
    assert!(note.is_none());
    assert!(work.unwrap().delete_config);
}

#[test]
fn another_ones_functions_old_url_is_left_and_only_the_stacks_statements_go() {
    let old = state("https://theirs.lambda-url.us-east-1.on.aws/", ours(true));
    for owner in [Owner::Marked, Owner::Foreign] {
        let (changes, work, note) = retire(None, &old, Some((Some("live"), None)), owner);
        let work = work.unwrap();
        assert!(!work.delete_config, "{owner:?}");
        assert_eq!(work.remove.len(), 2);
        assert!(changes.iter().all(|c| c.field != "url"));
        assert!(note.unwrap().contains("left alone"));
    }
    // Nothing of the stack's there: no work.
    let bare = UrlState {
        config: None,
        statements: Vec::new(),
    };
    let (changes, work, note) = retire(None, &bare, Some((Some("live"), None)), Owner::Function);
    assert!(changes.is_empty() && work.is_none() && note.is_none());
}

#[test]
fn the_diff_on_an_alias_is_the_diff_on_latest() {
    // The qualifier changes where the calls go, not what is planned on it: a fresh alias URL is created
    // with both statements under the plain Sids (each qualifier has its own policy).
    let wanted = spec(UrlAuth::None, None);
    let (_, work, _) = diff(STACK, Some(&wanted), None, Owner::Function, true);
    assert_eq!(work.config, ConfigWork::Create);
    assert_eq!(work.add, Public::BOTH.map(|p| (p, p.sid(STACK))).to_vec());
    assert_eq!(work.marker, None, "the function is marked already");
    assert_eq!(work.retire, None);
    assert_eq!(qualifier_name(Some("live")), "alias `live`");
    assert_eq!(qualifier_name(None), "`$LATEST`");
}
