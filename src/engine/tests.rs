//! The engine's unit tests: reads of a subset, and the walk (a failure skips only its dependents).

use super::*;
use crate::plan::Kind;
use crate::resources::Purpose;

fn graph() -> resources::Graph {
    resources::graph(&resources::shipped_stack())
}

fn at(graph: &resources::Graph, kind: Kind) -> Address {
    graph
        .nodes
        .iter()
        .map(|n| n.address().clone())
        .find(|a| a.kind == kind)
        .unwrap()
}

fn kinds_of(addresses: Vec<Address>) -> Vec<Kind> {
    addresses.into_iter().map(|a| a.kind).collect()
}

const KINDS: [&str; 6] = [
    "table",
    "role",
    "policy",
    "function",
    "log_group",
    "function_url",
];

#[test]
fn every_dependency_is_in_the_graph_and_there_is_no_cycle() {
    let graph = graph();
    let all: Vec<Address> = graph.nodes.iter().map(|n| n.address().clone()).collect();
    for n in &graph.nodes {
        for d in n.depends_on() {
            assert!(all.contains(d.address()), "{:?}", d);
        }
    }
    let order = futures::executor::block_on(walk(
        all.clone(),
        OnError::Stop,
        |a| {
            graph
                .node(a)
                .unwrap()
                .depends_on()
                .iter()
                .map(|d| d.address().clone())
                .collect()
        },
        |_, _: &BTreeMap<Address, ()>| async { Ok(()) },
    ))
    .into_result()
    .unwrap();
    assert_eq!(order.len(), all.len());
}

#[test]
fn the_walk_starts_a_node_only_after_its_dependencies_and_reports_cycles() {
    let started = std::sync::Mutex::new(Vec::new());
    let deps = |k: &&str| match *k {
        "function" => vec!["role", "log_group"],
        "policy" => vec!["role"],
        _ => vec![],
    };
    futures::executor::block_on(walk(
        KINDS.to_vec(),
        OnError::Stop,
        deps,
        |k, done: &BTreeMap<&str, ()>| {
            for d in deps(k) {
                assert!(done.contains_key(&d), "{k:?} started before {d:?}");
            }
            started.lock().unwrap().push(*k);
            async { Ok(()) }
        },
    ))
    .into_result()
    .unwrap();
    assert_eq!(started.lock().unwrap().len(), KINDS.len());

    let cycle = |k: &&str| match *k {
        "role" => vec!["policy"],
        "policy" => vec!["role"],
        _ => vec![],
    };
    let err = futures::executor::block_on(walk(
        KINDS.to_vec(),
        OnError::Stop,
        cycle,
        |_, _: &BTreeMap<&str, ()>| async { Ok(()) },
    ))
    .into_result()
    .unwrap_err();
    assert!(
        err.to_string().contains("cycle through role, policy"),
        "{err}"
    );
}

/// A failure skips only what depends on the failed node (and what depends on those); every other node
/// runs to completion, and the first error is the walk's.
#[test]
fn a_failure_skips_only_its_dependents_and_the_siblings_finish() {
    let deps = |k: &&str| match *k {
        "policy" => vec!["role"],
        "function" => vec!["role", "log_group"],
        "function_url" => vec!["function"],
        _ => vec![],
    };
    let walked = futures::executor::block_on(walk(
        KINDS.to_vec(),
        OnError::Continue,
        deps,
        |k, _: &BTreeMap<&str, ()>| {
            let fails = *k == "role";
            async move {
                if fails {
                    anyhow::bail!("role failed")
                }
                Ok(())
            }
        },
    ));
    let mut done: Vec<&str> = walked.done.keys().copied().collect();
    done.sort();
    assert_eq!(done, vec!["log_group", "table"]);
    assert_eq!(
        walked.skipped,
        vec![
            ("policy", "role"),
            ("function", "role"),
            ("function_url", "role")
        ]
    );
    assert_eq!(walked.error.unwrap().to_string(), "role failed");
}

