//! A URL moving to another qualifier (`[function.deploy]` added or removed): a URL's address is per
//! qualifier, so the move is a new URL; plan names the old and the new one, and up retires the old one (its
//! config and the stack's statements on it) once the new one and its statements are in.

use super::*;

/// The URL's live state as read: the URL on the qualifier stack.toml asks for (`here`: the alias of
/// `[function.deploy]`, else the function's own), and the stack's URL on the qualifier it moves away from
/// (`moved_from`: the function's own while the stack has `[function.deploy]`; the alias the function's
/// `stackctl:alias` tag names once it no longer has it). A URL's address differs per qualifier, so a move
/// is a new URL; the old one is deleted once the new one and its statements are in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlLive {
    pub here: UrlState,
    /// The qualifier moved away from (None: the function's own URL) and what is there of the stack's.
    pub moved_from: Option<(Option<String>, UrlState)>,
}

impl std::ops::Deref for UrlLive {
    type Target = UrlState;
    fn deref(&self) -> &UrlState {
        &self.here
    }
}

/// How plan names a qualifier.
pub fn qualifier_name(qualifier: Option<&str>) -> String {
    match qualifier {
        Some(alias) => format!("alias `{alias}`"),
        None => "`$LATEST`".to_string(),
    }
}

/// What up does to the URL on the qualifier it moves away from: its config deleted (when it is the
/// stack's), then the stack's statements on it removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retire {
    pub qualifier: Option<String>,
    pub delete_config: bool,
    pub remove: Vec<String>,
}

/// The moving part of a plan (pure): the changes and note that say the URL changes, and what is retired.
/// `new_url`: the URL on the new qualifier when it exists already (else it is made by this up).
/// `moving`: the new qualifier and its URL when it exists already (None: the stack no longer has a URL,
/// the old one just goes).
pub fn retire(
    old_qualifier: Option<&str>,
    old: &UrlState,
    moving: Option<(Option<&str>, Option<&str>)>,
    owner: Owner,
) -> (Vec<Change>, Option<Retire>, Option<String>) {
    let mut changes = Vec::new();
    let mut note = None;
    let from = qualifier_name(old_qualifier);
    // Only a function the stack owns has its old URL deleted: on another's function the one marker cannot
    // say which of its URLs the stack made.
    let delete_config = owner == Owner::Function && old.config.is_some();
    if let Some(config) = &old.config {
        let Some((new_qualifier, new_url)) = moving else {
            if delete_config {
                changes.push(Change::remove(format!("url on {from}"), &config.url));
            }
            return finish_retire(changes, old, old_qualifier, delete_config, None);
        };
        let to = qualifier_name(new_qualifier);
        let new = new_url.map_or(format!("a new URL on {to}"), str::to_string);
        if delete_config {
            changes.push(Change::modify("url", &config.url, &new));
            note = Some(format!(
                "the URL changes: clients of {} must move to {new} (a URL's address is per qualifier: {from} \
                 -> {to}; the old one is deleted once the new one answers)",
                config.url
            ));
        } else {
            note = Some(format!(
                "the function's URL on {from} ({}) is left alone (the function is not this stack's)",
                config.url
            ));
        }
    }
    finish_retire(changes, old, old_qualifier, delete_config, note)
}

/// `retire`'s end: the old statements' removal, and the work.
fn finish_retire(
    mut changes: Vec<Change>,
    old: &UrlState,
    old_qualifier: Option<&str>,
    delete_config: bool,
    note: Option<String>,
) -> (Vec<Change>, Option<Retire>, Option<String>) {
    let from = qualifier_name(old_qualifier);
    for s in &old.statements {
        changes.push(Change::remove(
            format!("permission.{} on {from}", s.sid),
            describe(s.kind),
        ));
    }
    let work = (delete_config || !old.statements.is_empty()).then(|| Retire {
        qualifier: old_qualifier.map(str::to_string),
        delete_config,
        remove: old.statements.iter().map(|s| s.sid.clone()).collect(),
    });
    (changes, work, note)
}
