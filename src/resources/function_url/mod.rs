//! The function's URL (`[function.url]`): the URL config (auth type and CORS) and, for `auth = "none"`, the
//! two resource-policy statements a public URL needs since October 2025 (InvokeFunctionUrl with
//! FunctionUrlAuthType NONE, and InvokeFunction only when invoked via the URL). Without both, every request
//! is answered 403 while plain Invoke still works.
//!
//! A URL config carries no tags, so stackctl marks the function instead: the function tag `stackctl:url`
//! (the stack's name) is put on before stackctl creates the URL (and on the stack's URL whenever it is
//! missing) and taken off after it deletes it. The URL of a
//! function this stack owns is the stack's; on a function it did not create, only a marked one is. A URL
//! someone else made on such a function is never changed or deleted, and statements whose Sid is not one of
//! the stack's two are never touched. The marker also spares every stack without `[function.url]` the two
//! URL reads: a function without it has no URL of the stack's to delete.

mod config;
mod moving;
mod permissions;
#[cfg(test)]
mod tests;

pub use config::*;
pub use moving::*;
pub use permissions::*;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_sdk_lambda::types::{Cors, FunctionUrlAuthType};
use aws_sdk_lambda::Client;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::aws::errors::{class_of_code, ErrorClass};
use crate::config::{CorsSpec, Stack, StackFunction, UrlAuth, UrlSpec};
use crate::plan::{Action, Change, Kind, ResourcePlan};
use crate::resources::alias::ALIAS_TAG;
use crate::resources::function::{Function, LiveFunction};
use crate::resources::{finish, Done, ReadCx, World};
use crate::resources::{Address, Dep, Found, Output, Planned, Resource};

/// Plan's line when `[auth]` added the header the token travels in to the URL's CORS config.
pub const AUTHORIZATION_NOTE: &str =
    "`authorization` added to cors.allow_headers for [auth] (browsers send the token in it)";

/// The function tag that marks a URL stackctl created on a function it did not create.
pub const URL_TAG: &str = "stackctl:url";

/// The URL's live state: the config (None: the function has no URL) and the stack's statements found in
/// the function's resource policy (others are not kept: they are never touched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlState {
    pub config: Option<LiveUrlConfig>,
    pub statements: Vec<LiveStatement>,
}

/// Lambda's ResourceNotFoundException, by the one classifier. Its NotFound codes add IAM's NoSuchEntity,
/// which Lambda never answers: the same result for every Lambda answer.
fn not_found<E: aws_sdk_lambda::error::ProvideErrorMetadata>(err: &E) -> bool {
    class_of_code(err.code()) == ErrorClass::NotFound
}

/// What up does to the URL config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWork {
    Keep,
    Create,
    Update,
    Delete,
}

/// What up or down does: the marker (before a URL is created), the config, then the stack's statements
/// (added before the ones they replace are removed, under a new Sid, so the URL never answers 403 in
/// between), then the marker (after a URL is deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlWork {
    pub config: ConfigWork,
    pub remove: Vec<String>,
    /// Each new statement with its Sid.
    pub add: Vec<(Public, String)>,
    /// Some(true): put the marker on (a URL created on a function this stack did not create); Some(false):
    /// take it off (that URL deleted).
    pub marker: Option<bool>,
    /// The stack's URL on the qualifier it moves away from, retired after the new one is in.
    pub retire: Option<Retire>,
}

impl UrlWork {
    fn none() -> UrlWork {
        UrlWork {
            config: ConfigWork::Keep,
            remove: Vec::new(),
            add: Vec::new(),
            marker: None,
            retire: None,
        }
    }
    fn is_noop(&self) -> bool {
        *self == UrlWork::none()
    }
}

/// Who the live URL belongs to, from the function's tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The function does not exist yet: the URL up makes is the stack's.
    NoFunction,
    /// The function is the stack's, so its URL is too.
    Function,
    /// The function is not the stack's, but stackctl created its URL (the `stackctl:url` marker).
    Marked,
    /// The function is not the stack's, and neither is any URL it has.
    Foreign,
}

