//! The IAM path a stack's role and policy are created under (`/stackctl/<stack>/`), so that `ls` lists
//! them with PathPrefix instead of the whole account; and the path of a live role or policy's ARN.

/// The path every stackctl stack's IAM resources share (`ls --all` lists under it).
pub const ALL: &str = "/stackctl/";

/// The path a stack's new role and policy are created under. A stack name is 1-64 ASCII letters, digits,
/// `-` and `_` (config's rule), so the path always fits IAM's: 1-512 characters of `\u0021`-`\u007E`,
/// starting and ending with `/`.
pub fn of_stack(stack: &str) -> String {
    format!("{ALL}{stack}/")
}

/// The path in an IAM role's or policy's ARN: `arn:aws:iam::1:role/stackctl/app/r` -> `/stackctl/app/`,
/// `arn:aws:iam::1:policy/p` -> `/`. None: not a role's or policy's ARN.
pub fn of_arn(arn: &str) -> Option<&str> {
    let resource = crate::resources::arn_resource(arn);
    let rest = resource
        .strip_prefix("role")
        .or_else(|| resource.strip_prefix("policy"))?;
    let last = rest.rfind('/')?;
    rest.starts_with('/').then(|| &rest[..=last])
}

/// Whether an ARN's path is under `prefix` (as IAM's PathPrefix matches: a plain string prefix).
pub fn is_under(arn: &str, prefix: &str) -> bool {
    of_arn(arn).is_some_and(|path| path.starts_with(prefix))
}

/// plan's and status's note on a role or policy the stack owns that is not at the stack's path (made
/// before stackctl created them under it). IAM cannot move one: it stays, with its ARN.
pub fn elsewhere_note(path: &str) -> String {
    format!(
        "created before IAM paths (at `{path}`); a path cannot be changed in place: stackctl leaves it there \
         (down + up moves it)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IAM's path rule (CreateRole / CreatePolicy `Path`): `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`, at most
    /// 512 characters. The longest stack name config allows fits.
    #[test]
    fn every_valid_stack_name_makes_a_valid_path() {
        for stack in ["a", "my-frontend-app", "App_2", &"x".repeat(64)] {
            let path = of_stack(stack);
            assert!(path.starts_with('/') && path.ends_with('/') && path.len() <= 512);
            assert!(
                path.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c)),
                "{path}"
            );
        }
        assert_eq!(of_stack("app"), "/stackctl/app/");
    }

    #[test]
    fn the_path_is_read_from_a_role_or_policy_arn() {
        assert_eq!(
            of_arn("arn:aws:iam::1:role/stackctl/app/r"),
            Some("/stackctl/app/")
        );
        assert_eq!(of_arn("arn:aws:iam::1:policy/p"), Some("/"));
        assert_eq!(
            of_arn("arn:aws-cn:iam::1:role/service-role/r"),
            Some("/service-role/")
        );
        assert_eq!(of_arn("arn:aws:lambda:us-east-1:1:function:f"), None);
        assert!(is_under(
            "arn:aws:iam::1:role/stackctl/app/r",
            "/stackctl/app/"
        ));
        assert!(!is_under(
            "arn:aws:iam::1:role/stackctl/app-2/r",
            "/stackctl/app/"
        ));
        assert!(is_under("arn:aws:iam::1:role/stackctl/app-2/r", ALL));
        assert!(!is_under("arn:aws:iam::1:policy/p", ALL));
    }
}
