//! dev's reload: the handler built through the build cache and started as a pool of workers; the file
//! watcher on its sources, and on every edit a rebuild whose pool replaces the serving one without dropping a
//! request.

use std::path::{Component, Path};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::server::Server;
use crate::build::cache::Cache;
use crate::build::package;
use crate::config::Stack;
use crate::handler::local::dev_spec;
use crate::handler::pool::{Pool, Slots};
use crate::progress::Progress;

/// How long a quiet spell after a file event must last before the rebuild starts (an editor's save is
/// several events; `git checkout` is many).
const SETTLE: Duration = Duration::from_millis(150);

/// Everything a build of the handler needs to become a running pool (owned: the reload loop outlives the
/// borrow of `run`'s arguments).
pub(super) struct Loader {
    pub(super) stack: Stack,
    pub(super) function_arn: String,
    pub(super) environment: std::collections::BTreeMap<String, String>,
    pub(super) credentials: Option<aws_sdk_lambda::config::Credentials>,
    /// `--workers`: one set of places for every pool, so a reload never runs more requests at once.
    pub(super) slots: Arc<Slots>,
    pub(super) progress: Progress,
}

impl Loader {
    /// Builds (through the build cache) and returns the package.
    pub(super) async fn build(&self) -> Result<package::Package> {
        let function = self.stack.chosen_function();
        let cache = Cache::for_function(&self.stack.file, &function);
        let task = self.progress.task("build");
        match package::build(&function.spec, &cache, false, &task).await {
            Ok(package) => Ok(package),
            Err(err) => {
                task.fail(&format!("{err:#}"));
                Err(err)
            }
        }
    }

    /// Unzips the package (exactly what Lambda would run) into a directory of its own and starts a pool on
    /// it: later builds rewrite the artifact dir, never the code a pool runs.
    pub(super) async fn pool(&self, package: &package::Package) -> Result<Pool> {
        let code = tempfile::Builder::new()
            .prefix("stackctl-dev-")
            .tempdir()
            .context("creating a directory for the handler's code")?;
        zip::ZipArchive::new(std::io::Cursor::new(&package.zip))
            .and_then(|mut archive| archive.extract(code.path()))
            .context("unpacking the handler's package")?;
        let spec = dev_spec(
            &self.stack,
            &self.function_arn,
            self.environment.clone(),
            code.path(),
            self.credentials.as_ref(),
        )?;
        Pool::start(
            spec,
            self.slots.clone(),
            code,
            package.code_sha256.clone(),
            self.progress.clone(),
        )
        .await
    }
}

/// Watches the handler's sources (`function.source_dir`, except its dependencies, the build output and
/// stackctl's cache: what the build cache hashes) and sends a unit per relevant change.
pub(super) fn watch(
    stack: &Stack,
    changes: mpsc::UnboundedSender<()>,
) -> Result<notify::RecommendedWatcher> {
    let spec = stack.chosen_function().spec;
    let source_dir = spec.source_dir.clone();
    let artifact_dir = spec.artifact_dir.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        if event
            .paths
            .iter()
            .any(|path| is_source(path, &source_dir, &artifact_dir))
        {
            let _ = changes.send(());
        }
    })
    .context("starting the file watcher")?;
    watcher
        .watch(&spec.source_dir, RecursiveMode::Recursive)
        .with_context(|| format!("watching `{}`", spec.source_dir.display()))?;
    Ok(watcher)
}

/// Whether a changed path is one of the build's inputs.
fn is_source(path: &Path, source_dir: &Path, artifact_dir: &Path) -> bool {
    if path.starts_with(artifact_dir) {
        return false;
    }
    let relative = path.strip_prefix(source_dir).unwrap_or(path);
    !relative.components().any(|c| {
        matches!(c, Component::Normal(name) if name == "node_modules" || name == ".git" || name == ".stackctl")
    })
}

pub(super) async fn reload_loop(
    loader: Loader,
    server: Arc<Server>,
    mut changes: mpsc::UnboundedReceiver<()>,
) {
    while changes.recv().await.is_some() {
        // Let the burst of events from one save (or a checkout) settle into one rebuild.
        while let Ok(Some(())) = tokio::time::timeout(SETTLE, changes.recv()).await {}
        let started = Instant::now();
        eprintln!("dev: sources changed: rebuilding");
        if let Err(err) = reload(&loader, &server).await {
            eprintln!("dev: {err:#}\ndev: still serving the previous build");
            continue;
        }
        tracing::debug!("reload took {:?}", started.elapsed());
    }
}

async fn reload(loader: &Loader, server: &Server) -> Result<()> {
    let started = Instant::now();
    let package = loader.build().await.context("the build failed")?;
    if package.code_sha256 == server.current().code_sha256 {
        eprintln!(
            "dev: the build's output did not change (CodeSha256 {}): nothing to reload",
            package.code_sha256
        );
        return Ok(());
    }
    let pool = loader
        .pool(&package)
        .await
        .context("the new build did not start")?;
    let old = server.swap(Arc::new(pool));
    // Requests already running on the old workers finish there; the new code serves every request from now.
    old.retire().await;
    eprintln!(
        "dev: reloaded in {:.1}s: serving CodeSha256 {}",
        started.elapsed().as_secs_f64(),
        package.code_sha256
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_builds_inputs_are_sources() {
        let source = Path::new("/p/lambda");
        let dist = Path::new("/p/lambda/dist");
        assert!(is_source(
            Path::new("/p/lambda/src/handler.ts"),
            source,
            dist
        ));
        assert!(is_source(Path::new("/p/lambda/package.json"), source, dist));
        assert!(!is_source(
            Path::new("/p/lambda/dist/handler.js"),
            source,
            dist
        ));
        assert!(!is_source(
            Path::new("/p/lambda/node_modules/x/index.js"),
            source,
            dist
        ));
        assert!(!is_source(
            Path::new("/p/lambda/.stackctl/cache"),
            source,
            dist
        ));
    }
}
