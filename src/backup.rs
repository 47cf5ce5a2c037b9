//! Table data around teardown: whether the table holds items, or exactly how many; a native snapshot
//! (`snapshot`: DynamoDB's on-demand backups); back them up before anything is deleted (a new file,
//! reserved first: a header saying where the items came from, DynamoDB's typed JSON one item a line, and an
//! end line written only once the table was counted again and nothing had changed); restore such a file,
//! streaming it, into an empty table of the same origin and key schema.

mod count;
mod export;
mod file;
mod header;
mod item_json;
mod native;
mod restore;
pub mod snapshot;

// The paths its users (the table's teardown, `restore`) name.
pub use count::{count_items, is_empty, DEFAULT_SEGMENTS, MAX_SEGMENTS};
pub use export::{back_up, destination_problem};
pub use file::{check_file, read_header};
pub use header::{check_origin, Header, Origin};
pub use native::{
    check_restorable, keys_match, list_backups, resolve_backup, start_restore, BackupRow,
    Described, Refused, Wanted,
};
pub use restore::restore;
pub use snapshot::Snapshot;
