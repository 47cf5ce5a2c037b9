//! How a stack.toml section is declared: once, with `section!` (config/raw.rs holds the declarations). One
//! declaration gives the raw struct serde fills in (the file as written, spanned, `deny_unknown_fields`), its
//! overlay (`[stages.<name>.<section>]`: the same keys, every one optional, merged over the base by
//! `Section::apply`), the section's key list (`Section::keys`: which keys it has, which are required, how
//! each is written; hints.rs reads it for the fixes of shape errors), and which of its keys are physical
//! names a stage goes into (`Section::stage_names`, for `stage_budget`).
//!
//! Why a macro and not a merge of TOML values before one typed parse: the overlay structs are what serde
//! checks `[stages.<name>]` against, so their unknown-key, missing-key and wrong-type messages (pinned by
//! tests/corpus/) stay exactly what they were, and every value keeps its own span (an overlay's mistake
//! points at the overlay's line) without re-implementing spans over a merged document.
//!
//! A key is declared as `name: kind Type [=> "how it is written"],`. The kind says how the overlay merges it:
//!
//! | kind          | raw field   | in an overlay                                      |
//! |---------------|-------------|----------------------------------------------------|
//! | `req`         | `T`         | replaces the base's value                          |
//! | `opt`         | `Option<T>` | replaces the base's value                          |
//! | `map`         | `T` (a map) | entries added or replacing the base's, by key      |
//! | `list`        | `T` (a Vec) | replaces the base's list                           |
//! | `fixed`       | `T`         | not allowed (the same in every stage)              |
//! | `record`      | `S`         | replaces the base's whole value (a declared section) |
//! | `opt_record`  | `Option<S>` | replaces the base's whole value                    |
//! | `section`     | `S`         | merged key by key                                  |
//! | `table`       | `Option<S>` | merged key by key; a stage that adds it writes its required keys |
//!
//! A `req` key may end with `; stage_name = NameRule::...`: a physical name, into which the stage goes.

use super::names::NameRule;
use toml::Spanned;

/// One key of a section, as declared.
pub(super) struct Key {
    /// The field's identifier; `r#type` for the TOML key `type`.
    pub(super) ident: &'static str,
    /// `req`, `record` and `fixed` keys: serde refuses a section without them (but `stages`, a `fixed` key
    /// with `#[serde(default)]`, which is never asked about).
    pub(super) required: bool,
    /// Whether `[stages.<name>]` may write it (read by the schema's tests, which hold the declarations to
    /// what serde accepts).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) overlaid: bool,
    /// How the key is written, for the fix of a missing key or a value of the wrong type.
    pub(super) example: Option<&'static str>,
    /// The keys of the section this key's value is (a table), if any.
    pub(super) sub: Option<fn() -> &'static [Key]>,
    /// Merged key by key in an overlay (`section`, `table`), as opposed to replaced whole.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) merged: bool,
}

impl Key {
    /// The key as the stack file writes it.
    pub(super) fn name(&self) -> &'static str {
        self.ident.strip_prefix("r#").unwrap_or(self.ident)
    }
}

/// What every declared section has; implemented by `section!`.
pub(super) trait Section: Sized {
    /// `[stages.<name>.<section>]`: the same keys (less the `fixed` ones), every one optional.
    type Patch: Default;
    /// The section's keys, in the order they are declared (serde's order in its messages).
    fn keys() -> &'static [Key];
    /// The overlay merged into the base. Err: the dotted key (from this section) of a required key that
    /// an overlay adding a table of its own left out.
    fn apply(&mut self, patch: Self::Patch) -> Result<(), String>;
    /// A section only the overlay writes. Err: the dotted key of a required key it left out.
    fn from_patch(patch: Self::Patch) -> Result<Self, String>;
    /// The physical names among the section's values (and its sections'), with their rules.
    fn stage_names<'a>(&'a self, out: &mut Vec<(&'a Spanned<String>, &'static NameRule)>);
}