/// A read of part of the graph takes what the chosen reads wait for (the log group's name comes from
/// the function's LoggingConfig), and nothing else.
#[test]
fn a_read_of_some_instances_takes_what_their_reads_wait_for_and_nothing_else() {
    let stack = resources::shipped_stack();
    let graph = graph();
    let some = |kinds: &[Kind], purpose| {
        let wanted: Vec<Address> = kinds.iter().map(|k| at(&graph, *k)).collect();
        kinds_of(with_read_after(&graph, purpose, &stack, &wanted))
    };
    assert_eq!(
        some(&[Kind::LogGroup], Purpose::Converge),
        vec![Kind::Function, Kind::LogGroup]
    );
    assert_eq!(some(&[Kind::Table], Purpose::Converge), vec![Kind::Table]);
    assert_eq!(
        some(&[Kind::Function], Purpose::Status),
        vec![Kind::Function]
    );
    // In graph order, each once, whatever the order asked.
    assert_eq!(
        some(
            &[Kind::LogGroup, Kind::Table, Kind::Function],
            Purpose::Teardown
        ),
        vec![Kind::Table, Kind::Function, Kind::LogGroup]
    );
    // Every read a node waits for is read first: the whole graph is closed under read_after.
    let purposes = [
        Purpose::Converge,
        Purpose::Status,
        Purpose::Teardown,
        Purpose::Outputs,
    ];
    for purpose in purposes {
        for node in &graph.nodes {
            let read = with_read_after(&graph, purpose, &stack, &[node.address().clone()]);
            for needed in node.read_after(purpose, &stack) {
                assert!(read.contains(&needed), "{} needs {needed}", node.address());
            }
        }
    }
}

/// A command that uses the stack reads only the instance it names: the URL's read for `--url` does not wait
/// for the function's marker, even when stack.toml has no `[function.url]` (the deployed URL is called
/// whoever made it).
#[test]
fn a_use_reads_only_the_instance_it_names() {
    use crate::resources::Use;
    let mut stack = resources::shipped_stack();
    let graph = graph();
    for url in [stack.url.clone(), None] {
        stack.url = url;
        let one = |kind: Kind, how: Use| {
            let wanted = [at(&graph, kind)];
            kinds_of(with_read_after(&graph, Purpose::Use(how), &stack, &wanted))
        };
        assert_eq!(one(Kind::Function, Use::Logs), vec![Kind::Function]);
        assert_eq!(one(Kind::Function, Use::Invoke), vec![Kind::Function]);
        assert_eq!(one(Kind::Function, Use::Local), vec![Kind::Function]);
        assert_eq!(one(Kind::Table, Use::Dev), vec![Kind::Table]);
        assert_eq!(one(Kind::FunctionUrl, Use::Url), vec![Kind::FunctionUrl]);
    }
    let stack = resources::shipped_stack();
    assert_eq!(
        address_of(&stack, Kind::FunctionUrl).unwrap(),
        at(&graph, Kind::FunctionUrl)
    );
}

#[test]
fn down_destroys_the_function_before_what_it_uses_and_the_log_group_after_the_role() {
    let graph = graph();
    let dependents = |kind| kinds_of(dependents(&graph, &at(&graph, kind)));
    assert!(dependents(Kind::Role).contains(&Kind::Function));
    assert!(dependents(Kind::Role).contains(&Kind::Policy));
    // The log group goes last: after the function and after the role and policy that could let an
    // invocation still in flight make it again.
    assert_eq!(
        dependents(Kind::LogGroup),
        vec![Kind::Role, Kind::Policy, Kind::Function]
    );
    assert_eq!(dependents(Kind::Table), vec![Kind::Function]);
    // The alias and the URL (config and permissions) go before the function they belong to.
    assert_eq!(
        dependents(Kind::Function),
        vec![Kind::Alias, Kind::FunctionUrl]
    );
    assert!(dependents(Kind::FunctionUrl).is_empty());
}

