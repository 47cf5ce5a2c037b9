//! `stackctl rollback [--to VERSION]`: moves the stack's alias (`[function.deploy]`) back to the version it
//! replaced (the alias's Description records it: no state file), or to `--to`, in ONE UpdateAlias guarded by
//! the alias's RevisionId as read. The move records the version it leaves, so a second rollback flips
//! forward again. Reads first (GetFunction for the tags: only the stack's own function; GetAlias; for the
//! target, GetFunctionConfiguration with its number as Qualifier) and refuses, writing nothing, a target
//! that does not exist or that the stack did not publish.

use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::aws::Clients;
use crate::config::{ConfigError, Stack};
use crate::escape;
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Outcome};
use crate::progress::Progress;
use crate::resources::alias::{api, LiveAlias, Version};

/// The result of `stackctl rollback`.
#[derive(Debug, Serialize)]
pub struct RollbackReport {
    #[serde(skip)]
    pub envelope: Envelope,
    pub function: String,
    pub alias: String,
    /// The version the alias served before.
    pub from: String,
    /// The version it serves now.
    pub to: String,
    /// Whether the alias was moved (false: it already served `to`; nothing was written).
    pub changed: bool,
}

impl Body for RollbackReport {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn text(&self, _color: bool) -> String {
        let text = if self.changed {
            format!(
                "alias {} of {}: version {} → {} (`stackctl rollback` again returns it to {})",
                self.alias, self.function, self.from, self.to, self.from
            )
        } else {
            format!(
                "alias {} of {} already serves version {}: nothing changed",
                self.alias, self.function, self.to
            )
        };
        escape::terminal(&text).into_owned()
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
        fields_of(self)
    }
}

/// What rollback does, decided from the alias as read and `--to` before the target is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The alias already serves the target: nothing to write (exit 0).
    Already(String),
    /// Move the alias from the version it serves to `to`.
    Move { from: String, to: String },
}

/// The target: `--to`, else the version the alias's Description records it replaced. Refused (Err, the
/// reason) when there is neither. Pure.
pub fn decide(alias: &LiveAlias, to: Option<u64>) -> Result<Decision, String> {
    let target = match (to, &alias.replaced) {
        (Some(n), _) => n.to_string(),
        (None, Some(replaced)) => replaced.clone(),
        (None, None) => {
            return Err(format!(
                "alias `{}` records no version it replaced (it serves the first version up published, or its \
                 description `{}` was not written by stackctl): nothing was changed; pass --to VERSION \
                 (`stackctl versions` lists them)",
                alias.name,
                alias.description.escape_debug()
            ))
        }
    };
    if target == alias.version {
        return Ok(Decision::Already(target));
    }
    Ok(Decision::Move {
        from: alias.version.clone(),
        to: target,
    })
}

/// Whether the target may be served: it exists (`found`, GetFunctionConfiguration with its number) and this
/// stack published it (its Description; a version published by hand or by another tool is never a
/// target). Err: the reason, nothing was changed. Pure.
pub fn check_target(stack: &str, target: &str, found: Option<&Version>) -> Result<(), String> {
    match found {
        None => Err(format!(
            "version {target} does not exist (deleted, pruned, or never published): nothing was changed; \
             `stackctl versions` lists the versions there are"
        )),
        Some(v) if !v.is_stacks(stack) => Err(format!(
            "version {target} was not published by stack `{stack}` (its description is `{}`, not `{}`): \
             rollback serves only versions `stackctl up` published (and verified, with verify = \"smoke\"); nothing \
             was changed",
            v.description.escape_debug(),
            api::version_description(stack)
        )),
        Some(_) => Ok(()),
    }
}

