//! Stages: one stack file, many environments. A stage name is checked (`stage_problem`), made from a git
//! ref for CI (`stage_name`), put into every physical name (`Checker::physical_name`: a `-<stage>` suffix,
//! or where the name writes `${stage}`), and `[stages.<name>]` overlays are merged into the base file
//! (`Section::apply`, declared with each section in config/raw.rs: the base is always inherited; an overlay
//! adds or replaces keys, never removes).

use sha2::{Digest, Sha256};
use toml::Spanned;

use super::names::NameRule;
use super::raw::RawFile;
use super::resolve::Checker;
use super::schema::Section;
use super::ConfigError;

/// How a stage name is written, for messages.
pub const STAGE_RULE: &str = "lower-case letters, digits and `-`, starting with a letter";

/// Hex digits of the hash `stage_name` appends.
const HASH_CHARS: usize = 8;

/// What is wrong with a stage name, as (message, fix); None when it is valid. Only lower-case letters,
/// digits and `-`: they are valid in every AWS name stackctl makes (tables, roles, policies, functions, log
/// groups) and in tags, and lower case because IAM names are case-insensitive (`Prod` and `prod` would be
/// one role).
pub fn stage_problem(stage: &str) -> Option<(String, String)> {
    let fix = |stage: &str| {
        format!(
            "use {STAGE_RULE}, e.g. `{}` (`stackctl stage-name '{}'` makes one from a branch name)",
            stage_name(stage, usize::MAX, &[]),
            stage.escape_debug()
        )
    };
    let first = stage.chars().next();
    if first.is_none() {
        return Some(("the stage name is empty".into(), fix("preview")));
    }
    if !first.is_some_and(|c| c.is_ascii_lowercase()) {
        return Some((
            format!(
                "the stage name `{}` does not start with a lower-case letter",
                stage.escape_debug()
            ),
            fix(stage),
        ));
    }
    let bad = stage
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))?;
    Some((
        format!(
            "the stage name `{}` contains `{}`",
            stage.escape_debug(),
            bad.escape_debug()
        ),
        fix(stage),
    ))
}

/// A stage name for a git ref or branch, at most `budget` characters (at least `HASH_CHARS + 2`): a
/// leading `refs/heads/` dropped, lower case, every run of other characters (`/`, `.`, `_`, non-ASCII, ...)
/// one `-`, prefixed with `r-` when it would not start with a letter, shortened to leave room, then always
/// `-` and a hash of the ref. The hash is never left out, so the result is never a name a person chose
/// (`prod`, `staging`: a branch named `prod` gives `prod-<hash>`, and a preview's teardown can never reach
/// prod) and never the input itself; `fix/foo` and `fix-foo` get different stages. Should it equal one of
/// `declared` (the file's `[stages.<name>]`), the hash is drawn again, of the ref and a counter. Stable: the
/// same ref (with or without `refs/heads/`) and the same declared stages always give the same stage.
pub fn stage_name(input: &str, budget: usize, declared: &[String]) -> String {
    let budget = budget.max(HASH_CHARS + 2);
    let text = input.strip_prefix("refs/heads/").unwrap_or(input);
    let mut mapped = String::new();
    for c in text.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            mapped.push(c);
        } else if c.is_ascii_uppercase() {
            mapped.push(c.to_ascii_lowercase());
        } else if !mapped.ends_with('-') {
            mapped.push('-');
        }
    }
    let mut mapped = mapped.trim_matches('-').to_string();
    if !mapped.starts_with(|c: char| c.is_ascii_lowercase()) {
        mapped.insert_str(0, if mapped.is_empty() { "r" } else { "r-" });
    }
    let room = budget - HASH_CHARS - 1;
    if mapped.len() > room {
        mapped.truncate(room);
        mapped.truncate(mapped.trim_end_matches('-').len());
    }
    let mut drawn = 0u64;
    loop {
        let salted = match drawn {
            0 => text.to_string(),
            n => format!("{text}\0{n}"),
        };
        let stage = format!("{mapped}-{}", hex_hash(&salted));
        if stage != input && !declared.contains(&stage) {
            return stage;
        }
        drawn += 1;
    }
}