impl Owner {
    pub fn of(stack: &Stack, function: Option<&LiveFunction>) -> Owner {
        match function {
            None => Owner::NoFunction,
            Some(f) if stack.owns(&f.tags) => Owner::Function,
            Some(f) if f.tags.get(URL_TAG) == Some(&stack.name) => Owner::Marked,
            Some(_) => Owner::Foreign,
        }
    }
    fn owns_url(self) -> bool {
        self != Owner::Foreign
    }
}

/// Whether the function carries the stack's `stackctl:url` marker.
fn marked(stack: &Stack, function: Option<&LiveFunction>) -> bool {
    function.is_some_and(|f| f.tags.get(URL_TAG) == Some(&stack.name))
}

/// What converging the URL to `wanted` does (pure): the changes shown, and the work. `marked`: the function
/// carries the stack's `stackctl:url` marker.
pub fn diff(
    stack: &str,
    wanted: Option<&UrlSpec>,
    live: Option<&UrlState>,
    owner: Owner,
    marked: bool,
) -> (Vec<Change>, UrlWork, Option<String>) {
    let empty = UrlState {
        config: None,
        statements: Vec::new(),
    };
    let live = live.unwrap_or(&empty);
    let mut changes = Vec::new();
    let mut work = UrlWork::none();
    let mut note = None;
    let live_config = live.config.as_ref();
    // The config.
    match (wanted, live_config) {
        (Some(spec), None) => {
            changes.push(Change::add("auth", spec.auth.as_aws()));
            if spec.cors.is_some() {
                changes.push(Change::add("cors", describe_cors(spec.cors.as_ref())));
            }
            work.config = ConfigWork::Create;
            work.marker = (!marked).then_some(true);
        }
        (Some(spec), Some(config)) if owner.owns_url() => {
            if config.auth_type != spec.auth.as_aws() {
                changes.push(Change::modify(
                    "auth",
                    &config.auth_type,
                    spec.auth.as_aws(),
                ));
            }
            let (before, after) = (config.cors.as_ref(), spec.cors.as_ref());
            if canonical(before) != canonical(after) {
                changes.push(Change::modify(
                    "cors",
                    describe_cors(before),
                    describe_cors(after),
                ));
            }
            if !changes.is_empty() {
                work.config = ConfigWork::Update;
            }
            // The stack's URL without the marker (an up killed between creating the URL and marking the
            // function, before the marker came first): without it, removing the section would leave the URL.
            if !marked {
                changes.push(Change::add(format!("tag.{URL_TAG}"), stack));
                work.marker = Some(true);
            }
        }
        (Some(_), Some(config)) => {
            changes.push(Change::keep("auth", &config.auth_type));
            changes.push(Change::keep("cors", describe_cors(config.cors.as_ref())));
            note = Some(
                "the function's own URL (not created by this stack): used as it is; its auth, CORS and \
                 permissions are never changed or deleted"
                    .to_string(),
            );
        }
        (None, Some(config)) if owner.owns_url() => {
            changes.push(Change::remove("url", &config.url));
            work.config = ConfigWork::Delete;
            work.marker = Some(false);
        }
        (None, Some(_)) => {
            note = Some(
                "the function's own URL (not created by this stack, and not in stack.toml): left alone"
                    .to_string(),
            );
        }
        (None, None) if marked => {
            // A marker without a URL (a run killed between marking the function and creating it).
            changes.push(Change::remove(format!("tag.{URL_TAG}"), stack));
            work.marker = Some(false);
        }
        (None, None) => {}
    }
    // The statements: both when the URL is public and the stack's, none otherwise. A URL the stack does
    // not own gets none added, but any statement of the stack's is still the stack's to remove.
    let public = wanted.is_some_and(|s| s.auth == UrlAuth::None)
        && (owner.owns_url() || live_config.is_none());
    let taken: Vec<String> = live.statements.iter().map(|s| s.sid.clone()).collect();
    for kind in Public::BOTH {
        let found: Vec<&LiveStatement> =
            live.statements.iter().filter(|s| s.kind == kind).collect();
        // Public: one statement as wanted is kept (the first), every other of this kind goes.
        let keep = found.iter().find(|s| public && s.as_wanted).map(|s| &s.sid);
        if public && keep.is_none() {
            let sid = kind.new_sid(stack, &taken);
            match found.first() {
                None => changes.push(Change::add(format!("permission.{sid}"), describe(kind))),
                Some(old) => changes.push(Change::modify(
                    format!("permission.{sid}"),
                    format!(
                        "{} (not as stackctl writes it; removed once this is in)",
                        old.sid
                    ),
                    describe(kind),
                )),
            }
            work.add.push((kind, sid));
        }
        for s in found.iter().filter(|s| Some(&s.sid) != keep) {
            if !(public && keep.is_none() && Some(s) == found.first()) {
                changes.push(Change::remove(
                    format!("permission.{}", s.sid),
                    describe(kind),
                ));
            }
            work.remove.push(s.sid.clone());
        }
    }
    (changes, work, note)
}

