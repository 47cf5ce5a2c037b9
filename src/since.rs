//! Where a log read starts (`logs --since`): the value the CLI's parser (cli/since.rs) makes and the logs
//! command uses, kept below both so neither imports the other.

use std::time::Duration;

/// Where `--since` starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// This long before the command started.
    Ago(Duration),
    /// This instant, in milliseconds since the Unix epoch.
    At(i64),
}

impl Since {
    pub fn start_ms(self, now_ms: i64) -> i64 {
        match self {
            Since::Ago(ago) => now_ms
                .saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX))
                .max(0),
            Since::At(ms) => ms.max(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_start_is_relative_to_now_and_never_negative() {
        assert_eq!(
            Since::Ago(Duration::from_secs(600)).start_ms(1_000_000),
            400_000
        );
        assert_eq!(Since::Ago(Duration::from_secs(600)).start_ms(1_000), 0);
        assert_eq!(Since::At(42).start_ms(1_000_000), 42);
    }
}
