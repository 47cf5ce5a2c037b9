//! `stackctl init [DIR] [--name NAME]`: writes a new, working project (stack.toml, policies/, lambda/,
//! .gitignore, CI workflows) from the files this repository ships; no AWS call, no network.

mod templates;
mod write;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::aws::Calls;
use crate::config::ConfigError;
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Outcome, SCHEMA_VERSION};

pub use templates::FILES;

/// The longest name: the prod stage's role `<name>-lambda-role-prod-<region>` is 32 characters more and
/// IAM allows 64 (the longest region code, e.g. `ap-southeast-1`, is 14); other stages then still get at
/// least 64 - (32 + 12) - 1 = 19 characters (`stackctl stage-name` needs 10, `pr-12345` is 8).
pub const MAX_NAME: usize = 32;

/// The region the written stack.toml names (its `[stack] region`).
const REGION: &str = "us-east-1";

#[derive(Serialize)]
struct Initialized {
    #[serde(skip)]
    envelope: Envelope,
    dir: String,
    name: String,
    files: Vec<String>,
}

impl Body for Initialized {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn text(&self, _color: bool) -> String {
        // DIR is the caller's text: a control character in it is shown, never obeyed by the terminal.
        let dir = crate::escape::terminal(&self.dir);
        let mut text = format!("Wrote the stackctl project `{}` in {dir}:\n", self.name);
        for file in &self.files {
            text.push_str(&format!("  {file}\n"));
        }
        text.push_str("Next:\n");
        if self.dir != "." {
            let cd = shell_word(&self.dir);
            text.push_str(&format!("  cd {}\n", crate::escape::terminal(&cd)));
        }
        text.push_str("  stackctl up                 # deploy it (AWS credentials needed)\n");
        text.push_str("  stackctl smoke              # check every route of the deployed API\n");
        text.push_str(
            "  stackctl dev --auth local   # serve it on localhost, against the stack's table",
        );
        text
    }

    fn fields(&self) -> serde_json::Result<Map<String, Value>> {
        fields_of(self)
    }
}

/// Writes the project into `dir` (default: the current directory), named `name` (default: the directory's
/// last component). Bad input or an existing file: a ConfigError (exit 64), nothing written.
pub fn run(dir: Option<&Path>, name: Option<&str>) -> Result<Outcome> {
    let started = Instant::now();
    let dir: PathBuf = dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let name = match name {
        Some(name) => checked(name, &dir, "--name")?,
        None => checked(&default_name(&dir)?, &dir, "the directory's name")?,
    };
    let paths: Vec<&str> = FILES.iter().map(|f| f.path).collect();
    let obstacles = write::obstacles(&dir, &paths);
    if !obstacles.is_empty() {
        return Err(anyhow::Error::new(usage(
            &dir,
            None,
            format!(
                "init writes no file over anything, nor where others could change the project; in the way:\n    {}",
                obstacles.join("\n    ")
            ),
            "move them away, or run `stackctl init` with a new directory of your own",
        )));
    }
    let files: Vec<(&str, String)> = FILES.iter().map(|f| (f.path, f.render(&name))).collect();
    let written = write::write_all(&dir, &files)?;
    let body = Initialized {
        envelope: Envelope {
            schema_version: SCHEMA_VERSION,
            command: "init",
            stack: Some(name.clone()),
            stage: None,
            region: REGION.to_string(),
            aws_calls: Calls::default(),
            duration_ms: started.elapsed().as_millis() as u64,
        },
        dir: dir.display().to_string(),
        name,
        files: written,
    };
    Ok(Outcome::result(body, ExitStatus::Ok))
}

/// The directory's last component (of its absolute path for `.` and the like).
fn default_name(dir: &Path) -> Result<String, ConfigError> {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let last = absolute
        .components()
        .rfind(|c| !matches!(c, std::path::Component::CurDir))
        .and_then(|c| c.as_os_str().to_str().map(str::to_string));
    last.ok_or_else(|| {
        usage(
            dir,
            Some("--name"),
            "the directory has no name to give the project".to_string(),
            "pass `--name <name>` (lower-case letters, digits and `-`, starting with a letter)",
        )
    })
}

/// `name` if every name derived from it fits its service's rule with any stage; otherwise why, naming
/// `source` (`--name` or the directory's name) and a name that would do.
fn checked(name: &str, dir: &Path, source: &str) -> Result<String, ConfigError> {
    let Some(problem) = name_problem(name) else {
        return Ok(name.to_string());
    };
    let suggestion = suggest(name);
    let fix = match (source, suggestion) {
        ("--name", Some(s)) => {
            format!("use e.g. `--name {s}` ({RULE}, at most {MAX_NAME} characters)")
        }
        (_, Some(s)) => {
            format!("pass `--name {s}`, or another name of {RULE}, at most {MAX_NAME} characters")
        }
        (_, None) => format!("pass `--name <name>`: {RULE}, at most {MAX_NAME} characters"),
    };
    Err(usage(dir, Some(source), problem, &fix))
}

const RULE: &str = "lower-case letters, digits and `-`, starting with a letter";

