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
    /// The other nodes that failed, with their errors: siblings keep running after a failure, so more than
    /// one may fail, and each reason is said.
    pub(super) also_failed: Vec<(K, anyhow::Error)>,
}

impl<K: std::fmt::Display, T> Walked<K, T> {
    /// The walk's error (an interrupt, when there was one, so that the run ends as interrupted), with every
    /// other failure's reason in front of it; or every node's result.
    pub(super) fn into_result(self) -> Result<BTreeMap<K, T>> {
        match self.error {
            Some(err) if self.also_failed.is_empty() => Err(err),
            Some(err) => {
                let others = self
                    .also_failed
                    .iter()
                    .map(|(at, err)| format!("{at}: {err:#}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                Err(err.context(format!("more than one step failed: {others}; and")))
            }
            None => Ok(self.done),
        }
    }

    /// Records a node's failure: the first is the walk's error, unless a later one is an interrupt (which
    /// decides how the run ends); every other is kept with its node.
    pub(super) fn failed(&mut self, at: K, err: anyhow::Error, first_at: &mut Option<K>) {
        let interrupted = err
            .downcast_ref::<crate::interrupt::Interrupted>()
            .is_some();
        match (self.error.take(), first_at.take()) {
            (None, _) => {
                self.error = Some(err);
                *first_at = Some(at);
            }
            (Some(first), Some(first_node)) if interrupted => {
                self.also_failed.push((first_node, first));
                self.error = Some(err);
                *first_at = Some(at);
            }
            (Some(first), first_node) => {
                self.error = Some(first);
                *first_at = first_node;
                self.also_failed.push((at, err));
            }
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
    start: impl FnMut(&K, &BTreeMap<K, T>) -> Fut,
) -> Walked<K, T>
where
    K: Ord + Clone + std::fmt::Display,
    Fut: Future<Output = Result<T>>,
{
    walk_tainting(nodes, on_error, &depends_on, &depends_on, start).await
}

/// The walk, where a failure also spoils the nodes that only refer to the failed one (`tainted_by`, a
/// superset of `depends_on`): such a node is not waited for, but once one it refers to has failed, it and
/// everything depending on it are not started (up: a function whose table or policy failed is not given a
/// public URL).
pub(super) async fn walk_tainting<K, T, Fut>(
    nodes: Vec<K>,
    on_error: OnError,
    depends_on: &impl Fn(&K) -> Vec<K>,
    tainted_by: &impl Fn(&K) -> Vec<K>,
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
        also_failed: Vec::new(),
    };
    let mut first_failed: Option<K> = None;
    // Nodes that failed or were skipped: whatever depends on them is skipped in turn.
    let mut failed: Vec<K> = Vec::new();
    // Whether a node failed, was skipped, or refers (through `tainted_by`, at any depth) to one that did.
    fn spoiled<K: PartialEq>(
        at: &K,
        failed: &[K],
        tainted_by: &impl Fn(&K) -> Vec<K>,
        depth: usize,
    ) -> bool {
        failed.contains(at)
            || (depth < 64
                && tainted_by(at)
                    .iter()
                    .any(|d| spoiled(d, failed, tainted_by, depth + 1)))
    }
    let mut waiting = nodes.clone();
    let mut running = FuturesUnordered::new();
    loop {
        // Skips every waiting node that depends on a failed one, until none is left to skip.
        loop {
            let (skip, rest): (Vec<K>, Vec<K>) = waiting.into_iter().partition(|at| {
                tainted_by(at)
                    .iter()
                    .any(|d| spoiled(d, &failed, tainted_by, 0))
            });
            waiting = rest;
            if skip.is_empty() {
                break;
            }
            for at in skip {
                let cause = tainted_by(&at)
                    .into_iter()
                    .find(|d| spoiled(d, &failed, tainted_by, 0))
                    .unwrap_or_else(|| at.clone());
                // The node that failed, not the one in between that only refers to it.
                let mut cause = cause;
                while !failed.contains(&cause) {
                    match tainted_by(&cause)
                        .into_iter()
                        .find(|d| spoiled(d, &failed, tainted_by, 0))
                    {
                        Some(next) => cause = next,
                        None => break,
                    }
                }
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
                walked.failed(at.clone(), err, &mut first_failed);
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