fn hex_hash(input: &str) -> String {
    Sha256::digest(input.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..HASH_CHARS]
        .to_string()
}

/// One physical name as the stack file writes it, with the stage put in.
pub(super) struct Staged {
    pub(super) name: String,
    /// How many characters of `name` do not depend on the stage, and how often the stage appears: the
    /// longest stage that fits a limit is `(limit - fixed) / times`.
    pub(super) fixed: usize,
    pub(super) times: usize,
}

/// `text` with `${stage}` and `${region}` put in; without `${stage}` and with a stage, `-<stage>` is
/// appended. Err: the first placeholder that is neither (or `${stage}` without a stage), as its name.
pub(super) fn stage_into(text: &str, stage: Option<&str>, region: &str) -> Result<Staged, String> {
    let mut name = String::new();
    let mut rest = text;
    let mut times = 0;
    let mut fixed = 0;
    while let Some(start) = rest.find("${") {
        name.push_str(&rest[..start]);
        fixed += rest[..start].chars().count();
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(after.to_string());
        };
        match (&after[..end], stage) {
            ("stage", Some(stage)) => {
                name.push_str(stage);
                times += 1;
            }
            ("region", _) => {
                name.push_str(region);
                fixed += region.chars().count();
            }
            (other, _) => return Err(other.to_string()),
        }
        rest = &after[end + 1..];
    }
    name.push_str(rest);
    fixed += rest.chars().count();
    if times == 0 {
        if let Some(stage) = stage {
            name.push('-');
            name.push_str(stage);
            fixed += 1;
            times = 1;
        }
    }
    Ok(Staged { name, fixed, times })
}