/// The key declared at `path` (dotted, from the top of the file), if any.
pub(super) fn key_at(top: &'static [Key], path: &str) -> Option<&'static Key> {
    let mut keys = top;
    let mut found = None;
    for part in path.split('.') {
        let key = keys.iter().find(|k| k.name() == part)?;
        keys = key.sub.map_or(&[][..], |sub| sub());
        found = Some(key);
    }
    found
}

/// `base` replaced by `patch` where the patch has a value.
pub(super) fn set<T>(base: &mut T, patch: Option<T>) {
    if let Some(value) = patch {
        *base = value;
    }
}

/// A table of strings (tags, variables): the overlay's entries added, or replacing the base's (with their
/// own positions, so an error points at the overlay's line).
pub(super) fn merge_map<V>(
    base: &mut std::collections::BTreeMap<Spanned<String>, V>,
    patch: Option<std::collections::BTreeMap<Spanned<String>, V>>,
) {
    for (key, value) in patch.unwrap_or_default() {
        base.remove(&key);
        base.insert(key, value);
    }
}

/// The raw field's type for a kind. Every kind is named here, so a misspelt one does not compile.
macro_rules! raw_type {
    (opt $t:ty) => { Option<$t> };
    (opt_record $t:ty) => { Option<$t> };
    (table $t:ty) => { Option<$t> };
    (req $t:ty) => { $t };
    (map $t:ty) => { $t };
    (list $t:ty) => { $t };
    (fixed $t:ty) => { $t };
    (record $t:ty) => { $t };
    (section $t:ty) => { $t };
}

/// The overlay field's type (inside its `Option`) for a kind.
macro_rules! patch_type {
    (section $t:ty) => {
        <$t as $crate::config::schema::Section>::Patch
    };
    (table $t:ty) => {
        <$t as $crate::config::schema::Section>::Patch
    };
    ($kind:ident $t:ty) => {
        $t
    };
}

/// The overlay struct: every key but the `fixed` ones, as an `Option`.
macro_rules! patch_struct {
    (@munch $(#[$m:meta])* $name:ident [$($acc:tt)*]) => {
        $(#[$m])*
        #[derive(serde::Deserialize, Clone, Default)]
        #[serde(deny_unknown_fields)]
        pub(super) struct $name { $($acc)* }
    };
    (@munch $(#[$m:meta])* $name:ident [$($acc:tt)*]
        $(#[$a:meta])* $f:ident : fixed $t:ty $(=> $ex:literal)? $(; stage_name = $rule:path)?,
        $($rest:tt)*) => {
        patch_struct!(@munch $(#[$m])* $name [$($acc)*] $($rest)*);
    };
    (@munch $(#[$m:meta])* $name:ident [$($acc:tt)*]
        $(#[$a:meta])* $f:ident : $kind:ident $t:ty $(=> $ex:literal)? $(; stage_name = $rule:path)?,
        $($rest:tt)*) => {
        patch_struct!(@munch $(#[$m])* $name
            [$($acc)* $(#[$a])* $f: Option<patch_type!($kind $t)>,] $($rest)*);
    };
}

/// The overlay's value (`$patch`, an `Option`) merged into the base's (`$base`); `?` passes on a missing
/// required key, prefixed with `$key`.
macro_rules! merge_field {
    (fixed $t:ty, $base:expr, $patch:expr, $key:expr) => {};
    (opt $t:ty, $base:expr, $patch:expr, $key:expr) => {
        if let Some(value) = $patch {
            $base = Some(value);
        }
    };
    (opt_record $t:ty, $base:expr, $patch:expr, $key:expr) => {
        merge_field!(opt $t, $base, $patch, $key)
    };
    (map $t:ty, $base:expr, $patch:expr, $key:expr) => {
        $crate::config::schema::merge_map(&mut $base, $patch)
    };
    (section $t:ty, $base:expr, $patch:expr, $key:expr) => {
        if let Some(patch) = $patch {
            $crate::config::schema::Section::apply(&mut $base, patch)
                .map_err(|k| format!("{}.{k}", $key))?;
        }
    };
    (table $t:ty, $base:expr, $patch:expr, $key:expr) => {
        if let Some(patch) = $patch {
            match &mut $base {
                Some(base) => $crate::config::schema::Section::apply(base, patch),
                None => <$t as $crate::config::schema::Section>::from_patch(patch)
                    .map(|value| $base = Some(value)),
            }
            .map_err(|k| format!("{}.{k}", $key))?;
        }
    };
    ($kind:ident $t:ty, $base:expr, $patch:expr, $key:expr) => {
        $crate::config::schema::set(&mut $base, $patch)
    };
}

/// A raw field from the overlay alone (`from_patch`).
macro_rules! field_from_patch {
    (fixed $t:ty, $patch:expr, $key:expr) => {
        return Err($key.to_string())
    };
    (req $t:ty, $patch:expr, $key:expr) => {
        $patch.ok_or_else(|| $key.to_string())?
    };
    (record $t:ty, $patch:expr, $key:expr) => {
        field_from_patch!(req $t, $patch, $key)
    };
    (section $t:ty, $patch:expr, $key:expr) => {
        <$t as $crate::config::schema::Section>::from_patch($patch.unwrap_or_default())
            .map_err(|k| format!("{}.{k}", $key))?
    };
    (table $t:ty, $patch:expr, $key:expr) => {
        $patch
            .map(<$t as $crate::config::schema::Section>::from_patch)
            .transpose()
            .map_err(|k| format!("{}.{k}", $key))?
    };
    (map $t:ty, $patch:expr, $key:expr) => {
        $patch.unwrap_or_default()
    };
    (list $t:ty, $patch:expr, $key:expr) => {
        $patch.unwrap_or_default()
    };
    ($kind:ident $t:ty, $patch:expr, $key:expr) => {
        $patch
    };
}

/// The physical names of a field: itself (a `req` key with a rule) or its section's.
macro_rules! field_stage_names {
    (section $t:ty, $value:expr, $out:expr,) => {
        $crate::config::schema::Section::stage_names(&$value, $out)
    };
    (table $t:ty, $value:expr, $out:expr,) => {
        if let Some(value) = &$value {
            $crate::config::schema::Section::stage_names(value, $out)
        }
    };
    ($kind:ident $t:ty, $value:expr, $out:expr,) => {};
    (req $t:ty, $value:expr, $out:expr, $rule:path) => {
        $out.push((&$value, &$rule))
    };
}

/// The `Key` facts that depend on the kind.
macro_rules! key_required {
    (req) => {
        true
    };
    (fixed) => {
        true
    };
    (record) => {
        true
    };
    ($kind:ident) => {
        false
    };
}

macro_rules! key_sub {
    (section $t:ty) => { key_sub!(@of $t) };
    (table $t:ty) => { key_sub!(@of $t) };
    (record $t:ty) => { key_sub!(@of $t) };
    (opt_record $t:ty) => { key_sub!(@of $t) };
    (@of $t:ty) => {
        Some(<$t as $crate::config::schema::Section>::keys as fn() -> &'static [$crate::config::schema::Key])
    };
    ($kind:ident $t:ty) => { None };
}

macro_rules! key_overlaid {
    (fixed) => {
        false
    };
    ($kind:ident) => {
        true
    };
}

macro_rules! key_example {
    () => {
        None
    };
    ($ex:literal) => {
        Some($ex)
    };
}

macro_rules! key_merged {
    (section) => {
        true
    };
    (table) => {
        true
    };
    ($kind:ident) => {
        false
    };
}

/// Declares one section of stack.toml: its raw struct, its overlay struct (named after `/`), its keys, its
/// merge and its physical names. See the module's table for the kinds.
macro_rules! section {
    (
        $(#[$m:meta])*
        $raw:ident / $(#[$pm:meta])* $patch:ident {
            $( $(#[$a:meta])* $f:ident : $kind:ident $t:ty $(=> $ex:literal)? $(; stage_name = $rule:path)? ),*
            $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(serde::Deserialize, Clone)]
        #[serde(deny_unknown_fields)]
        pub(super) struct $raw {
            $( $(#[$a])* pub(super) $f: raw_type!($kind $t), )*
        }

        patch_struct!(@munch $(#[$pm])* $patch [] $( $(#[$a])* $f : $kind $t $(=> $ex)?, )*);

        impl $crate::config::schema::Section for $raw {
            type Patch = $patch;

            fn keys() -> &'static [$crate::config::schema::Key] {
                const KEYS: &[$crate::config::schema::Key] = &[
                    $( $crate::config::schema::Key {
                        ident: stringify!($f),
                        required: key_required!($kind),
                        overlaid: key_overlaid!($kind),
                        example: key_example!($($ex)?),
                        sub: key_sub!($kind $t),
                        merged: key_merged!($kind),
                    }, )*
                ];
                KEYS
            }

            #[allow(unused_variables)]
            fn apply(&mut self, patch: $patch) -> Result<(), String> {
                $( merge_field!($kind $t, self.$f, patch.$f, stringify!($f).trim_start_matches("r#")); )*
                Ok(())
            }

            #[allow(unused_variables, unreachable_code)]
            fn from_patch(patch: $patch) -> Result<Self, String> {
                Ok($raw {
                    $( $f: field_from_patch!($kind $t, patch.$f, stringify!($f).trim_start_matches("r#")), )*
                })
            }

            #[allow(unused_variables)]
            fn stage_names<'a>(
                &'a self,
                out: &mut Vec<(&'a toml::Spanned<String>, &'static $crate::config::names::NameRule)>,
            ) {
                $( field_stage_names!($kind $t, self.$f, out, $($rule)?); )*
            }
        }
    };
}

pub(super) use {
    field_from_patch, field_stage_names, key_example, key_merged, key_overlaid, key_required,
    key_sub, merge_field, patch_struct, patch_type, raw_type, section,
};

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;

    use super::*;
    use crate::config::hints::{example, required_keys};
    use crate::config::raw::*;
    use crate::config::test_support::{error_of, parse_with, project};

    /// Every declared key under its dotted path, from the top of the file (`stages` left out: it is the
    /// overlays themselves).
    fn every_key() -> Vec<(String, &'static Key)> {
        fn walk(prefix: &str, keys: &'static [Key], out: &mut Vec<(String, &'static Key)>) {
            for key in keys {
                let path = match prefix {
                    "" => key.name().to_string(),
                    _ => format!("{prefix}.{}", key.name()),
                };
                out.push((path.clone(), key));
                if let Some(sub) = key.sub {
                    walk(&path, sub(), out);
                }
            }
        }
        let mut out = Vec::new();
        walk("", RawFile::keys(), &mut out);
        out.retain(|(path, _)| path != "stages");
        out
    }

    /// The keys serde names when a section (raw or overlay) meets a key it does not know.
    fn serde_keys<T: DeserializeOwned>() -> Vec<String> {
        let Err(err) = toml::from_str::<T>("zzz_not_a_key = 1") else {
            panic!("an unknown key was accepted");
        };
        let message = err.message().to_string();
        let expected = message.split("expected").nth(1).unwrap_or_default();
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// The declared keys of `T`, the ones an overlay may write when `overlaid`.
    fn declared<T: Section>(overlaid: bool) -> Vec<String> {
        T::keys()
            .iter()
            .filter(|k| k.overlaid || !overlaid)
            .map(|k| k.name().to_string())
            .collect()
    }

    /// The structs serde fills in are the declarations' own: the raw section and its overlay know exactly
    /// the declared keys, in the declared order (the order serde's messages list them in).
    #[test]
    fn the_raw_structs_and_the_overlays_take_exactly_the_declared_keys() {
        fn check<T: Section + DeserializeOwned>()
        where
            T::Patch: DeserializeOwned,
        {
            assert_eq!(serde_keys::<T>(), declared::<T>(false));
            assert_eq!(serde_keys::<T::Patch>(), declared::<T>(true));
        }
        check::<RawFile>();
        check::<RawStack>();
        check::<RawKey>();
        check::<RawTable>();
        check::<RawRole>();
        check::<RawPolicy>();
        check::<RawFunction>();
        check::<RawUrl>();
        check::<RawCors>();
        check::<RawLogs>();
        check::<RawDeploy>();
        check::<RawTimeouts>();
    }

    /// A key declared in a section is one edit: `[stages.x.<section>]` accepts it, a misspelling of it is
    /// answered with it, and its example (when it has one) writes it. Fails for a key added anywhere but its
    /// declaration.
    #[test]
    fn every_declared_key_is_accepted_in_an_overlay_and_suggested_for_a_typo() {
        for (path, key) in every_key() {
            let (section, name) = path.rsplit_once('.').unwrap_or(("", &path));
            let header = match section {
                "" => "[stages.x]".to_string(),
                _ => format!("[stages.x.{section}]"),
            };
            // `{}` is no valid value for most keys: what matters is that the key itself is known.
            let dir = project();
            let parsed = parse_with(dir.path(), |t| format!("{t}\n{header}\n{name} = {{}}\n"));
            let unknown = parsed
                .as_ref()
                .is_err_and(|e| e.message.starts_with(&format!("unknown field `{name}`")));
            assert_eq!(unknown, !key.overlaid, "{path}: {:?}", parsed.err());
            if key.overlaid {
                let err = error_of(|t| format!("{t}\n{header}\n{name}x = 1\n"));
                assert_eq!(err.field, Some(format!("stages.x.{path}x")), "{path}");
                let fix = err.fix.unwrap_or_default();
                assert!(
                    fix.contains(&format!("did you mean `{name}`?")),
                    "{path}: {fix}"
                );
            }
            if let Some(example) = example(&path) {
                assert!(
                    example.starts_with(&format!("{name} = "))
                        || example.starts_with(&format!("[{path}] with ")),
                    "{path}: {example}"
                );
            }
            // A key merged key by key is a table of declared keys.
            assert!(!key.merged || key.sub.is_some(), "{path}");
        }
    }

    /// The docs half of adding a key: README.md's stack.toml reference writes every declared key.
    #[test]
    fn the_readme_reference_writes_every_declared_key() {
        let readme = include_str!("../../README.md");
        let start = readme.find("## stack.toml reference\n\n```toml\n").unwrap();
        let block = &readme[start..];
        let block = &block[block.find("```toml\n").unwrap() + 8..];
        let block = &block[..block.find("```").unwrap()];
        let reference: toml::Table = toml::from_str(block).unwrap();
        for (path, _) in every_key() {
            // A stage's own key is written in the reference's `[stages.prod]`.
            let path = match STAGE_ONLY.contains(&path.as_str()) {
                true => format!("stages.prod.{path}"),
                false => path,
            };
            let mut value = Some(&reference);
            for part in path.split('.') {
                let found = value.and_then(|table| table.get(part));
                assert!(
                    found.is_some(),
                    "README.md's stack.toml reference lacks `{path}`"
                );
                value = found.and_then(toml::Value::as_table);
            }
        }
    }

    #[test]
    fn the_hints_come_from_the_declarations() {
        assert_eq!(required_keys("stack"), ["name", "region"]);
        assert_eq!(required_keys("table"), ["name", "partition_key"]);
        assert_eq!(
            required_keys("function"),
            [
                "name",
                "runtime",
                "handler",
                "source_dir",
                "build",
                "artifact_dir"
            ]
        );
        assert_eq!(example("table.sort_key.type"), Some(r#"type = "S""#));
        assert_eq!(example("function.architecture"), None);
        assert_eq!(example("function.environment.TABLE_NAME"), None);
        assert_eq!(example("nope"), None);
    }

    #[test]
    fn the_physical_names_are_the_declared_ones() {
        let dir = project();
        let text = std::fs::read_to_string(dir.path().join("stack.toml")).unwrap();
        let raw: RawFile = toml::from_str(&text).unwrap();
        let mut names = Vec::new();
        raw.stage_names(&mut names);
        let names: Vec<(&str, &str)> = names
            .iter()
            .map(|(name, rule)| (name.get_ref().as_str(), rule.what))
            .collect();
        assert_eq!(
            names,
            [
                ("my-frontend-app-data", NameRule::TABLE.what),
                ("my-frontend-app-lambda-role", NameRule::IAM_ROLE.what),
                ("MyFrontendAppLambdaDynamoDB", NameRule::IAM_POLICY.what),
                ("my-frontend-app-api", NameRule::FUNCTION.what),
            ]
        );
    }
}
