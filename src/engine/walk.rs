//! The graph walk, after Terraform's walker: a node starts as soon as the nodes it depends on are done; a
//! failure ends the walk (reads) or skips only the failed node's dependents (up, down).

use std::collections::BTreeMap;
use std::future::Future;

use anyhow::Result;
use futures::stream::{FuturesUnordered, StreamExt};

/// What a walk came to: every node's result that finished, the nodes not started because one they depend on
/// failed (each with the first failed node it waited for), and the first error.
pub(super) struct Walked<K, T> {
    pub(super) done: BTreeMap<K, T>,
    pub(super) skipped: Vec<(K, K)>,
    pub(super) error: Option<anyhow::Error>,
}

impl<K, T> Walked<K, T> {
    pub(super) fn into_result(self) -> Result<BTreeMap<K, T>> {
        match self.error {
            Some(err) => Err(err),
            None => Ok(self.done),
        }
    }
}

/// What the walk does when a node fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnError {
    /// Ends the walk at once (the steps still running are dropped): reads, where a failed read fails
    /// the command before anything is planned.
    Stop,
    /// Runs every node that does not depend on the failed one to completion and skips only its
    /// dependents (Terraform's walker): up and down, so that siblings' work is never dropped. An
    /// interrupt still ends the walk at once (`interrupt::check` stops new steps anyway).
    Continue,
}

/// The graph walk: starts every node whose dependencies are done, as soon as they are, and collects the
/// results. `start` sees the results so far and must take what it needs from them (the future may not
/// borrow them).
pub(super) async fn walk<K, T, Fut>(
    nodes: Vec<K>,
    on_error: OnError,
    depends_on: impl Fn(&K) -> Vec<K>,
    mut start: impl FnMut(&K, &BTreeMap<K, T>) -> Fut,
) -> Walked<K, T>
where
    K: Ord + Clone + std::fmt::Display,
    Fut: Future<Output = Result<T>>,
{
    let mut walked: Walked<K, T> = Walked {
        done: BTreeMap::new(),
        skipped: Vec::new(),
        error: None,
    };
    // Nodes that failed or were skipped: whatever depends on them is skipped in turn.
    let mut failed: Vec<K> = Vec::new();
    let mut waiting = nodes.clone();
    let mut running = FuturesUnordered::new();
    loop {
        // Skips every waiting node that depends on a failed one, until none is left to skip.
        loop {
            let (skip, rest): (Vec<K>, Vec<K>) = waiting
                .into_iter()
                .partition(|at| depends_on(at).iter().any(|d| failed.contains(d)));
            waiting = rest;
            if skip.is_empty() {
                break;
            }
            for at in skip {
                let cause = depends_on(&at)
                    .into_iter()
                    .find(|d| failed.contains(d))
                    .unwrap_or_else(|| at.clone());
                let cause = walked
                    .skipped
                    .iter()
                    .find(|(s, _)| *s == cause)
                    .map_or(cause, |(_, first)| first.clone());
                failed.push(at.clone());
                walked.skipped.push((at, cause));
            }
        }
        let (ready, rest): (Vec<K>, Vec<K>) = waiting.into_iter().partition(|at| {
            depends_on(at)
                .iter()
                .all(|d| walked.done.contains_key(d) || !nodes.contains(d))
        });
        waiting = rest;
        for at in ready {
            let future = start(&at, &walked.done);
            running.push(async move { (at, future.await) });
        }
        match running.next().await {
            Some((at, Ok(result))) => {
                walked.done.insert(at, result);
            }
            Some((at, Err(err))) => {
                let interrupted = err
                    .downcast_ref::<crate::interrupt::Interrupted>()
                    .is_some();
                let stop = on_error == OnError::Stop || interrupted;
                walked.error.get_or_insert(err);
                if stop {
                    return walked;
                }
                failed.push(at);
            }
            None if waiting.is_empty() => return walked,
            None => {
                let error = anyhow::anyhow!(
                    "the resource graph has a cycle through {}",
                    waiting
                        .iter()
                        .map(|k| k.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                walked.error.get_or_insert(error);
                return walked;
            }
        }
    }
}