impl Checker<'_> {
    /// A physical name: the stage put in (`stage_into`), then checked against the service's rule. A name
    /// that only a stage makes too long says so, with the longest stage that fits; names are never cut.
    pub(super) fn physical_name(
        &self,
        value: &Spanned<String>,
        field: &str,
        what: &str,
        rule: NameRule,
    ) -> Result<String, ConfigError> {
        let staged = stage_into(value.get_ref(), self.stage, self.region).map_err(|name| {
            let (message, fix) = if name == "stage" {
                (
                    "the name places `${stage}`, but no stage was given".to_string(),
                    "pass `--stage <name>` (or set STACKCTL_STAGE), or write the name without `${stage}`"
                        .to_string(),
                )
            } else {
                (
                    format!("unknown placeholder `${{{name}}}` in a name"),
                    "names take only `${stage}` and `${region}`".to_string(),
                )
            };
            self.error(value.span(), field, message, fix)
        })?;
        let len = staged.name.chars().count();
        match (self.stage, rule.problem(&staged.name)) {
            (_, None) => Ok(staged.name),
            (Some(stage), Some(_)) if len > rule.max && staged.fixed < rule.max => {
                let longest = (rule.max - staged.fixed) / staged.times;
                Err(self.error(
                    value.span(),
                    field,
                    format!(
                        "with stage `{stage}`, the {what} name `{}` is {len} characters long; {} allows at most {}",
                        staged.name, rule.what, rule.max
                    ),
                    format!(
                        "use a stage name of at most {longest} characters (`stackctl stage-name` makes one that \
                         fits), or shorten `{field}`"
                    ),
                ))
            }
            (_, Some((message, fix))) => Err(self.error(value.span(), field, message, fix)),
        }
    }

    /// The longest stage every physical name of `raw` can take (what `stackctl stage-name` stays within).
    pub(super) fn stage_budget(&self, raw: &RawFile) -> usize {
        let mut names = Vec::new();
        raw.stage_names(&mut names);
        names
            .iter()
            .filter_map(|(name, rule)| {
                let staged = stage_into(name.get_ref(), Some(""), self.region).ok()?;
                Some(rule.max.saturating_sub(staged.fixed) / staged.times.max(1))
            })
            .min()
            .unwrap_or(0)
    }

    /// Every `[stages.<name>]` name is a valid stage name.
    pub(super) fn stage_names(&self, raw: &RawFile) -> Result<(), ConfigError> {
        for name in raw.stages.keys() {
            if let Some((message, fix)) = stage_problem(name.get_ref()) {
                return Err(self.error(
                    name.span(),
                    &format!("stages.{}", name.get_ref()),
                    message,
                    fix,
                ));
            }
        }
        Ok(())
    }

    /// The base file with `stage`'s overlay merged in (when the file has one).
    pub(super) fn overlay(
        &self,
        raw: &RawFile,
        stage: Option<&str>,
    ) -> Result<RawFile, ConfigError> {
        self.protected_in_base(raw)?;
        let mut merged = raw.clone();
        let found = stage.and_then(|stage| raw.stages.iter().find(|(k, _)| k.get_ref() == stage));
        if let Some((name, overlay)) = found {
            if let Err(key) = merged.apply(overlay.clone()) {
                // Only a table the overlay adds has keys it must write: `[function.url]`'s `auth`.
                let stage = name.get_ref();
                let (table, key) = key.rsplit_once('.').unwrap_or(("", &key));
                let or = if key == "auth" { " (or \"none\")" } else { "" };
                let example = super::hints::example(&format!("{table}.{key}")).unwrap_or(key);
                return Err(self.error(
                    name.span(),
                    &format!("stages.{stage}.{table}.{key}"),
                    format!(
                        "the required key `{key}` is missing: the base file has no `[{table}]`, so a stage \
                         that adds one writes its {key}"
                    ),
                    format!("add `{example}`{or} under `[stages.{stage}.{table}]`"),
                ));
            }
        }
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::config::test_support::{project, TODAY};
    use crate::config::{parse_selected, Selection, Stack};

    /// The shipped stack file's budget: `my-frontend-app-lambda-role` leaves 64 - 28 characters.
    const SHIPPED_BUDGET: usize = 36;

    fn staged(edit: impl Fn(String) -> String, stage: Option<&str>) -> Result<Stack, ConfigError> {
        let dir = project();
        let path = dir.path().join("stack.toml");
        let text = edit(std::fs::read_to_string(&path).unwrap());
        std::fs::write(&path, &text).unwrap();
        parse_selected(
            &path,
            &text,
            TODAY,
            Selection {
                stage,
                region: None,
            },
            &crate::resources::contributed(),
        )
    }

    #[test]
    fn without_a_stage_every_name_is_as_written_and_with_one_it_is_suffixed() {
        let plain = staged(|t| t, None).unwrap();
        assert_eq!(plain.table.name, "my-frontend-app-data");
        assert_eq!(plain.stage, None);
        assert!(!plain.resource_tags().contains_key(crate::config::STAGE_TAG));
        let pr = staged(|t| t, Some("pr-12")).unwrap();
        assert_eq!(pr.table.name, "my-frontend-app-data-pr-12");
        assert_eq!(pr.role.name, "my-frontend-app-lambda-role-pr-12");
        assert_eq!(pr.policy.name, "MyFrontendAppLambdaDynamoDB-pr-12");
        assert_eq!(pr.function.name, "my-frontend-app-api-pr-12");
        assert_eq!(pr.log_group.name, "/aws/lambda/my-frontend-app-api-pr-12");
        assert_eq!(pr.resource_tags()[crate::config::STAGE_TAG], "pr-12");
        assert_eq!(pr.iam_resource_tags()[crate::config::STAGE_TAG], "pr-12");
    }

    #[test]
    fn a_name_may_place_the_stage_and_the_region_itself() {
        let edit = |t: String| {
            t.replace(
                "name = \"my-frontend-app-lambda-role\"",
                "name = \"app-${stage}-${region}-role\"",
            )
        };
        let stack = staged(edit, Some("live")).unwrap();
        assert_eq!(stack.role.name, "app-live-us-east-1-role");
        let err = staged(edit, None).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("role.name"));
        assert!(err.message.contains("no stage was given"), "{err}");
        let err = staged(
            |t| t.replace("my-frontend-app-data", "data-${branch}"),
            Some("a"),
        )
        .unwrap_err();
        assert!(err.message.contains("`${branch}`"), "{err}");
    }

    #[test]
    fn ownership_needs_the_stack_and_the_stage() {
        let prod = staged(|t| t, Some("live")).unwrap();
        let plain = staged(|t| t, None).unwrap();
        let pr = staged(|t| t, Some("pr-1")).unwrap();
        assert!(prod.owns(&prod.resource_tags()));
        assert!(!prod.owns(&plain.resource_tags()));
        assert!(!plain.owns(&prod.resource_tags()));
        assert!(!pr.owns(&prod.resource_tags()));
        assert!(plain.owns(&plain.resource_tags()));
        // Whose a resource is when it is not this deployment's: untagged is nobody's (it may be adopted).
        assert_eq!(pr.other_owner(&pr.resource_tags()), None);
        assert_eq!(pr.other_owner(&BTreeMap::new()), None);
        assert_eq!(
            pr.other_owner(&prod.resource_tags()),
            Some(("my-frontend-app", Some("live")))
        );
        assert_eq!(
            pr.other_owner(&plain.resource_tags()),
            Some(("my-frontend-app", None))
        );
        let mut theirs = pr.resource_tags();
        theirs.insert(crate::config::OWNER_TAG.into(), "someone-else".into());
        assert_eq!(
            pr.other_owner(&theirs),
            Some(("someone-else", Some("pr-1")))
        );
        let note = pr.other_owner_note("function.name", "someone-else", Some("pr-1"));
        assert!(
            note.starts_with("owned by stack `someone-else`, stage `pr-1`")
                && note.contains("(`function.name`)")
                && note.contains("--stage pr-1"),
            "{note}"
        );
        let note = pr.other_owner_note("table.name", "my-frontend-app", Some("live"));
        assert!(
            note.starts_with("owned by stage `live` of this stack")
                && note.contains("`--stage live`"),
            "{note}"
        );
        let note = pr.other_owner_note("table.name", "my-frontend-app", None);
        assert!(note.contains("without `--stage`"), "{note}");
    }

    #[test]
    fn overlays_inherit_the_base_and_replace_what_they_write() {
        let overlay =
            "\n[stages.live]\ntable.deletion_protection = true\nfunction.memory_mb = 512\n\
                       \n[stages.live.function.environment]\nLOG_LEVEL = \"warn\"\n";
        let edit = |t: String| t + overlay;
        let prod = staged(edit, Some("live")).unwrap();
        assert!(prod.table.deletion_protection);
        assert_eq!(prod.function.memory_mb, 512);
        assert_eq!(prod.function.environment["LOG_LEVEL"], "warn");
        assert_eq!(prod.function.environment["TABLE_NAME"], "${table.name}");
        assert_eq!(prod.function.timeout_secs, 10);
        assert_eq!(prod.table.name, "my-frontend-app-data-live");
        let dev = staged(edit, Some("dev")).unwrap();
        assert!(!dev.table.deletion_protection);
        assert_eq!(dev.function.memory_mb, 128);
        let plain = staged(edit, None).unwrap();
        assert_eq!(plain.function.memory_mb, 128);
    }

    #[test]
    fn an_overlay_adds_a_url_only_with_its_auth_and_merges_cors_key_by_key() {
        let base_url = "\n[function.url]\nauth = \"none\"\n\n[function.url.cors]\n\
                        allow_origins = [\"https://app.example.com\"]\nmax_age = 300\n";
        let overlay =
            "\n[stages.live.function.url.cors]\nallow_origins = [\"https://example.com\"]\n";
        let prod = staged(|t| t + base_url + overlay, Some("live")).unwrap();
        let cors = prod.url.unwrap().cors.unwrap();
        assert_eq!(cors.allow_origins, vec!["https://example.com"]);
        assert_eq!(cors.max_age, Some(300));
        staged(|t| t + overlay, Some("dev")).unwrap();
        let err = staged(|t| t + overlay, Some("live")).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("stages.live.function.url.auth"),
            "{err}"
        );
    }

    #[test]
    fn a_stage_may_allow_an_anonymous_url_and_a_stage_that_adds_auth_may_not() {
        let edit = |t: String| {
            t + "\n[function.url]\nauth = \"none\"\n\n[stages.demo.function.url]\nallow_anonymous = true\n"
        };
        assert_eq!(staged(edit, Some("demo")).unwrap().anonymous_url, None);
        let refusal = staged(edit, None).unwrap().anonymous_url.unwrap();
        assert_eq!(refusal.field.as_deref(), Some("function.url.auth"));
        let refusal = staged(edit, Some("live")).unwrap().anonymous_url.unwrap();
        assert!(refusal
            .fix
            .unwrap()
            .ends_with("(or `[stages.live.function.url]`)"),);
        let edit = |t: String| {
            t + "\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n\n[stages.live.auth]\n\
                 issuer = \"https://issuer.example\"\naudience = \"api\"\n"
        };
        staged(edit, Some("dev")).unwrap();
        let err = staged(edit, Some("live")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("function.url.allow_anonymous"));
        assert!(
            err.fix
                .unwrap()
                .contains("writes `allow_anonymous = false`"),
            "the fix names the stage's way out"
        );
    }

    #[test]
    fn a_stage_overlays_the_deploy_section_key_by_key_or_adds_it() {
        let edit = |t: String| {
            t + "\n[function.deploy]\nkeep_versions = 3\n\n[stages.pr.function.deploy]\nalias = \"preview\"\n\n\
                 [stages.bad.function.deploy]\nalias = \"7\"\n"
        };
        let base = staged(edit, None).unwrap().deploy.unwrap();
        assert_eq!((base.alias.as_str(), base.keep_versions), ("live", 3));
        let pr = staged(edit, Some("pr")).unwrap().deploy.unwrap();
        assert_eq!((pr.alias.as_str(), pr.keep_versions), ("preview", 3));
        let err = staged(edit, Some("bad")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("function.deploy.alias"));
        // A stage may add the section the base file has not.
        let edit = |t: String| t + "\n[stages.canary.function.deploy]\nverify = \"none\"\n";
        assert_eq!(staged(edit, None).unwrap().deploy, None);
        let canary = staged(edit, Some("canary")).unwrap().deploy.unwrap();
        assert_eq!(canary.verify, crate::config::Verify::None);
    }

    #[test]
    fn a_stage_is_resolved_when_it_is_deployed_and_its_mistakes_point_at_the_overlay() {
        let edit = |t: String| t + "\n[stages.live]\nfunction.memory_mb = 1\n";
        staged(edit, Some("dev")).unwrap();
        let err = staged(edit, Some("live")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("function.memory_mb"));
        assert_eq!(err.position.unwrap().0, 38, "{err}");
        let err = staged(|t| t + "\n[stages.Prod]\n", None).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("stages.Prod"));
        assert!(err.message.contains("lower-case letter"), "{err}");
    }

    #[test]
    fn an_overlay_key_that_is_not_a_stack_toml_key_is_named() {
        let err = staged(
            |t| t + "\n[stages.live.table]\ndeletion_protect = true\n",
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("stages.live.table.deletion_protect")
        );
        assert!(
            err.fix
                .as_deref()
                .unwrap()
                .contains("did you mean `deletion_protection`"),
            "{err}"
        );
        let err = staged(|t| t + "\n[stage.live]\n", None).unwrap_err();
        assert!(
            err.message.ends_with("`function`, `auth`, `timeouts`"),
            "{err}"
        );
        assert!(
            err.fix
                .as_deref()
                .unwrap()
                .contains("did you mean `stages`"),
            "{err}"
        );
    }

    #[test]
    fn a_stage_that_makes_a_name_too_long_is_refused_with_the_longest_that_fits() {
        let stage = "a".repeat(SHIPPED_BUDGET + 1);
        let err = staged(|t| t, Some(&stage)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("role.name"));
        assert_eq!(
            err.message,
            format!(
                "with stage `{stage}`, the role name `my-frontend-app-lambda-role-{stage}` is 65 characters \
                 long; IAM (role names) allows at most 64"
            )
        );
        assert!(err
            .fix
            .unwrap()
            .starts_with("use a stage name of at most 36 characters"),);
        staged(|t| t, Some(&"a".repeat(SHIPPED_BUDGET))).unwrap();
    }

    #[test]
    fn the_budget_is_the_tightest_base_name() {
        let dir = project();
        let path = dir.path().join("stack.toml");
        assert_eq!(
            crate::config::stage_budget(&path, None).unwrap(),
            SHIPPED_BUDGET
        );
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "name = \"my-frontend-app-api\"",
            "name = \"a-much-longer-function-name-for-${stage}-x\"",
        );
        std::fs::write(&path, text).unwrap();
        // 64 - 34 characters that are not the stage.
        assert_eq!(crate::config::stage_budget(&path, None).unwrap(), 30);
    }

    #[test]
    fn the_shipped_prod_stage_is_protected_and_has_its_iam_names_per_region() {
        let prod = staged(|t| t, Some("prod")).unwrap();
        assert!(prod.table.deletion_protection);
        assert_eq!(
            prod.table.point_in_time_recovery,
            Some(crate::config::PointInTimeRecovery::Days(35))
        );
        assert_eq!(
            staged(|t| t, None).unwrap().table.point_in_time_recovery,
            None
        );
        // Protected in AWS, not in the file: `down --confirm` of prod is refused by the table's protection.
        assert!(prod.protected_stage.is_none());
        assert!(!staged(|t| t, None).unwrap().table.deletion_protection);
        assert!(
            !staged(|t| t, Some("pr-1"))
                .unwrap()
                .table
                .deletion_protection
        );
        assert_eq!(prod.table.name, "my-frontend-app-data-prod");
        assert_eq!(prod.role.name, "my-frontend-app-lambda-role-prod-us-east-1");
        assert_eq!(
            prod.policy.name,
            "MyFrontendAppLambdaDynamoDB-prod-us-east-1"
        );
        let dir = project();
        let path = dir.path().join("stack.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let west = parse_selected(
            &path,
            &text,
            TODAY,
            Selection {
                stage: Some("prod"),
                region: Some("eu-west-1"),
            },
            &crate::resources::contributed(),
        )
        .unwrap();
        assert_eq!(west.role.name, "my-frontend-app-lambda-role-prod-eu-west-1");
    }

    #[test]
    fn stage_names_follow_the_rule() {
        assert_eq!(stage_problem("pr-12"), None);
        assert_eq!(stage_problem("prod"), None);
        for bad in ["", "Prod", "1st", "-a", "a_b", "a/b", "é"] {
            assert!(stage_problem(bad).is_some(), "{bad}");
        }
        let (message, fix) = stage_problem("fix/foo").unwrap();
        assert_eq!(message, "the stage name `fix/foo` contains `/`");
        assert!(
            fix.contains(&stage_name("fix/foo", usize::MAX, &[])),
            "{fix}"
        );
    }

    #[test]
    fn stage_name_examples() {
        let name = |input: &str| stage_name(input, 36, &[]);
        // The README's examples, exactly.
        assert_eq!(name("feature/Login_v2"), "feature-login-v2-181d1296");
        assert_eq!(name("pr-17"), "pr-17-9aa12d00");
        assert_eq!(name("refs/heads/main"), "main-0d6e4079");
        assert_eq!(name("prod"), "prod-6754af96");
        // A valid stage is never passed through: the hash is always there.
        assert_eq!(name("main"), "main-0d6e4079");
        assert_eq!(name("fix/foo"), "fix-foo-528e1f7c");
        assert_eq!(name("fix-foo"), "fix-foo-2fa93159");
        assert!(name("123").starts_with("r-123-"));
        assert!(name("日本").starts_with("r-"));
        assert_eq!(name(&"x".repeat(40)).len(), 36);
        assert!(name(&"x".repeat(40)).starts_with(&format!("{}-", "x".repeat(27))));
    }

    #[test]
    fn stage_name_never_answers_a_declared_stage_and_stays_stable() {
        let first = stage_name("fix/foo", 36, &[]);
        let declared = vec!["prod".to_string(), first.clone()];
        let again = stage_name("fix/foo", 36, &declared);
        assert_ne!(again, first);
        assert!(
            again.starts_with("fix-foo-") && again.len() == 16,
            "{again}"
        );
        assert_eq!(stage_name("fix/foo", 36, &declared), again);
        assert_eq!(stage_problem(&again), None);
        // The second draw declared too: a third.
        let declared = vec![first.clone(), again.clone()];
        let third = stage_name("fix/foo", 36, &declared);
        assert!(third != first && third != again, "{third}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn stage_name_is_always_valid_stable_and_within_budget(
            input in "\\PC{0,80}|[a-zA-Z0-9/._-]{0,80}",
            budget in 10usize..80,
        ) {
            let stage = stage_name(&input, budget, &[]);
            prop_assert_eq!(stage_problem(&stage), None, "{:?} -> {:?}", input, stage);
            prop_assert!(stage.len() <= budget, "{:?} -> {:?}", input, stage);
            prop_assert_eq!(&stage_name(&input, budget, &[]), &stage);
            // Never a name a person chose: not the input, even when the input is a valid stage (`prod`).
            prop_assert_ne!(&stage, &input);
            prop_assert_ne!(&stage_name(&stage, budget, &[]), &stage);
        }

        #[test]
        fn stage_name_never_equals_a_declared_stage(
            input in "\\PC{0,40}|[a-z][a-z0-9-]{0,20}",
            others in prop::collection::vec("[a-z][a-z0-9-]{0,20}", 0..4),
            budget in 10usize..60,
        ) {
            // The file declares the input, other stages, and what stage-name would answer without them.
            let mut declared = others;
            declared.push(input.clone());
            declared.push(stage_name(&input, budget, &[]));
            let stage = stage_name(&input, budget, &declared);
            prop_assert!(!declared.contains(&stage), "{:?} -> {:?} (declared {:?})", input, stage, declared);
            prop_assert_eq!(stage_problem(&stage), None);
            prop_assert!(stage.len() <= budget);
            prop_assert_eq!(&stage_name(&input, budget, &declared), &stage);
        }

        #[test]
        fn inputs_that_map_to_the_same_text_get_different_stages(
            words in prop::collection::vec("[a-z0-9]{1,8}", 1..5),
            seps in prop::collection::vec(prop::sample::select(vec!["/", ".", "_", "-", "--", " ", "ü"]), 4),
        ) {
            let join = |with: &dyn Fn(usize) -> &'static str| {
                let mut text = words[0].clone();
                for (i, w) in words.iter().enumerate().skip(1) {
                    text.push_str(with(i));
                    text.push_str(w);
                }
                text
            };
            let plain = join(&|_| "-");
            let mixed = join(&|i| seps[i % seps.len()]);
            prop_assume!(plain != mixed && words[0].starts_with(|c: char| c.is_ascii_lowercase()));
            prop_assert_ne!(stage_name(&plain, 36, &[]), stage_name(&mixed, 36, &[]));
        }

        #[test]
        fn a_stage_name_within_the_budget_fits_every_name_of_the_shipped_stack(input in "\\PC{0,60}") {
            let stage = stage_name(&input, SHIPPED_BUDGET, &[]);
            let stack = staged(|t| t, Some(&stage));
            prop_assert!(stack.is_ok(), "{:?}: {:?}", stage, stack.err());
        }
    }
}