/// Why `name` cannot name a project, or None. Lower case because IAM names are case-insensitive and npm's
/// package names are lower case; the length keeps `<name>-lambda-role-prod-<region>` within IAM's 64.
pub fn name_problem(name: &str) -> Option<String> {
    let shown = name.escape_debug();
    let len = name.chars().count();
    if len == 0 {
        return Some("the project name is empty".to_string());
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some(format!("`{shown}` does not start with a lower-case letter"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!("`{shown}` contains `{}`", bad.escape_debug()));
    }
    if len > MAX_NAME {
        return Some(format!(
            "`{shown}` is {len} characters long; at most {MAX_NAME} keep every name made from it (the prod \
             stage's role `{shown}-lambda-role-prod-<region>`) within IAM's 64"
        ));
    }
    None
}

/// A valid name close to `name` (lower-cased, other characters as `-`), when there is one.
fn suggest(name: &str) -> Option<String> {
    let mut slug = String::new();
    for c in name.chars().map(|c| c.to_ascii_lowercase()) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && (slug.is_empty() || slug.ends_with('-'))) {
            slug.push(c);
        }
    }
    let slug = slug.trim_start_matches(|c: char| !c.is_ascii_lowercase());
    let slug: String = slug.chars().take(MAX_NAME).collect();
    let slug = slug.trim_end_matches('-').to_string();
    name_problem(&slug).is_none().then_some(slug)
}

fn usage(dir: &Path, field: Option<&str>, message: String, fix: &str) -> ConfigError {
    ConfigError {
        file: dir.to_path_buf(),
        position: None,
        field: field.map(str::to_string),
        message,
        fix: Some(fix.to_string()),
    }
}

/// `dir` as one shell word for the "Next" lines (quoted when it holds anything but safe characters).
fn shell_word(dir: &str) -> String {
    if dir
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        dir.to_string()
    } else {
        format!("'{}'", dir.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_selected, Selection};

    #[test]
    fn names_follow_the_rule_and_fit_every_stage() {
        assert_eq!(name_problem("shop"), None);
        assert_eq!(name_problem("my-app-2"), None);
        assert_eq!(name_problem(&"a".repeat(MAX_NAME)), None);
        for bad in ["", "My-App", "1app", "-app", "my_app", "my.app", "é"] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
        assert!(name_problem(&"a".repeat(MAX_NAME + 1)).is_some());
        assert_eq!(suggest("My_App").as_deref(), Some("my-app"));
        assert_eq!(suggest("2nd Shop!").as_deref(), Some("nd-shop"));
        assert_eq!(suggest("___"), None);
    }

    /// The written stack.toml loads with the loader every command uses: unstaged, as `prod` in the longest
    /// region, and as a preview stage; for the longest name too.
    #[test]
    fn the_written_stack_loads_with_every_stage() {
        for name in ["shop", &"s".repeat(MAX_NAME)] {
            let dir = tempfile::tempdir().unwrap();
            let project = dir.path().join("p");
            run(Some(&project), Some(name)).unwrap();
            let path = project.join("stack.toml");
            let today = crate::runtimes::today();
            let kinds = crate::resources::contributed();
            for (stage, region) in [
                (None, None),
                (Some("prod"), Some("ap-southeast-1")),
                (Some("pr-12345"), None),
            ] {
                let stack =
                    load_selected(&path, &today, Selection { stage, region }, &kinds).unwrap();
                assert_eq!(stack.name, name);
            }
            let budget = crate::config::stage_budget(&path, None).unwrap();
            assert!(budget >= 19, "{budget}");
        }
    }

    /// What deploy.yml deploys on every push to main is the protected stage: `down --confirm` refused, the
    /// table kept by deletion protection and point-in-time recovery.
    #[test]
    fn the_deploy_workflow_deploys_the_protected_prod_stage() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("p");
        run(Some(&project), Some("shop")).unwrap();
        let workflow =
            std::fs::read_to_string(project.join(".github/workflows/deploy.yml")).unwrap();
        assert!(
            workflow.contains("      STACKCTL_STAGE: prod "),
            "{workflow}"
        );
        assert!(
            workflow.contains("    environment: production\n"),
            "{workflow}"
        );
        let today = crate::runtimes::today();
        let kinds = crate::resources::contributed();
        let selection = Selection {
            stage: Some("prod"),
            region: None,
        };
        let stack = load_selected(&project.join("stack.toml"), &today, selection, &kinds).unwrap();
        assert!(stack.protected_stage.is_some());
        assert!(stack.table.deletion_protection);
        let preview =
            std::fs::read_to_string(project.join(".github/workflows/preview.yml")).unwrap();
        assert_eq!(
            preview.matches("    environment: preview").count(),
            2,
            "{preview}"
        );
    }

    #[test]
    fn the_text_shows_a_control_character_in_dir_and_never_sends_it() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a\u{1b}[2Jb");
        let outcome = run(Some(&odd), Some("shop")).unwrap();
        let Outcome::Result { body, .. } = outcome else {
            panic!("init returns a result")
        };
        let text = body.text(false);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("a\\u{1b}[2Jb"), "{text}");
        assert!(odd.join("stack.toml").exists());
    }

    #[test]
    fn a_refusal_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stack.toml"), "mine").unwrap();
        let Err(err) = run(Some(dir.path()), Some("shop")) else {
            panic!("init wrote over stack.toml")
        };
        assert!(err.downcast_ref::<ConfigError>().is_some());
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
        assert!(run(Some(&dir.path().join("x")), Some("Shop")).is_err());
        assert!(!dir.path().join("x").exists());
    }
}