/// up: a node that only refers to one that failed (the function to its table or policy: not waited for)
/// is not started once that one has failed, nor is what depends on it: a failed table or policy never
/// leaves a function with a public URL behind.
#[test]
fn a_failure_also_stops_what_only_refers_to_it_and_its_dependents() {
    let waits = |k: &&str| match *k {
        "function" => vec!["role"],
        "function_url" => vec!["function"],
        _ => vec![],
    };
    let refers = |k: &&str| match *k {
        "function" => vec!["role", "policy", "table"],
        "function_url" => vec!["function"],
        _ => vec![],
    };
    // The table fails at once; the role is only done after that, so the function waits for it.
    let (role_done, role_wait) = futures::channel::oneshot::channel::<()>();
    let role_done = std::sync::Mutex::new(Some(role_done));
    let role_wait = std::sync::Mutex::new(Some(role_wait));
    let walked = futures::executor::block_on(walk_tainting(
        vec!["table", "role", "policy", "function", "function_url"],
        OnError::Continue,
        &waits,
        &refers,
        |k, _: &BTreeMap<&str, ()>| {
            let k = *k;
            let wait = (k == "role").then(|| role_wait.lock().unwrap().take().unwrap());
            let done = (k == "table").then(|| role_done.lock().unwrap().take().unwrap());
            async move {
                if let Some(wait) = wait {
                    let _ = wait.await;
                }
                if let Some(done) = done {
                    let _ = done.send(());
                    anyhow::bail!("table failed")
                }
                Ok(())
            }
        },
    ));
    let mut done: Vec<&str> = walked.done.keys().copied().collect();
    done.sort();
    assert_eq!(done, vec!["policy", "role"]);
    assert_eq!(
        walked.skipped,
        vec![("function", "table"), ("function_url", "table")]
    );
}

/// Siblings keep running after a failure, so more than one may fail: every reason is in the error, and an
/// interrupt after a failure still ends the run as interrupted (exit 130), the failure said too.
#[test]
fn every_failure_is_said_and_an_interrupt_decides_how_the_run_ends() {
    let mut walked: walk::Walked<&str, ()> = walk::Walked {
        done: BTreeMap::new(),
        skipped: Vec::new(),
        error: None,
        also_failed: Vec::new(),
    };
    let mut first = None;
    walked.failed(
        "table",
        anyhow::anyhow!("AccessDenied on DeleteTable"),
        &mut first,
    );
    walked.failed(
        "role",
        anyhow::anyhow!("AccessDenied on DeleteRole"),
        &mut first,
    );
    let err = format!("{:#}", walked.into_result().unwrap_err());
    assert!(
        err.contains("DeleteTable") && err.contains("role: AccessDenied on DeleteRole"),
        "{err}"
    );

    let mut walked: walk::Walked<&str, ()> = walk::Walked {
        done: BTreeMap::new(),
        skipped: Vec::new(),
        error: None,
        also_failed: Vec::new(),
    };
    let mut first = None;
    walked.failed(
        "table",
        anyhow::anyhow!("AccessDenied on CreateTable"),
        &mut first,
    );
    walked.failed(
        "role",
        anyhow::Error::new(crate::interrupt::Interrupted("role r".into())),
        &mut first,
    );
    let err = walked.into_result().unwrap_err();
    assert!(
        err.chain()
            .any(|c| c.downcast_ref::<crate::interrupt::Interrupted>().is_some()),
        "{err:#}"
    );
    assert!(
        format!("{err:#}").contains("table: AccessDenied on CreateTable"),
        "{err:#}"
    );
}

/// A use's reads carry no tags (the function's read for a use has an empty tag map): a world made of them
/// would see the stack's own function as untagged, which up may adopt. `snapshot`, what `World::new` takes,
/// refuses such a read before any call.
#[tokio::test]
async fn a_read_for_a_use_never_makes_the_stacks_state() {
    use crate::resources::Use;
    use aws_smithy_http_client::test_util::StaticReplayClient;
    let http = StaticReplayClient::new(vec![]);
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("test", "test", None, None, "test"),
            ),
        )
        .http_client(http.clone())
        .build();
    let clients = crate::aws::Clients::from_config(config);
    let stack = resources::shipped_stack();
    let graph = graph();
    let progress = crate::progress::Progress::new(crate::progress::Mode::Quiet);
    let task = progress.task("live state");
    for how in [Use::Logs, Use::Invoke, Use::Local, Use::Dev, Use::Url] {
        let wanted = [at(&graph, Kind::Function)];
        let err = snapshot(&clients, &stack, Purpose::Use(how), &wanted, &task)
            .await
            .err()
            .expect("a use read never makes a world");
        assert!(
            err.to_string().contains("cannot make the stack's state"),
            "{err}"
        );
    }
    assert_eq!(http.actual_requests().count(), 0, "refused before any call");
}
