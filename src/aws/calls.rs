//! Counting the AWS operations stackctl sends (reads and writes, for every report) and the `-v` line per
//! call: an interceptor on every client.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Counts the AWS operations stackctl sends (each operation once, however many retries), split into reads
/// and writes, so every report can say how many writes it made.
#[derive(Clone, Debug, Default)]
pub struct CallCounter(Arc<Mutex<Calls>>);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Calls {
    pub reads: u32,
    pub writes: u32,
}

impl CallCounter {
    pub fn snapshot(&self) -> Calls {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Get*, List*, Describe*, Scan, Query, FilterLogEvents are reads; every other operation changes something.
pub fn is_read_operation(operation: &str) -> bool {
    [
        "Get", "List", "Describe", "Scan", "Query", "BatchGet", "Filter",
    ]
    .iter()
    .any(|prefix| operation.starts_with(prefix))
}

/// When an operation started, kept in the operation's config bag for the -v log line.
#[derive(Clone, Debug)]
struct StartedAt(std::time::Instant);

impl aws_smithy_types::config_bag::Storable for StartedAt {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "stackctl::CallCounter"
    }

    // Runs once per operation, after the operation's own config (which names it) is in the bag.
    fn read_before_serialization(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            let mut calls = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if is_read_operation(metadata.name()) {
                calls.reads += 1;
            } else {
                calls.writes += 1;
            }
        }
        cfg.interceptor_state()
            .store_put(StartedAt(std::time::Instant::now()));
        Ok(())
    }

    /// `-v`: one line per AWS call with its operation, outcome, duration and attempts. Never headers or
    /// bodies, so never credentials or variable values.
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let elapsed = cfg
            .load::<StartedAt>()
            .map(|s| s.0.elapsed())
            .unwrap_or_default();
        let attempts = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        let status = context.response().map(|r| r.status().as_u16()).unwrap_or(0);
        tracing::debug!(
            "aws {}.{} -> {} in {}ms ({} attempt{})",
            metadata.service(),
            metadata.name(),
            if status == 0 {
                "no response".to_string()
            } else {
                status.to_string()
            },
            elapsed.as_millis(),
            attempts,
            if attempts == 1 { "" } else { "s" }
        );
        Ok(())
    }
}