/// The URL's resource kind.
pub struct FunctionUrl {
    pub(crate) at: Address,
    pub(crate) function: Address,
    /// Its function's alias (`[function.deploy]`): the URL's qualifier when the stack has one.
    pub(crate) alias: Address,
    /// Its function's spec, with the URL's settings (`[function.url]`; None: the stack has no URL).
    pub(crate) spec: std::sync::Arc<StackFunction>,
}

impl FunctionUrl {
    /// The qualifier stack.toml asks for: the alias of `[function.deploy]`, else None (the function's own).
    fn qualifier(&self) -> Option<&str> {
        self.spec.deploy.as_ref().map(|d| d.alias.as_str())
    }

    /// Under `[function.deploy]`, the URL of an alias of that name someone else made is theirs: why, if so.
    fn theirs(&self, world: &World) -> Option<String> {
        let alias = self.qualifier()?;
        crate::resources::alias::someone_elses(world, &self.alias, &self.function).then(|| {
            format!(
                "not this stack's: alias `{alias}` was not made by stackctl (its URL is theirs)"
            )
        })
    }

    /// The URL on `qualifier`: its config and the stack's statements.
    async fn read_at(
        &self,
        cx: &ReadCx<'_>,
        qualifier: Option<&str>,
    ) -> Result<(Option<LiveUrlConfig>, Vec<LiveStatement>)> {
        let (lambda, function) = (&cx.clients.lambda, &self.spec.spec.name);
        tokio::try_join!(
            read_config(lambda, function, qualifier),
            read_statements(lambda, function, qualifier, &cx.stack.name)
        )
    }

    async fn read_state(&self, cx: &ReadCx<'_>) -> Result<Option<UrlLive>> {
        let (lambda, function) = (&cx.clients.lambda, &self.spec.spec.name);
        let here = self.qualifier();
        if let crate::resources::Purpose::Use(_) = cx.purpose {
            // The deployed URL, whether or not stack.toml has one (`--url` calls it): no permissions. With
            // `[function.deploy]`, the alias's, else (not moved yet) the function's own.
            let mut config = read_config_as(lambda, function, here, "the URL").await?;
            if config.is_none() && here.is_some() {
                config = read_config_as(lambda, function, None, "the URL").await?;
            }
            return Ok(config.map(|config| UrlLive {
                here: UrlState {
                    config: Some(config),
                    statements: Vec::new(),
                },
                moved_from: None,
            }));
        }
        if cx.purpose == crate::resources::Purpose::Outputs {
            // `outputs`: the URL stack.toml asks for, where it asks for it (GetFunctionUrlConfig), as
            // status's outputs name it; whose it is follows the function (`owned_with`). No permissions.
            let config = match &self.spec.url {
                Some(_) => read_config_as(lambda, function, here, "the URL").await?,
                None => None,
            };
            return Ok(config.map(|config| UrlLive {
                here: UrlState {
                    config: Some(config),
                    statements: Vec::new(),
                },
                moved_from: None,
            }));
        }
        let live_function = cx.live_of::<Function>(&self.function);
        if self.spec.url.is_none() {
            // Read after the function (read_after): only a marked function has a URL of the stack's.
            let marked = live_function.is_some_and(|f| f.tags.get(URL_TAG) == Some(&cx.stack.name));
            if !marked {
                return Ok(None);
            }
        }
        // The qualifier moved away from: the function's own while the stack has an alias, else the alias
        // the function's `stackctl:alias` tag names (read after the function).
        let old: Option<Option<String>> = match &self.spec.deploy {
            Some(_) => Some(None),
            None => live_function
                .and_then(|f| f.tags.get(ALIAS_TAG))
                .map(|alias| Some(alias.clone())),
        };
        let (config, statements) = self.read_at(cx, here).await?;
        let moved_from = match old {
            Some(q) => {
                let (config, statements) = self.read_at(cx, q.as_deref()).await?;
                (config.is_some() || !statements.is_empty())
                    .then_some((q, UrlState { config, statements }))
            }
            None => None,
        };
        // Nothing there. Without `[function.url]` the function is marked (read above): a run killed between
        // marking it and creating the URL. The marker is still planned away, or a URL someone else makes
        // there later would be taken for the stack's.
        if config.is_none()
            && statements.is_empty()
            && moved_from.is_none()
            && self.spec.url.is_some()
        {
            return Ok(None);
        }
        Ok(Some(UrlLive {
            here: UrlState { config, statements },
            moved_from,
        }))
    }

