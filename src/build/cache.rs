//! The build cache: skip install + build + zip when their inputs (sources, package.json, lockfile, tsconfig,
//! the commands, the Node.js binary) hash to what the last successful build recorded, and the artifact dir
//! is untouched since. Lives in `.stackctl/` next to the stack file; written atomically, so an interrupted
//! run never leaves a half-written cache.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::FunctionSpec;

const CACHE_FILE: &str = "build.json";
const ZIP_FILE: &str = "package.zip";
/// Builds remembered for "which source files changed since the deployed build".
const HISTORY: usize = 20;
const FORMAT: u32 = 1;

/// What the build's inputs are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// One hash over everything below.
    pub hash: String,
    /// Source file (relative to the source dir) -> SHA-256 of its content.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    last: Option<LastBuild>,
    history: Vec<PastBuild>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LastBuild {
    inputs: String,
    code_sha256: String,
    files: usize,
    /// Artifact file -> (size, mtime in ns): a cheap check that nobody touched the build output since.
    artifact: BTreeMap<String, (u64, u128)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PastBuild {
    code_sha256: String,
    files: BTreeMap<String, String>,
}

pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache of the project whose stack file is `stack_file`.
    pub fn for_stack_file(stack_file: &Path) -> Cache {
        let base = stack_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Cache {
            dir: base.join(".stackctl"),
        }
    }

    /// The cache of one function of the project: the stack file's for the function `[function]`
    /// describes (where it always was), `.stackctl/functions/<instance>` for another.
    pub fn for_function(stack_file: &Path, function: &crate::config::StackFunction) -> Cache {
        let cache = Cache::for_stack_file(stack_file);
        if function.instance == crate::config::FUNCTION {
            return cache;
        }
        Cache {
            dir: cache.dir.join("functions").join(&function.instance),
        }
    }

    fn read(&self) -> CacheFile {
        std::fs::read(self.dir.join(CACHE_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
            .filter(|c| c.format == FORMAT)
            .unwrap_or_default()
    }

    /// The zip of the last build, if its inputs are `inputs` and the artifact dir is as that build left it.
    pub fn lookup(&self, inputs: &Inputs, artifact_dir: &Path) -> Option<(Vec<u8>, usize)> {
        let last = self.read().last?;
        if last.inputs != inputs.hash || artifact_stat(artifact_dir).ok()? != last.artifact {
            return None;
        }
        let zip = std::fs::read(self.dir.join(ZIP_FILE)).ok()?;
        (code_sha256(&zip) == last.code_sha256).then_some((zip, last.files))
    }

    /// The CodeSha256 of the last build, if the artifact dir is still exactly as that build left it.
    pub fn recorded_code_sha256(&self, artifact_dir: &Path) -> Option<String> {
        let last = self.read().last?;
        (artifact_stat(artifact_dir).ok()? == last.artifact).then_some(last.code_sha256)
    }

    /// Records a successful build. Each file is written to a temp file and renamed into place.
    pub fn store(
        &self,
        inputs: &Inputs,
        artifact_dir: &Path,
        zip: &[u8],
        code_sha256: &str,
        files: usize,
    ) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating `{}`", self.dir.display()))?;
        let mut cache = self.read();
        cache.format = FORMAT;
        cache.last = Some(LastBuild {
            inputs: inputs.hash.clone(),
            code_sha256: code_sha256.to_string(),
            files,
            artifact: artifact_stat(artifact_dir)?,
        });
        cache.history.retain(|b| b.code_sha256 != code_sha256);
        cache.history.insert(
            0,
            PastBuild {
                code_sha256: code_sha256.to_string(),
                files: inputs.files.clone(),
            },
        );
        cache.history.truncate(HISTORY);
        self.write_atomically(ZIP_FILE, zip)?;
        self.write_atomically(CACHE_FILE, &serde_json::to_vec_pretty(&cache)?)
    }

    fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)
            .with_context(|| format!("writing into `{}`", self.dir.display()))?;
        file.write_all(bytes)?;
        file.as_file().sync_all()?;
        file.persist(self.dir.join(name))
            .with_context(|| format!("writing `{}`", self.dir.join(name).display()))?;
        Ok(())
    }

    /// Source files that differ between the build that produced `code_sha256` (if remembered) and `inputs`.
    pub fn changed_since(&self, code_sha256: &str, inputs: &Inputs) -> Option<Vec<String>> {
        let past = self
            .read()
            .history
            .into_iter()
            .find(|b| b.code_sha256 == code_sha256)?;
        let mut changed: Vec<String> = inputs
            .files
            .iter()
            .filter(|(path, hash)| past.files.get(*path) != Some(hash))
            .map(|(path, _)| path.clone())
            .collect();
        changed.extend(
            past.files
                .keys()
                .filter(|p| !inputs.files.contains_key(*p))
                .map(|p| format!("{p} (deleted)")),
        );
        Some(changed)
    }
}