/// `stackctl rollback [--to VERSION]`: exit 0 moved (or already there), 1 refused or failed (nothing
/// written), 64 without `[function.deploy]` (nothing sent).
pub async fn run(
    clients: &Clients,
    stack: &Stack,
    to: Option<u64>,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let function = stack.chosen_function();
    let Some(deploy) = &function.deploy else {
        return Err(ConfigError {
            file: stack.file.clone(),
            position: None,
            field: Some(function.field("deploy")),
            message: "rollback moves the alias of a versioned deploy, and this stack has none: up updates \
                      `$LATEST` in place and publishes no versions"
                .into(),
            fix: Some(format!(
                "add [{}] (e.g. `alias = \"live\"`) and run `stackctl up`: later deploys can then be rolled back",
                function.field("deploy")
            )),
        }
        .into());
    };
    let name = function.spec.name.clone();
    let alias_name = &deploy.alias;
    let lambda = &clients.lambda;
    let task = progress.task(format!("rollback {name}"));
    task.set("reading");
    let result = async {
        let live = super::versions::read_owned(clients, stack, &function).await?;
        let Some(alias) = api::read_alias(lambda, &name, alias_name).await? else {
            bail!(
                "alias `{alias_name}` of `{name}` does not exist yet, so there is nothing to roll back: run \
                 `stackctl up` first (it publishes a version and creates the alias)"
            );
        };
        // Only the stack's own alias (as up decides): someone else's traffic may go through one of that name.
        if !api::is_stacks_alias(&live.tags, &alias) {
            bail!(
                "alias `{alias_name}` of `{name}` was not created by this stack (the function's `{}` tag does \
                 not name it, or its description is not stackctl's): stackctl never moves an alias it did not \
                 make; nothing was changed",
                api::ALIAS_TAG
            );
        }
        let decision = decide(&alias, to).map_err(anyhow::Error::msg)?;
        let Decision::Move { from, to } = decision else {
            return Ok((alias.version.clone(), alias.version, false));
        };
        let found = api::read_published(lambda, &name, &to).await?;
        check_target(&stack.name, &to, found.as_ref()).map_err(anyhow::Error::msg)?;
        crate::interrupt::check(&format!("moving alias `{alias_name}`"))?;
        task.set(&format!("moving alias {alias_name} {from} → {to}"));
        // The Description records the version it leaves: the next rollback returns to it, and up does not
        // move forward to it again while `$LATEST` is still that version.
        api::roll_back_alias(
            lambda,
            &name,
            alias_name,
            &to,
            &from,
            alias.revision_id.as_deref(),
        )
        .await?;
        Ok((from, to, true))
    }
    .await;
    let (from, to, changed) = match result {
        Ok(done) => done,
        Err(err) => {
            task.fail("nothing changed");
            return Err(err);
        }
    };
    task.finish(if changed { "moved" } else { "already there" });
    let report = RollbackReport {
        envelope: Envelope::new(
            "rollback",
            stack,
            clients.calls.snapshot(),
            started.elapsed(),
        ),
        function: name,
        alias: alias_name.clone(),
        from,
        to,
        changed,
    };
    Ok(Outcome::result(report, ExitStatus::Ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(version: &str, description: &str) -> LiveAlias {
        LiveAlias {
            name: "live".into(),
            arn: String::new(),
            version: version.into(),
            replaced: api::replaced_in(description),
            rolled_back_from: api::rolled_back_in(description),
            description: description.into(),
            revision_id: Some("r1".into()),
        }
    }

    #[test]
    fn the_target_is_the_replaced_version_unless_to_says() {
        let moved = alias("3", &api::alias_description(Some("2")));
        let back = Decision::Move {
            from: "3".into(),
            to: "2".into(),
        };
        assert_eq!(decide(&moved, None), Ok(back));
        assert_eq!(
            decide(&moved, Some(1)),
            Ok(Decision::Move {
                from: "3".into(),
                to: "1".into()
            })
        );
        // --to the version it serves: nothing to write.
        assert_eq!(decide(&moved, Some(3)), Ok(Decision::Already("3".into())));
    }

    #[test]
    fn without_a_recorded_version_only_to_moves_it() {
        for description in [api::alias_description(None), "set by hand".into()] {
            let first = alias("1", &description);
            let refused = decide(&first, None).unwrap_err();
            assert!(refused.contains("--to VERSION"), "{refused}");
            assert!(refused.contains("nothing was changed"), "{refused}");
            assert!(decide(&first, Some(4)).is_ok());
        }
    }

    /// After a rollback the alias records the version it left: the next rollback goes forward again.
    #[test]
    fn a_second_rollback_flips_forward() {
        let rolled_back = alias("2", &api::alias_description(Some("3")));
        assert_eq!(
            decide(&rolled_back, None),
            Ok(Decision::Move {
                from: "2".into(),
                to: "3".into()
            })
        );
    }

    #[test]
    fn only_an_existing_version_the_stack_published_is_a_target() {
        let version = |description: String| Version {
            version: "2".into(),
            code_sha256: "sha".into(),
            published: String::new(),
            description,
        };
        let ours = version(api::version_description("demo"));
        assert_eq!(check_target("demo", "2", Some(&ours)), Ok(()));
        let gone = check_target("demo", "2", None).unwrap_err();
        assert!(gone.contains("does not exist"), "{gone}");
        for other in [
            String::new(),
            "by hand".into(),
            api::version_description("other"),
        ] {
            let refused = check_target("demo", "2", Some(&version(other))).unwrap_err();
            assert!(
                refused.contains("not published by stack `demo`"),
                "{refused}"
            );
        }
    }
}