    async fn carry_out(&self, world: &World<'_>, work: &UrlWork) -> Result<Done> {
        if work.is_noop() {
            return Ok(None);
        }
        let (lambda, function) = (&world.clients.lambda, &self.spec.spec.name);
        // The URL's qualifier: down deletes the one read (here), whatever stack.toml says now.
        let here = self.qualifier();
        let task = world.task(Kind::FunctionUrl, function)?;
        // The function may have been created by this very up: its ARN is known in advance.
        let arn = world.arn_of(&self.function).unwrap_or_default();
        let result = async {
            // The marker goes on before the URL is created and comes off after it is deleted, so that a
            // run killed in between never leaves a URL of the stack's unmarked (unmarked, a stack without
            // `[function.url]` would never read it, and status would say in sync while it stays public).
            if work.marker == Some(true) {
                task.set("marking the function");
                set_marker(lambda, arn, &world.stack.name, true).await?;
            }
            let wanted = self.spec.url.as_ref();
            let mut url = None;
            match (&work.config, wanted) {
                (ConfigWork::Create, Some(spec)) => {
                    task.set("creating");
                    url = Some(create(lambda, function, here, spec).await?);
                }
                (ConfigWork::Update, Some(spec)) => {
                    task.set("updating");
                    url = Some(update(lambda, function, here, spec).await?);
                }
                (ConfigWork::Delete, _) => {
                    task.set("deleting");
                    delete(lambda, function, here).await?;
                }
                _ => {}
            }
            if let Some(url) = url {
                world.set_output(&self.at, "url", url);
            }
            // Added before the replaced ones are removed: the URL never goes without its statements.
            for (kind, sid) in &work.add {
                task.set(&format!("adding permission {sid}"));
                add_permission(lambda, function, here, sid, *kind).await?;
            }
            for sid in &work.remove {
                task.set(&format!("removing permission {sid}"));
                remove_permission(lambda, function, here, sid).await?;
            }
            // The URL moved: the old one goes once the new one and its statements are in.
            if let Some(old) = &work.retire {
                let q = old.qualifier.as_deref();
                if old.delete_config {
                    task.set(&format!("deleting the URL on {}", qualifier_name(q)));
                    delete(lambda, function, q).await?;
                }
                for sid in &old.remove {
                    task.set(&format!(
                        "removing permission {sid} on {}",
                        qualifier_name(q)
                    ));
                    remove_permission(lambda, function, q, sid).await?;
                }
            }
            if work.marker == Some(false) {
                set_marker(lambda, arn, &world.stack.name, false).await?;
            }
            Ok(match work.config {
                ConfigWork::Create if work.retire.is_some() => "created, old URL deleted",
                ConfigWork::Create => "created",
                ConfigWork::Update => "updated",
                ConfigWork::Delete => "deleted",
                ConfigWork::Keep
                    if work.add.is_empty() && work.remove.is_empty() && work.retire.is_some() =>
                {
                    "old URL deleted"
                }
                ConfigWork::Keep if work.add.is_empty() && work.remove.is_empty() => {
                    if work.marker == Some(false) {
                        "marker removed"
                    } else {
                        "marked"
                    }
                }
                ConfigWork::Keep => "permissions updated",
            })
        }
        .await;
        finish(&task, result)
    }
}

impl Resource for FunctionUrl {
    type Live = UrlLive;
    type Work = UrlWork;
    type Teardown = UrlWork;
    type Aside = ();
    type Desired = ();

