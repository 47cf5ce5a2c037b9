//! One module per resource kind, each with the same shape: read the live state, diff it against the
//! desired state (pure), apply, and delete.

pub mod function;
pub mod log_group;
pub mod policy;
pub mod role;
pub mod table;

/// The stack's tags in IAM's shape (roles and policies take the same `Tag`).
pub(crate) fn iam_tags(
    tags: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<Vec<aws_sdk_iam::types::Tag>> {
    Ok(tags
        .iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()?)
}
