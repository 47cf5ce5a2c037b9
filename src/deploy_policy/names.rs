//! The names a stack file makes in every stage, as ARN patterns' parts: the file as written, any stage by
//! pattern (`<name>-*`, or `*` where the name writes `${stage}`), and each `[stages.<name>]` overlay's own.

use std::path::Path;

use crate::config::{self, ConfigError, Selection, Stack};

/// A stage no stack file names: the file loaded with it, each occurrence in a name becomes `*` (any stage).
/// Short, so that a name fits its limit with it whenever it fits with a real stage; lower-case letters and
/// a digit, as a stage must be.
const ANY_STAGE: &str = "qzq0";

/// The stack's names across its stages: each list holds patterns (`*` = any characters), those a broader
/// pattern of the list already covers left out, in a stable order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Names {
    /// `[stack] name`s (an overlay cannot rename the stack, but each is read as written).
    pub stacks: Vec<String>,
    /// The regions the ARNs name: `--region`'s when given, else `*` (a run's `--region` overrides the file,
    /// so the file's region is no bound; the names are: see docs/decisions.md).
    pub regions: Vec<String>,
    /// The account id, or `*` when not given (`--account`).
    pub account: String,
    pub tables: Vec<String>,
    pub roles: Vec<String>,
    pub policies: Vec<String>,
    pub functions: Vec<String>,
    pub log_groups: Vec<String>,
    /// `role.managed_policies` ARNs of every stage: what up attaches to (and down detaches from) the role.
    pub managed_policies: Vec<String>,
}

impl Names {
    /// Reads the stack file: as written (skipped when a name writes `${stage}`, which needs a stage), with any
    /// stage, and with each declared stage. Errors are the file's (exit 64).
    pub fn of_file(
        path: &Path,
        region: Option<&str>,
        account: Option<&str>,
        today: &str,
    ) -> Result<Names, ConfigError> {
        let kinds = crate::resources::contributed();
        let load = |stage: Option<&str>| {
            config::load_selected(path, today, Selection { stage, region }, &kinds)
        };
        // Any stage first: its errors are the file's own; the unstaged load then fails only for `${stage}`.
        let any = load(Some(ANY_STAGE))?;
        refuse_too_wide(path, &any)?;
        let mut stacks = vec![(any, true)];
        if let Ok(written) = load(None) {
            stacks.insert(0, (written, false));
        }
        for stage in config::declared_stages(path)? {
            stacks.push((load(Some(&stage))?, false));
        }
        let mut names = Names {
            regions: vec![region.unwrap_or("*").to_string()],
            account: account.unwrap_or("*").to_string(),
            ..Names::default()
        };
        for (stack, pattern) in &stacks {
            names.add(stack, *pattern);
        }
        names.prune();
        Ok(names)
    }

    fn add(&mut self, stack: &Stack, pattern: bool) {
        let put = |name: &str| {
            if pattern {
                name.replace(ANY_STAGE, "*")
            } else {
                name.to_string()
            }
        };
        self.stacks.push(stack.name.clone());
        self.tables.push(put(&stack.table.name));
        self.roles.push(put(&stack.role.name));
        self.policies.push(put(&stack.policy.name));
        self.managed_policies
            .extend(stack.role.managed_policy_arns.iter().cloned());
        for function in stack.functions() {
            self.functions.push(put(&function.spec.name));
            self.log_groups.push(put(&function.log_group.name));
        }
    }

    /// Drops duplicates and names a pattern of the same list already matches.
    fn prune(&mut self) {
        for list in [
            &mut self.stacks,
            &mut self.tables,
            &mut self.roles,
            &mut self.policies,
            &mut self.functions,
            &mut self.log_groups,
            &mut self.managed_policies,
        ] {
            *list = without_covered(std::mem::take(list));
        }
    }

    /// Names made for one region list entry each: `arn:aws:<service>:<region>:<account>:<resource>`.
    pub fn arns(&self, service: &str, resources: &[String]) -> Vec<String> {
        self.regions
            .iter()
            .flat_map(|region| {
                resources
                    .iter()
                    .map(move |r| format!("arn:aws:{service}:{region}:{}:{r}", self.account))
            })
            .collect()
    }

    /// An IAM ARN (global: no region).
    pub fn iam_arn(&self, resource: &str) -> String {
        format!("arn:aws:iam::{}:{resource}", self.account)
    }
}

/// Refuses a stack file whose names would make the policy reach beyond the stack: a name that begins with
/// `${stage}` (its pattern would begin with `*`: every table or function of the account), or any name holding
/// the stand-in stage itself (its text would be read as "any stage").
fn refuse_too_wide(path: &Path, any: &Stack) -> Result<(), ConfigError> {
    let mut named = vec![
        ("table.name".to_string(), any.table.name.clone()),
        ("role.name".to_string(), any.role.name.clone()),
        ("policy.name".to_string(), any.policy.name.clone()),
    ];
    for function in any.functions() {
        named.push((function.name_field.clone(), function.spec.name.clone()));
    }
    let refuse = |field: &str, message: String, fix: &str| ConfigError {
        file: path.to_path_buf(),
        position: None,
        field: Some(field.to_string()),
        message,
        fix: Some(fix.to_string()),
    };
    if std::fs::read_to_string(path).is_ok_and(|text| text.contains(ANY_STAGE)) {
        return Err(refuse(
            "stack",
            format!(
                "the file contains `{ANY_STAGE}`, the stand-in `stackctl policy` reads as \"any stage\": the \
                 policy would cover names that are not the stack's"
            ),
            "rename what holds it",
        ));
    }
    for (field, name) in named {
        if name.starts_with(ANY_STAGE) {
            return Err(refuse(
                &field,
                "the name begins with `${stage}`: `stackctl policy` would have to grant every name of the \
                 account (a pattern beginning with `*`)"
                    .into(),
                "begin the name with fixed text, e.g. the stack's name: `<stack>-${stage}-...`",
            ));
        }
    }
    Ok(())
}

/// `all` without duplicates and without the entries another entry's pattern matches, in their order.
pub fn without_covered(all: Vec<String>) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for (i, name) in all.iter().enumerate() {
        let covered = all
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && other != name && glob(other, name));
        if !covered && !kept.contains(name) {
            kept.push(name.clone());
        }
    }
    kept
}

/// Whether `pattern` (`*` = any run of characters, everything else literal) matches all of `text`, as IAM
/// matches a Resource.
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(after) = text.strip_prefix(head) else {
                return false;
            };
            (0..=after.len())
                .filter(|&i| after.is_char_boundary(i))
                .any(|i| glob(rest, &after[i..]))
        }
    }
}