    fn address(&self) -> &Address {
        &self.at
    }

    /// With `[function.deploy]` the URL is on the alias, which must exist first. Without it the URL only
    /// refers to the alias (up does not wait for it), so that down and a removed `[function.deploy]` delete
    /// the stack's URL on the alias before the alias goes.
    fn depends_on(&self) -> Vec<Dep> {
        let alias = if self.spec.deploy.is_some() {
            Dep::Applied(self.alias.clone())
        } else {
            Dep::Refers(self.alias.clone())
        };
        vec![Dep::Applied(self.function.clone()), alias]
    }

    /// The URL is the function's.
    fn name_field(&self) -> &str {
        &self.spec.name_field
    }

    fn desired(&self, _: &World) -> Result<()> {
        Ok(())
    }

    /// The URL: the one up just created, else the live one; null while the stack has none.
    fn outputs(&self, world: &World) -> Vec<Output> {
        let url = world.learnt(&self.at, "url").or_else(|| {
            world
                .live_of::<FunctionUrl>(&self.at)
                .and_then(|s| s.config.as_ref())
                .map(|c| c.url.clone())
        });
        vec![Output {
            key: crate::resources::instance_key(&self.spec.instance, "url"),
            position: 0,
            value: url.filter(|_| self.spec.url.is_some()),
            in_text: true,
        }]
    }

    fn name(&self, _: &Stack) -> String {
        self.spec.spec.name.clone()
    }

    fn in_stack(&self, _: &Stack) -> bool {
        self.spec.url.is_some()
    }

    fn read_after(&self, purpose: crate::resources::Purpose, _: &Stack) -> Vec<Address> {
        // With a URL in stack.toml, read at once; without one, only the function's marker says whether
        // there is a URL of the stack's to delete. A use reads the deployed URL whoever made it. Without
        // `[function.deploy]`, the function's `stackctl:alias` tag says whether the stack's URL is on an
        // alias still (read after the function, then).
        let url_and_deploy = self.spec.url.is_some() && self.spec.deploy.is_some();
        let no_wait = matches!(
            purpose,
            crate::resources::Purpose::Use(_) | crate::resources::Purpose::Outputs
        );
        if url_and_deploy || no_wait {
            Vec::new()
        } else {
            vec![self.function.clone()]
        }
    }

