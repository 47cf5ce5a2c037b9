//! The calls the commands make themselves, beside the resource kinds': `ls`'s stage discovery and the
//! caller's identity. Each has no resource type in the Service Authorization Reference, so `*`.

use super::{Grant, Names};

/// `ls` (Resource Groups Tagging API, IAM lists by path; their tag reads are the role's and policy's
/// grants) and `sts:GetCallerIdentity` (the account of every ARN stackctl builds).
pub fn grants(_names: &Names) -> Vec<Grant> {
    vec![
        Grant::anywhere(
            "FindStages",
            &["tag:GetResources", "iam:ListRoles", "iam:ListPolicies"],
        ),
        Grant::anywhere("WhoAmI", &["sts:GetCallerIdentity"]),
    ]
}
