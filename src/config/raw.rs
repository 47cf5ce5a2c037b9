//! The file as written, before any check. `deny_unknown_fields` everywhere: a typo must never be silently
//! ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) stack: RawStack,
    pub(super) table: RawTable,
    pub(super) role: RawRole,
    pub(super) policy: RawPolicy,
    pub(super) function: RawFunction,
    #[serde(default)]
    pub(super) timeouts: RawTimeouts,
    /// `[stages.<name>]`: overlays, one per named stage (config/stages.rs).
    #[serde(default)]
    pub(super) stages: BTreeMap<Spanned<String>, super::stages::RawOverlay>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStack {
    pub(super) name: Spanned<String>,
    pub(super) region: Spanned<String>,
    #[serde(default)]
    pub(super) tags: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKey {
    pub(super) name: Spanned<String>,
    #[serde(rename = "type")]
    pub(super) key_type: Spanned<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTable {
    pub(super) name: Spanned<String>,
    pub(super) partition_key: RawKey,
    pub(super) sort_key: Option<RawKey>,
    pub(super) billing_mode: Option<Spanned<String>>,
    pub(super) deletion_protection: Option<Spanned<bool>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRole {
    pub(super) name: Spanned<String>,
    pub(super) trust_policy: Spanned<String>,
    #[serde(default)]
    pub(super) managed_policies: Vec<Spanned<String>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) name: Spanned<String>,
    pub(super) template: Spanned<String>,
    pub(super) allow_wildcards: Option<Spanned<bool>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFunction {
    pub(super) name: Spanned<String>,
    pub(super) runtime: Spanned<String>,
    pub(super) handler: Spanned<String>,
    pub(super) source_dir: Spanned<String>,
    pub(super) install: Option<Spanned<String>>,
    pub(super) build: Spanned<String>,
    pub(super) artifact_dir: Spanned<String>,
    pub(super) memory_mb: Option<Spanned<i64>>,
    pub(super) timeout_secs: Option<Spanned<i64>>,
    pub(super) architecture: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) environment: BTreeMap<Spanned<String>, Spanned<String>>,
    pub(super) logs: Option<RawLogs>,
    pub(super) reserved_concurrency: Option<Spanned<i64>>,
    pub(super) url: Option<RawUrl>,
}

/// `[function.url]`.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUrl {
    pub(super) auth: Spanned<String>,
    pub(super) cors: Option<RawCors>,
}

/// `[function.url.cors]`.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCors {
    pub(super) allow_origins: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) allow_methods: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) allow_headers: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) expose_headers: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) max_age: Option<Spanned<i64>>,
    pub(super) allow_credentials: Option<Spanned<bool>>,
}

/// `[function.logs]`. The value is taken as any TOML value, so that a string, a float or a date gets
/// stackctl's own message (with the nearest allowed values) instead of serde's.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogs {
    pub(super) retention_days: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimeouts {
    pub(super) table_secs: Option<Spanned<i64>>,
    pub(super) function_secs: Option<Spanned<i64>>,
    pub(super) role_propagation_secs: Option<Spanned<i64>>,
}
