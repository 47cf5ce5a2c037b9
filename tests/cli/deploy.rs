//! `[function.deploy]` (issue 24). This slice checks the section at load (tests/corpus/deploy-*, config's unit
//! tests) but `up` does not act on it yet: a file with it deploys exactly as without it, and says so.

use crate::support::*;

/// The warning a file with `[function.deploy]` loads with while `up` does not act on it.
const NOT_YET: &str =
    "[function.deploy] is checked but not yet acted on: up still updates $LATEST in place";

/// The Lambda operations of versioned deploys: none is sent while `up` does not act on the section.
const VERSION_OPERATIONS: [&str; 7] = [
    "PublishVersion",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "GetAlias",
    "ListAliases",
    "ListVersionsByFunction",
];

/// The distinct operations stackctl sent (`service:Operation`), sorted: the order of concurrent steps and the
/// number of polls and retries (a table's creation, the role's propagation) vary from run to run.
fn operations(requests: &[Request]) -> Vec<String> {
    let set: std::collections::BTreeSet<String> = requests
        .iter()
        .filter(|r| r.from_rust)
        .map(|r| format!("{}:{}", r.service, r.operation))
        .collect();
    set.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_with_the_section_deploys_as_without_it_and_says_it_does_not_act_on_it_yet() {
    // The same up on two emulators, the second with the section: the same operations.
    let plain = Emulator::start();
    let without = Project::new(&plain);
    let run = without.stackctl(&["up"]);
    run.ok();
    assert!(!run.stderr.contains("function.deploy"), "{}", run.stderr);
    let expected = operations(&plain.requests_since(0));

    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "[function.environment]",
        "[function.deploy]\nalias = \"live\"\nkeep_versions = 3\n\n[function.environment]",
    );
    let run = project.stackctl(&["up"]);
    run.ok();
    assert_eq!(run.stderr.matches(NOT_YET).count(), 1, "{}", run.stderr);
    let sent = operations(&emulator.requests_since(0));
    assert_eq!(sent, expected);
    for op in VERSION_OPERATIONS {
        assert!(
            !sent.iter().any(|s| s == &format!("lambda:{op}")),
            "{op} sent"
        );
    }

    // A second up writes nothing, with or without the section.
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
}
