//! The `[function]` section: runtime, handler, source and artifact directories, build commands, memory and
//! timeout (its environment has its own module).

use std::path::Path;

use toml::Spanned;

use super::names::NameRule;
use super::paths::real_path;
use super::raw::RawFunction;
use super::resolve::Checker;
use super::{ConfigError, FunctionSpec};
use crate::runtimes::{self, RuntimeStatus};

impl Checker<'_> {
    pub(super) fn function(
        &self,
        raw: &RawFunction,
        section: &str,
        base_dir: &Path,
        today: &str,
        warnings: &mut Vec<String>,
    ) -> Result<FunctionSpec, ConfigError> {
        let field = |key: &str| format!("{section}.{key}");
        let name = self.physical_name(&raw.name, &field("name"), "function", NameRule::FUNCTION)?;
        let runtime = raw.runtime.get_ref().clone();
        match runtimes::status(&runtime, today) {
            RuntimeStatus::Supported => {}
            RuntimeStatus::Deprecated { since, blocked_from } => warnings.push(format!(
                "runtime `{runtime}` is deprecated since {since}; AWS blocks creating functions on it from \
                 {blocked_from}: move `{section}.runtime` to {}",
                runtimes::RECOMMENDED
            )),
            RuntimeStatus::Blocked { since } => {
                return Err(self.error(
                    raw.runtime.span(),
                    &field("runtime"),
                    format!("AWS no longer accepts new functions on `{runtime}` (blocked since {since})"),
                    format!("use \"{}\"", runtimes::RECOMMENDED),
                ))
            }
            RuntimeStatus::Unknown => {
                return Err(self.error(
                    raw.runtime.span(),
                    &field("runtime"),
                    format!("`{runtime}` is not a Node.js runtime stackctl can deploy"),
                    format!("use one of {}", runtimes::supported_list(today)),
                ))
            }
        }
        let handler = raw.handler.get_ref().clone();
        let handler_ok = handler.split_once('.').is_some_and(|(file, export)| {
            !file.is_empty() && !export.is_empty() && !export.contains('/')
        }) && handler.len() <= 128
            && !handler.chars().any(char::is_whitespace);
        if !handler_ok {
            return Err(self.error(
                raw.handler.span(),
                &field("handler"),
                format!("`{handler}` is not a Lambda handler"),
                "write it as <file without extension>.<exported function>, e.g. \"handler.handler\"",
            ));
        }
        let source_dir = self.project_path(&raw.source_dir, &field("source_dir"), base_dir)?;
        if !source_dir.is_dir() {
            return Err(self.error(
                raw.source_dir.span(),
                &field("source_dir"),
                format!("`{}` is not a directory", raw.source_dir.get_ref()),
                "point it at the handler's package directory (the one holding package.json)",
            ));
        }
        let artifact_dir =
            self.project_path(&raw.artifact_dir, &field("artifact_dir"), base_dir)?;
        // Inside the source dir, and not the source dir itself (that would zip sources and node_modules),
        // also once symlinks are followed.
        if artifact_dir == source_dir
            || !artifact_dir.starts_with(&source_dir)
            || !real_path(&artifact_dir).starts_with(real_path(&source_dir))
        {
            return Err(self.error(
                raw.artifact_dir.span(),
                &field("artifact_dir"),
                format!(
                    "`{}` must be a directory inside `{section}.source_dir` (`{}`)",
                    raw.artifact_dir.get_ref(),
                    raw.source_dir.get_ref()
                ),
                "point it at the build's output directory, e.g. \"lambda/dist\"",
            ));
        }
        let build_command = self.command(&raw.build, section, "build")?;
        let install_command = raw
            .install
            .as_ref()
            .map(|c| self.command(c, section, "install"))
            .transpose()?;
        let memory_mb = self.ranged(
            raw.memory_mb.as_ref(),
            &field("memory_mb"),
            128,
            10_240,
            128,
        )?;
        let timeout_secs = self.ranged(
            raw.timeout_secs.as_ref(),
            &field("timeout_secs"),
            1,
            900,
            10,
        )?;

        let architecture = match &raw.architecture {
            None => "x86_64".to_string(),
            Some(arch) if ["x86_64", "arm64"].contains(&arch.get_ref().as_str()) => {
                arch.get_ref().clone()
            }
            Some(arch) => {
                return Err(self.error(
                    arch.span(),
                    &field("architecture"),
                    format!("`{}` is not a Lambda architecture", arch.get_ref()),
                    "use \"x86_64\" (the default) or \"arm64\" (Graviton)",
                ))
            }
        };
        let environment = self.environment(&raw.environment, section)?;
        Ok(FunctionSpec {
            name,
            runtime,
            handler,
            source_dir,
            install_command,
            build_command,
            artifact_dir,
            memory_mb: memory_mb as i32,
            timeout_secs: timeout_secs as i32,
            architecture,
            environment,
            reserved_concurrency: None,
        })
    }

    /// `<section>.<key>`, a shell command run in the function's source dir.
    fn command(
        &self,
        value: &Spanned<String>,
        section: &str,
        key: &str,
    ) -> Result<String, ConfigError> {
        if value.get_ref().trim().is_empty() {
            return Err(self.error(
                value.span(),
                &format!("{section}.{key}"),
                "the command is empty",
                format!("give the shell command to run in `{section}.source_dir`, e.g. \"npm run build\""),
            ));
        }
        Ok(value.get_ref().clone())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use crate::config::test_support::{error_of, parse_with, project};

    #[test]
    fn blocked_runtimes_are_refused_and_deprecated_ones_warned() {
        let err = error_of(|t| t.replace("nodejs24.x", "nodejs20.x"));
        assert!(err.message.contains("no longer accepts"), "{err}");
        let dir = project();
        let text = std::fs::read_to_string(dir.path().join("stack.toml"))
            .unwrap()
            .replace("nodejs24.x", "nodejs20.x");
        let stack = parse(&dir.path().join("stack.toml"), &text, "2026-06-01").unwrap();
        assert!(
            stack.warnings[0].contains("deprecated"),
            "{:?}",
            stack.warnings
        );
    }

    #[test]
    fn the_artifact_dir_must_be_strictly_inside_the_source_dir() {
        let err = error_of(|t| t.replace("\"lambda/dist\"", "\"lambda\""));
        assert_eq!(err.field.as_deref(), Some("function.artifact_dir"));
        let dir = project();
        let outside = tempfile::tempdir().unwrap();
        std::fs::remove_dir(dir.path().join("lambda/dist")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("lambda/dist")).unwrap();
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert!(err.message.contains("through a symlink"), "{err}");
        // A link inside the project but out of the source dir.
        std::fs::remove_file(dir.path().join("lambda/dist")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("policies"), dir.path().join("lambda/dist"))
            .unwrap();
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("function.artifact_dir"), "{err}");
    }

    #[test]
    fn the_architecture_defaults_to_x86_64_and_takes_arm64_only_besides() {
        let dir = project();
        let stack = parse_with(dir.path(), |t| t).unwrap();
        assert_eq!(stack.function.architecture, "x86_64");
        let stack = parse_with(dir.path(), |t| {
            t.replace(
                "timeout_secs = 10\n",
                "timeout_secs = 10\narchitecture = \"arm64\"\n",
            )
        })
        .unwrap();
        assert_eq!(stack.function.architecture, "arm64");
        let err = crate::config::test_support::error_of(|t| {
            t.replace(
                "timeout_secs = 10\n",
                "timeout_secs = 10\narchitecture = \"amd64\"\n",
            )
        });
        assert_eq!(err.field.as_deref(), Some("function.architecture"));
        assert!(err.to_string().contains("\"arm64\""), "{err}");
    }
}
