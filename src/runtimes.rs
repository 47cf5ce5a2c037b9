//! Which Lambda Node.js runtimes AWS accepts, per AWS's published deprecation schedule.
//! https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html#runtimes-deprecated

/// What stackctl suggests when a runtime is on its way out.
pub const RECOMMENDED: &str = "nodejs24.x";

struct Runtime {
    id: &'static str,
    /// Date AWS deprecates it (YYYY-MM-DD); `None`: no date announced.
    deprecated: Option<&'static str>,
    /// Date from which AWS refuses to create functions on it.
    create_blocked: Option<&'static str>,
}

const NODE_RUNTIMES: [Runtime; 8] = [
    Runtime {
        id: "nodejs24.x",
        deprecated: None,
        create_blocked: None,
    },
    Runtime {
        id: "nodejs22.x",
        deprecated: Some("2027-04-30"),
        create_blocked: Some("2027-06-01"),
    },
    Runtime {
        id: "nodejs20.x",
        deprecated: Some("2026-04-30"),
        create_blocked: Some("2026-08-31"),
    },
    Runtime {
        id: "nodejs18.x",
        deprecated: Some("2025-09-01"),
        create_blocked: Some("2026-02-03"),
    },
    Runtime {
        id: "nodejs16.x",
        deprecated: Some("2024-06-12"),
        create_blocked: Some("2025-09-01"),
    },
    Runtime {
        id: "nodejs14.x",
        deprecated: Some("2023-12-04"),
        create_blocked: Some("2024-01-09"),
    },
    Runtime {
        id: "nodejs12.x",
        deprecated: Some("2023-03-31"),
        create_blocked: Some("2023-04-30"),
    },
    Runtime {
        id: "nodejs10.x",
        deprecated: Some("2021-07-30"),
        create_blocked: Some("2021-07-30"),
    },
];

#[derive(Debug, PartialEq, Eq)]
pub enum RuntimeStatus {
    Supported,
    Deprecated {
        since: &'static str,
        blocked_from: &'static str,
    },
    Blocked {
        since: &'static str,
    },
    Unknown,
}

/// Status of `id` on `today` (YYYY-MM-DD; ISO dates compare correctly as strings).
pub fn status(id: &str, today: &str) -> RuntimeStatus {
    let Some(runtime) = NODE_RUNTIMES.iter().find(|r| r.id == id) else {
        return RuntimeStatus::Unknown;
    };
    match (runtime.deprecated, runtime.create_blocked) {
        (_, Some(blocked)) if today >= blocked => RuntimeStatus::Blocked { since: blocked },
        (Some(since), Some(blocked_from)) if today >= since => RuntimeStatus::Deprecated {
            since,
            blocked_from,
        },
        _ => RuntimeStatus::Supported,
    }
}

pub fn supported_list(today: &str) -> String {
    NODE_RUNTIMES
        .iter()
        .filter(|r| !matches!(status(r.id, today), RuntimeStatus::Blocked { .. }))
        .map(|r| format!("\"{}\"", r.id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Node.js major version a runtime runs: `nodejs24.x` -> 24.
pub fn node_major(id: &str) -> Option<u32> {
    id.strip_prefix("nodejs")?.strip_suffix(".x")?.parse().ok()
}

/// Whether the runtime refuses callback-style handlers (a function of three parameters) at init, with
/// `Runtime.CallbackHandlerDeprecated`: Node.js 24 and later.
pub fn refuses_callback_handlers(id: &str) -> bool {
    node_major(id).is_some_and(|major| major >= 24)
}

/// The `AWS_EXECUTION_ENV` Lambda sets for the runtime: `AWS_Lambda_nodejs24.x`.
pub fn execution_env(id: &str) -> String {
    format!("AWS_Lambda_{id}")
}

/// Today's date in UTC as YYYY-MM-DD.
pub fn today() -> String {
    crate::dates::today()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodejs20_is_deprecated_then_blocked() {
        assert_eq!(status("nodejs20.x", "2026-04-29"), RuntimeStatus::Supported);
        assert!(matches!(
            status("nodejs20.x", "2026-05-01"),
            RuntimeStatus::Deprecated { .. }
        ));
        assert_eq!(
            status("nodejs20.x", "2026-08-31"),
            RuntimeStatus::Blocked {
                since: "2026-08-31"
            }
        );
        assert_eq!(status("nodejs24.x", "2030-01-01"), RuntimeStatus::Supported);
        assert_eq!(status("python3.12", "2026-01-01"), RuntimeStatus::Unknown);
    }

    #[test]
    fn node_24_and_later_refuse_callback_handlers() {
        assert_eq!(node_major("nodejs24.x"), Some(24));
        assert_eq!(node_major("nodejs22.x"), Some(22));
        assert_eq!(node_major("python3.12"), None);
        assert!(refuses_callback_handlers("nodejs24.x"));
        assert!(refuses_callback_handlers("nodejs26.x"));
        assert!(!refuses_callback_handlers("nodejs22.x"));
        assert!(!refuses_callback_handlers("provided.al2023"));
        assert_eq!(execution_env("nodejs24.x"), "AWS_Lambda_nodejs24.x");
    }

    #[test]
    fn today_is_an_iso_date() {
        let t = today();
        assert_eq!(t.len(), 10);
        assert_eq!(&t[4..5], "-");
    }
}
