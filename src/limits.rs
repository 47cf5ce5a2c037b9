//! AWS limits that the local emulator does not enforce, in one place: stackctl checks them itself before
//! the first write, so a stack that only AWS would refuse fails here, with the fix, and not half-deployed.

/// Lambda: the environment variables of a function, in total (the sum of every key's and value's bytes).
pub const ENV_BYTES: usize = 4096;

/// Lambda: a deployment package unzipped (the sum of its files' sizes).
pub const UNZIPPED_BYTES: u64 = 262_144_000;

/// IAM (and DynamoDB, Lambda): tags per resource, key length and value length, in characters.
pub const TAGS_PER_RESOURCE: usize = 50;
pub const TAG_KEY_CHARS: usize = 128;
pub const TAG_VALUE_CHARS: usize = 256;

/// The size Lambda counts for a set of environment variables.
pub fn env_bytes<'a>(variables: impl IntoIterator<Item = (&'a String, &'a String)>) -> usize {
    variables.into_iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// IAM's tag character set: Unicode letters, digits and spaces, and `_ . : / = + - @`.
pub fn is_tag_char(c: char) -> bool {
    // Spaces (\p{Z}), not tabs or line breaks: those are control characters.
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}

/// The first character IAM refuses in a tag key or value, if any.
pub fn bad_tag_char(text: &str) -> Option<char> {
    text.chars().find(|c| !is_tag_char(*c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn env_bytes_counts_keys_and_values_in_bytes() {
        let vars = BTreeMap::from([
            ("AB".to_string(), "é".to_string()),
            ("C".to_string(), String::new()),
        ]);
        assert_eq!(env_bytes(&vars), 2 + 2 + 1);
    }

    #[test]
    fn iam_tag_characters() {
        assert_eq!(bad_tag_char("team: data/ops_1 = a+b-c@d.e"), None);
        assert_eq!(bad_tag_char("équipe ünd 東京 ٣"), None);
        assert_eq!(bad_tag_char("cost!center"), Some('!'));
        assert_eq!(bad_tag_char("a,b"), Some(','));
        assert_eq!(bad_tag_char("x*"), Some('*'));
        assert_eq!(bad_tag_char("a\tb"), Some('\t'));
    }
}