    fn read<'a>(&'a self, cx: &'a ReadCx<'a>) -> BoxFuture<'a, Result<Found<UrlLive, ()>>> {
        Box::pin(async move { Ok(self.read_state(cx).await?.into()) })
    }

    fn arn<'l>(&self, _: &'l UrlLive) -> Option<&'l str> {
        None
    }

    fn tags<'l>(&self, _: &'l UrlLive) -> Option<&'l BTreeMap<String, String>> {
        None // a URL config has none; ownership follows the function (Owner)
    }

    fn owned_with(&self) -> Option<&Address> {
        Some(&self.function)
    }

    fn plan_up(&self, world: &World) -> Result<Planned<UrlWork>> {
        let stack = world.stack;
        let live = world.live_of::<FunctionUrl>(&self.at);
        let function = world.live_of::<Function>(&self.function);
        if let Some(why) = self.theirs(world) {
            let plan = ResourcePlan::new(Kind::FunctionUrl, &self.spec.spec.name, Action::NoOp);
            return Ok(Planned::new(plan.note(why), UrlWork::none()));
        }
        let owner = Owner::of(stack, function);
        let (mut changes, mut work, note) = diff(
            &stack.name,
            self.spec.url.as_ref(),
            live.map(|l| &l.here),
            owner,
            marked(stack, function),
        );
        let mut notes: Vec<String> = note.into_iter().collect();
        if let Some((old_qualifier, old)) = live.and_then(|l| l.moved_from.as_ref()) {
            let new_url = live.and_then(|l| l.here.config.as_ref().map(|c| c.url.as_str()));
            let moving = self
                .spec
                .url
                .is_some()
                .then_some((self.qualifier(), new_url));
            let (more, retired, note) = retire(old_qualifier.as_deref(), old, moving, owner);
            changes.extend(more);
            work.retire = retired;
            notes.extend(note);
        }
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        let action = match work.config {
            ConfigWork::Create => Action::Create,
            ConfigWork::Delete => Action::Delete,
            _ if !work.is_noop() => Action::Update,
            _ => Action::NoOp,
        };
        let mut plan =
            ResourcePlan::new(Kind::FunctionUrl, &self.spec.spec.name, action).changes(changes);
        // `[auth]` added `authorization` to the CORS config's allowed headers: said when it is sent.
        let added = self.spec.auth.as_ref().is_some_and(|a| a.added_cors_header)
            && matches!(action, Action::Create | Action::Update);
        let note = match (note, added.then_some(AUTHORIZATION_NOTE)) {
            (Some(note), Some(auth)) => Some(format!("{note}; {auth}")),
            (note, auth) => note.or(auth.map(str::to_string)),
        };
        if let Some(note) = note {
            plan = plan.note(note);
        }
        Ok(Planned::new(plan, work))
    }

    fn apply<'a>(&'a self, world: &'a World<'a>, work: &'a UrlWork) -> BoxFuture<'a, Result<Done>> {
        Box::pin(self.carry_out(world, work))
    }

    fn plan_down(&self, world: &World, state: &UrlLive) -> Planned<UrlWork> {
        let stack = world.stack;
        let function = world.live_of::<Function>(&self.function);
        let owner = Owner::of(stack, function);
        // The URL on an alias someone else made under the stack's alias name is theirs: down neither shows
        // nor deletes it (if down deletes the function, Lambda takes it along; stackctl never targets it).
        // The stack's own URL it moved away from (`moved_from`) is still retired below.
        let theirs = self.theirs(world);
        let empty = UrlState {
            config: None,
            statements: Vec::new(),
        };
        let here = if theirs.is_some() {
            &empty
        } else {
            &state.here
        };
        // Down is converging to "no URL in stack.toml": the same diff.
        let (mut changes, mut work, mut note) = diff(
            &stack.name,
            None,
            Some(here),
            owner,
            marked(stack, function) && theirs.is_none(),
        );
        note = theirs.or(note);
        if let Some((old_qualifier, old)) = &state.moved_from {
            let (more, retired, old_note) = retire(old_qualifier.as_deref(), old, None, owner);
            changes.extend(more);
            work.retire = retired;
            note = note.or(old_note);
        }
        if owner == Owner::Function {
            work.marker = None; // down deletes the function, its tags with it
        }
        let action = match work.config {
            ConfigWork::Delete => Action::Delete,
            _ if !work.is_noop() => Action::Update,
            _ => Action::Keep,
        };
        let mut plan =
            ResourcePlan::new(Kind::FunctionUrl, &self.spec.spec.name, action).changes(changes);
        if let Some(note) = note {
            plan = plan.note(note);
        }
        Planned::new(plan, work)
    }

    fn destroy<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a UrlWork,
    ) -> BoxFuture<'a, Result<Done>> {
        self.apply(world, work)
    }

    fn state(&self, world: &World, state: &UrlLive) -> BTreeMap<String, String> {
        let mut shown = BTreeMap::new();
        if let Some(alias) = self.qualifier() {
            shown.insert("qualifier".into(), qualifier_name(Some(alias)));
        }
        if let Some(why) = self.theirs(world) {
            shown.insert("owner".into(), why);
            return shown;
        }
        if let Some((q, old)) = &state.moved_from {
            let url = old.config.as_ref().map_or("none", |c| c.url.as_str());
            shown.insert(
                "moving_from".into(),
                format!(
                    "{} (url {url}; up deletes it)",
                    qualifier_name(q.as_deref())
                ),
            );
        }
        if let Some(config) = &state.config {
            shown.insert("url".into(), config.url.clone());
            shown.insert("auth".into(), config.auth_type.clone());
            shown.insert("cors".into(), describe_cors(config.cors.as_ref()));
        }
        let owner = Owner::of(world.stack, world.live_of::<Function>(&self.function));
        shown.insert(
            "owner".into(),
            if owner.owns_url() {
                "this stack"
            } else {
                "not this stack (left alone by down)"
            }
            .into(),
        );
        for s in &state.statements {
            shown.insert(
                format!("permission.{}", s.sid),
                if s.as_wanted {
                    "present"
                } else {
                    "present, not as stackctl writes it"
                }
                .into(),
            );
        }
        shown
    }
}
