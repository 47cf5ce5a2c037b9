//! The fix half of a stack.toml shape error: the keys a section needs, how a key is written, and the key a
//! misspelt one most likely meant. The keys and their examples are the schema's (config/raw.rs).

use super::raw::RawFile;
use super::schema::{key_at, Section};

/// The keys a section must have.
pub(super) fn required_keys(section: &str) -> Vec<&'static str> {
    key_at(RawFile::keys(), section)
        .and_then(|key| key.sub)
        .map(|keys| {
            keys()
                .iter()
                .filter(|k| k.required)
                .map(|k| k.name())
                .collect()
        })
        .unwrap_or_default()
}

/// How a key is written, for the fix of a missing key or a value of the wrong type.
pub(super) fn example(field: &str) -> Option<&'static str> {
    key_at(RawFile::keys(), field)?.example
}

/// The candidate closest to a misspelt key, if one is close enough to be what was meant (Levenshtein
/// distance, case-insensitive: at most 2, or a quarter of the candidate's length).
pub(super) fn closest(word: &str, candidates: &[String]) -> Option<String> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}
