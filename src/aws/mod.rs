//! Talking to AWS: the clients (one SDK config, the SDK's retry policy, the account), the count of calls
//! made, the one classifier of AWS errors, and waiting on AWS / retrying what it lifts by itself.

mod calls;
mod clients;
pub mod credentials;
pub mod errors;
mod waits;

pub use calls::Calls;
// A service's client from the shared config, for one without a field in `Clients` (a kind's; ls's
// Resource Groups Tagging API).
pub(crate) use clients::client;
pub use clients::{connect, Account, Clients, Target};
// `classify` (an anyhow chain) is for any caller; `classify_sdk` for a `send()` result.
#[allow(unused_imports)]
pub use errors::{classify, classify_sdk, ErrorClass};
pub use waits::{retry_while, wait_for, NotFound, Poll};