/// base64(SHA-256(bytes)), the format of Lambda's CodeSha256.
pub fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// Hashes the build's inputs: every file under the source dir except dependencies (`node_modules`, covered
/// by the lockfile), the build output, `.git` and `.stackctl`; the commands; and the Node.js binary in PATH.
pub fn inputs(spec: &FunctionSpec) -> Result<Inputs> {
    let mut files = BTreeMap::new();
    let walker = walkdir::WalkDir::new(&spec.source_dir)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name();
    let skipped = |entry: &walkdir::DirEntry| {
        let name = entry.file_name().to_string_lossy();
        // Hidden files count (.npmrc, .babelrc, .env.production change builds); VCS and our cache do not.
        matches!(name.as_ref(), ".git" | ".stackctl")
            || (entry.file_type().is_dir() && name == "node_modules")
            || entry.path() == spec.artifact_dir
    };
    for entry in walker.into_iter().filter_entry(|e| !skipped(e)) {
        let entry = entry.with_context(|| format!("reading `{}`", spec.source_dir.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path())
            .with_context(|| format!("reading `{}`", entry.path().display()))?;
        let relative = entry
            .path()
            .strip_prefix(&spec.source_dir)
            .unwrap_or(entry.path());
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        files.insert(name, hex(&Sha256::digest(&bytes)));
    }
    let mut hasher = Sha256::new();
    for part in [
        spec.build_command.as_str(),
        spec.install_command.as_deref().unwrap_or(""),
        &node_fingerprint(),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    for (path, hash) in &files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(hash.as_bytes());
        hasher.update([0]);
    }
    Ok(Inputs {
        hash: hex(&hasher.finalize()),
        files,
    })
}

/// Which Node.js the build would run, without starting it (a no-op `up` starts no process at all): the
/// resolved binary's path, size and modification time change with every install or upgrade.
fn node_fingerprint() -> String {
    let Some(path) = std::env::var_os("PATH") else {
        return "no PATH".into();
    };
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|candidate| candidate.is_file())
        .and_then(|node| {
            let real = node.canonicalize().ok()?;
            let meta = std::fs::metadata(&real).ok()?;
            let mtime = meta
                .modified()
                .ok()?
                .duration_since(UNIX_EPOCH)
                .ok()?
                .as_nanos();
            Some(format!("{}:{}:{mtime}", real.display(), meta.len()))
        })
        .unwrap_or_else(|| "node not found".into())
}

fn artifact_stat(dir: &Path) -> Result<BTreeMap<String, (u64, u128)>> {
    let mut stat = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
        let entry = entry.with_context(|| format!("reading `{}`", dir.display()))?;
        let meta = entry.metadata()?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        stat.insert(
            entry
                .path()
                .strip_prefix(dir)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .into_owned(),
            (meta.len(), mtime),
        );
    }
    Ok(stat)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path) -> FunctionSpec {
        FunctionSpec {
            name: "f".into(),
            runtime: "nodejs24.x".into(),
            handler: "handler.handler".into(),
            source_dir: dir.to_path_buf(),
            install_command: None,
            build_command: "npm run build".into(),
            artifact_dir: dir.join("dist"),
            memory_mb: 128,
            timeout_secs: 10,
            architecture: "x86_64".into(),
            environment: BTreeMap::new(),
            reserved_concurrency: None,
        }
    }

    fn write(path: &Path, body: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }

    #[test]
    fn inputs_ignore_dependencies_output_and_vcs_but_not_hidden_config() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("src/handler.ts"), "a");
        let before = inputs(&spec(dir.path())).unwrap();
        write(&dir.path().join("node_modules/x/index.js"), "x");
        write(&dir.path().join("dist/handler.js"), "built");
        write(&dir.path().join(".git/HEAD"), "y");
        assert_eq!(inputs(&spec(dir.path())).unwrap(), before);
        write(&dir.path().join(".npmrc"), "registry=x");
        assert_ne!(
            inputs(&spec(dir.path())).unwrap().hash,
            before.hash,
            ".npmrc changes builds"
        );
        std::fs::remove_file(dir.path().join(".npmrc")).unwrap();
        write(&dir.path().join("src/handler.ts"), "b");
        assert_ne!(inputs(&spec(dir.path())).unwrap().hash, before.hash);
        let mut other_command = spec(dir.path());
        other_command.build_command = "npm run build:prod".into();
        assert_ne!(
            inputs(&other_command).unwrap().hash,
            inputs(&spec(dir.path())).unwrap().hash
        );
    }

    #[test]
    fn a_hit_needs_the_same_inputs_and_an_untouched_artifact() {
        let project = tempfile::tempdir().unwrap();
        let cache = Cache::for_stack_file(&project.path().join("stack.toml"));
        let source = project.path().join("lambda");
        write(&source.join("src/handler.ts"), "a");
        write(&source.join("dist/handler.js"), "built");
        let spec = spec(&source);
        let now = inputs(&spec).unwrap();
        assert!(cache.lookup(&now, &spec.artifact_dir).is_none());
        let zip = b"zip bytes".to_vec();
        let sha = code_sha256(&zip);
        cache
            .store(&now, &spec.artifact_dir, &zip, &sha, 1)
            .unwrap();
        assert_eq!(
            cache.lookup(&now, &spec.artifact_dir),
            Some((zip.clone(), 1))
        );
        // Someone rebuilt by hand: the output changed, the cache must not be trusted.
        write(&source.join("dist/handler.js"), "built differently");
        assert!(cache.lookup(&now, &spec.artifact_dir).is_none());
        // And a source change tells which file changed since that build.
        write(&source.join("src/handler.ts"), "b");
        let later = inputs(&spec).unwrap();
        assert_eq!(
            cache.changed_since(&sha, &later),
            Some(vec!["src/handler.ts".to_string()])
        );
        assert_eq!(cache.changed_since("unknown", &later), None);
    }
}
