//! Builds the handler and packs its artifact dir into a deterministic zip: the same files always give the
//! same bytes (sorted entries, fixed timestamps and permissions, no directory entries), so CodeSha256 tells
//! whether the deployed code differs.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context, Result};
use zip::write::SimpleFileOptions;

use super::cache::{self as build_cache, code_sha256, Cache, Inputs};
use crate::config::FunctionSpec;
use crate::progress::Task;

/// Lambda's limit for a zip uploaded directly (not through S3).
pub const MAX_DIRECT_UPLOAD: usize = 50 * 1024 * 1024;

/// Lambda's limit for the package unzipped.
const UNZIPPED_LIMIT: u64 = crate::limits::UNZIPPED_BYTES;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub zip: Vec<u8>,
    /// base64(SHA-256(zip)): the format of Lambda's CodeSha256.
    pub code_sha256: String,
    pub files: usize,
    /// The build's inputs, when it came from `build` (not from an existing artifact dir).
    pub inputs: Option<Inputs>,
    /// Whether install + build were skipped because the cache matched.
    pub cached: bool,
    /// Source files changed since the build that is deployed, when this machine's cache remembers it.
    pub changed_files: Option<Vec<String>>,
    /// Native Node.js addons (`.node` files) in the zip: they run only if built for Lambda's OS and CPU.
    pub native_modules: Vec<String>,
}

impl Package {
    pub fn from_zip(zip: Vec<u8>, files: usize) -> Package {
        Package {
            code_sha256: code_sha256(&zip),
            native_modules: native_modules(&zip),
            zip,
            files,
            inputs: None,
            cached: false,
            changed_files: None,
        }
    }
}

/// The entries of a zip that are native Node.js addons (`*.node`).
fn native_modules(zip: &[u8]) -> Vec<String> {
    let Ok(archive) = zip::ZipArchive::new(Cursor::new(zip)) else {
        return Vec::new();
    };
    archive
        .file_names()
        .filter(|name| name.ends_with(".node"))
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The warning for a package that holds native addons: a `.node` file built on this machine (say macOS on
/// arm64) fails to load on Lambda (Amazon Linux on `architecture`) at the first import.
pub fn native_modules_warning(modules: &[String], architecture: &str) -> String {
    let shown: Vec<&str> = modules.iter().take(5).map(String::as_str).collect();
    let more = match modules.len().saturating_sub(shown.len()) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let cpu = if architecture == "arm64" {
        "arm64"
    } else {
        "x64"
    };
    format!(
        "the package holds native Node.js modules ({}{more}): they must be built for Linux on {architecture} \
         (`function.architecture`), or the function fails when it loads them; install them with \
         `npm ci --os=linux --cpu={cpu}` (or build in a Lambda-like container)",
        shown.join(", ")
    )
}

/// Installs dependencies when needed, runs the build command, and packs the artifact dir, unless the build
/// cache says nothing that goes into the build changed since the last one (`rebuild` ignores the cache).
pub async fn build(
    spec: &FunctionSpec,
    cache: &Cache,
    rebuild: bool,
    task: &Task,
) -> Result<Package> {
    task.set("hashing inputs");
    let inputs = build_cache::inputs(spec)?;
    if !rebuild {
        if let Some((zip, files)) = cache.lookup(&inputs, &spec.artifact_dir) {
            let package = Package {
                inputs: Some(inputs),
                cached: true,
                ..Package::from_zip(zip, files)
            };
            task.finish(&format!(
                "unchanged since the last build (CodeSha256 {})",
                package.code_sha256
            ));
            return Ok(package);
        }
    }
    if let Some(install) = &spec.install_command {
        if needs_install(&spec.source_dir) {
            task.set(&format!("installing dependencies ({install})"));
            run(install, &spec.source_dir).await?;
        }
    }
    task.set(&format!("building ({})", spec.build_command));
    run(&spec.build_command, &spec.source_dir).await?;
    task.set("packing");
    let package = pack(&spec.artifact_dir)?;
    cache.store(
        &inputs,
        &spec.artifact_dir,
        &package.zip,
        &package.code_sha256,
        package.files,
    )?;
    task.finish(&format!(
        "built, {} files, {} bytes, CodeSha256 {}",
        package.files,
        package.zip.len(),
        package.code_sha256
    ));
    Ok(Package {
        inputs: Some(inputs),
        ..package
    })
}

/// The package from the artifact dir as it is now, without building (for `status`); None if never built.
pub fn existing(spec: &FunctionSpec) -> Result<Option<Package>> {
    if !spec.artifact_dir.is_dir() {
        return Ok(None);
    }
    pack(&spec.artifact_dir).map(Some)
}

/// What the plan needs to know of the local code: its CodeSha256, and which sources changed since the
/// deployed build when that is known.
#[derive(Debug, Clone, Copy)]
pub struct LocalCode<'a> {
    pub code_sha256: &'a str,
    pub changed_files: Option<&'a [String]>,
}

impl Package {
    pub fn local_code(&self) -> LocalCode<'_> {
        LocalCode {
            code_sha256: &self.code_sha256,
            changed_files: self.changed_files.as_deref(),
        }
    }
}

/// CodeSha256 of the artifact dir as it is now, without building (for `status`): taken from the build
/// cache when the dir is exactly as the last build left it, else by zipping it. None if never built.
pub fn existing_code_sha256(spec: &FunctionSpec, cache: &Cache) -> Result<Option<String>> {
    if let Some(sha) = cache.recorded_code_sha256(&spec.artifact_dir) {
        return Ok(Some(sha));
    }
    Ok(existing(spec)?.map(|p| p.code_sha256))
}

/// npm records the installed tree in node_modules/.package-lock.json; install when it is missing or older
/// than the lockfile.
fn needs_install(source_dir: &Path) -> bool {
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (
        modified(source_dir.join("package-lock.json")),
        modified(source_dir.join("node_modules/.package-lock.json")),
    ) {
        (_, None) => true,
        (Some(lock), Some(installed)) => lock > installed,
        (None, Some(_)) => false,
    }
}

/// The variables the install and build commands get, by exact name (any case).
///
/// An allowlist, not a denylist: the build runs code stackctl does not control (dependencies' install
/// scripts, the package's own scripts) and needs no cloud access at all, while the shell or CI job that runs
/// stackctl holds credentials under more names than any list could keep up with (AWS's keys, profiles and
/// credential files, web identity and container credentials, SSO, the CI's OIDC token requests, GITHUB_TOKEN,
/// CI_JOB_JWT, ...). A failing tool that dumps its environment into the log shown below cannot print them
/// either. What npm, tsc and bundlers need is kept: where programs and the user's files are, locale and time
/// zone, temp dirs, the registry's proxies and CA certificates, and npm's own configuration and registry
/// token.
const BUILD_VARIABLES: &[&str] = &[
    // Programs, the user's files (~/.npmrc, npm's cache), temp dirs, locale, time zone, terminal.
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TMPDIR",
    "TMP",
    "TEMP",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "CI",
    "SOURCE_DATE_EPOCH",
    // Node.js itself: its options (heap size), mode, extra CA certificates.
    "NODE_OPTIONS",
    "NODE_ENV",
    "NODE_EXTRA_CA_CERTS",
    // The registry: proxies and CA bundles, and the token npm substitutes into .npmrc for a private
    // registry (actions/setup-node's `${NODE_AUTH_TOKEN}`).
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_AUTH_TOKEN",
    "NPM_TOKEN",
    // Package managers and version managers the install command may name.
    "COREPACK_HOME",
    "COREPACK_ENABLE_DOWNLOAD_PROMPT",
    "PNPM_HOME",
    "NVM_DIR",
    "VOLTA_HOME",
    "ESBUILD_BINARY_PATH",
    // Windows: what processes need to start at all.
    "SYSTEMROOT",
    "SYSTEMDRIVE",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "PROGRAMFILES",
];

/// The same, by prefix (any case): npm's configuration (`npm_config_cache`, `npm_config_registry`, ...), the
/// locale's categories and the XDG base directories (caches, config).
const BUILD_PREFIXES: &[&str] = &["NPM_CONFIG_", "LC_", "XDG_"];

/// The environment of the install and build commands: only what `BUILD_VARIABLES` and `BUILD_PREFIXES` name.
fn build_env(
    inherited: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    inherited
        .filter(|(key, _)| {
            let Some(key) = key.to_str() else {
                return false;
            };
            let upper = key.to_ascii_uppercase();
            BUILD_VARIABLES.contains(&upper.as_str())
                || BUILD_PREFIXES.iter().any(|p| upper.starts_with(p))
        })
        .collect()
}

/// Runs a shell command in `dir`, with only the environment the build needs (`build_env`). Its output is
/// captured (stdout belongs to stackctl's results) and shown only when it fails.
async fn run(command: &str, dir: &Path) -> Result<()> {
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_clear()
        .envs(build_env(std::env::vars_os()))
        // If stackctl stops (an AWS error, Ctrl-C), the build stops with it.
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("starting `{command}` in `{}`", shown(dir).display()))?;
    if !output.status.success() {
        let mut log = String::from_utf8_lossy(&output.stdout).into_owned();
        log.push_str(&String::from_utf8_lossy(&output.stderr));
        let tail: Vec<&str> = log
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        bail!(
            "`{command}` failed in `{}` ({}):\n{}",
            shown(dir).display(),
            output.status,
            tail.join("\n")
        );
    }
    Ok(())
}

/// A path as the user would write it: relative to the working directory when it is under it.
fn shown(path: &Path) -> &Path {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
}

/// Packs every regular file under `dir` into a deterministic zip.
pub fn pack(dir: &Path) -> Result<Package> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("reading the artifact dir `{}`", shown(dir).display()))?;
    let mut files: Vec<(String, PathBuf, u64)> = Vec::new();
    for entry in walkdir::WalkDir::new(&root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry
            .with_context(|| format!("reading the artifact dir `{}`", shown(dir).display()))?;
        let path = entry.path();
        let real = if entry.path_is_symlink() {
            let target = path
                .canonicalize()
                .with_context(|| format!("following the symlink `{}`", path.display()))?;
            if !target.starts_with(&root) {
                bail!(
                    "`{}` is a symlink to `{}`, outside the artifact dir; copy the file into the build output instead",
                    path.display(),
                    target.display()
                );
            }
            target
        } else {
            path.to_path_buf()
        };
        if !real.is_file() {
            continue; // directories are implied by the file paths
        }
        let relative = path
            .strip_prefix(&root)
            .with_context(|| format!("`{}` is outside the artifact dir", path.display()))?;
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let size = std::fs::metadata(&real)
            .with_context(|| format!("reading `{}`", real.display()))?
            .len();
        files.push((name, real, size));
    }
    if files.is_empty() {
        bail!(
            "the artifact dir `{}` is empty: did the build write its output there?",
            shown(dir).display()
        );
    }
    // Checked before anything is read or zipped: Lambda refuses a package bigger than this unzipped.
    let unzipped: u64 = files.iter().map(|(_, _, size)| size).sum();
    if unzipped > UNZIPPED_LIMIT {
        let (largest, _, largest_size) = files
            .iter()
            .max_by_key(|(_, _, size)| *size)
            .expect("files is not empty");
        bail!(
            "the artifact dir `{}` holds {unzipped} bytes of files, over Lambda's limit of {UNZIPPED_LIMIT} bytes for \
             a deployment package unzipped (the largest file is `{largest}`, {largest_size} bytes); bundle the \
             handler so that node_modules stays out of it, and move large assets to S3",
            shown(dir).display()
        );
    }
    // Sort by the zip entry name itself, so the order does not depend on the platform's path separator.
    files.sort();
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, path, _) in &files {
        let bytes = std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))?;
        writer.start_file(name.as_str(), options)?;
        writer.write_all(&bytes)?;
    }
    let zip = writer.finish()?.into_inner();
    if zip.len() > MAX_DIRECT_UPLOAD {
        bail!(
            "the zipped artifact is {} bytes, over Lambda's {} byte limit for direct upload; bundle with tree shaking or move assets out of `{}`",
            zip.len(),
            MAX_DIRECT_UPLOAD,
            shown(dir).display()
        );
    }
    Ok(Package::from_zip(zip, files.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, name: &str, body: &str) {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }

    #[test]
    fn same_files_give_the_same_bytes_whatever_the_mtime_or_mode() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        // Written in different orders, at different times, with different permissions.
        write(a.path(), "handler.js", "exports.handler = 1;");
        write(a.path(), "lib/util.js", "u");
        write(b.path(), "lib/util.js", "u");
        write(b.path(), "handler.js", "exports.handler = 1;");
        // Different modification times, set rather than waited for.
        let mtime = |path: &Path, secs: u64| {
            fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
                .unwrap()
        };
        mtime(&a.path().join("handler.js"), 1_000_000_000);
        mtime(&b.path().join("handler.js"), 1_700_000_000);
        mtime(&b.path().join("lib/util.js"), 1_600_000_000);
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            b.path().join("handler.js"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let (pa, pb) = (pack(a.path()).unwrap(), pack(b.path()).unwrap());
        assert_eq!(pa.zip, pb.zip);
        assert_eq!(pa.code_sha256, pb.code_sha256);
        assert_eq!(pa.files, 2);
    }

    #[test]
    fn a_changed_file_changes_the_sha() {
        let a = tempfile::tempdir().unwrap();
        write(a.path(), "handler.js", "one");
        let before = pack(a.path()).unwrap().code_sha256;
        write(a.path(), "handler.js", "two");
        assert_ne!(before, pack(a.path()).unwrap().code_sha256);
    }

    #[test]
    fn entries_are_sorted_files_only_with_fixed_metadata() {
        let a = tempfile::tempdir().unwrap();
        write(a.path(), "z.js", "z");
        write(a.path(), "a/b.js", "b");
        let zip = pack(a.path()).unwrap().zip;
        let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        let names: Vec<String> = (0..archive.len())
            .map(|i| archive.by_index(i).unwrap().name().to_string())
            .collect();
        assert_eq!(names, vec!["a/b.js", "z.js"]);
        let entry = archive.by_index(0).unwrap();
        assert_eq!(entry.unix_mode(), Some(0o100644));
        assert_eq!(entry.last_modified(), Some(zip::DateTime::default()));
    }

    #[test]
    fn symlinks_out_of_the_artifact_dir_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret", "s");
        let a = tempfile::tempdir().unwrap();
        write(a.path(), "handler.js", "h");
        std::os::unix::fs::symlink(outside.path().join("secret"), a.path().join("leak")).unwrap();
        let err = pack(a.path()).unwrap_err().to_string();
        assert!(err.contains("outside the artifact dir"), "{err}");
    }

    #[test]
    fn a_package_over_lambdas_unzipped_limit_is_refused_before_zipping() {
        let a = tempfile::tempdir().unwrap();
        write(a.path(), "handler.js", "h");
        write(a.path(), "assets/big.bin", "");
        // Sparse: it takes no disk space, and it is never read (the check comes before the zip).
        let big = fs::File::options()
            .write(true)
            .open(a.path().join("assets/big.bin"))
            .unwrap();
        big.set_len(UNZIPPED_LIMIT).unwrap();
        let err = pack(a.path()).unwrap_err().to_string();
        assert!(
            err.contains("262144001 bytes")
                && err.contains("limit of 262144000 bytes")
                && err.contains("`assets/big.bin`, 262144000 bytes")
                && err.contains("bundle the handler"),
            "{err}"
        );
    }

    #[test]
    fn native_modules_are_found_in_the_zip() {
        let a = tempfile::tempdir().unwrap();
        write(a.path(), "handler.js", "h");
        write(
            a.path(),
            "node_modules/sharp/build/Release/sharp.node",
            "elf",
        );
        let package = pack(a.path()).unwrap();
        assert_eq!(
            package.native_modules,
            vec!["node_modules/sharp/build/Release/sharp.node"]
        );
        let warning = native_modules_warning(&package.native_modules, "arm64");
        assert!(
            warning.contains("sharp.node")
                && warning.contains("Linux on arm64")
                && warning.contains("--cpu=arm64"),
            "{warning}"
        );
        let plain = tempfile::tempdir().unwrap();
        write(plain.path(), "handler.js", "h");
        assert!(pack(plain.path()).unwrap().native_modules.is_empty());
    }

    #[test]
    fn the_build_gets_only_what_npm_needs_never_a_credential() {
        let inherited = [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/dev"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C"),
            ("https_proxy", "http://proxy:3128"),
            ("npm_config_cache", "/tmp/npm"),
            ("NPM_CONFIG_REGISTRY", "https://registry.example"),
            ("NODE_AUTH_TOKEN", "npm-token"),
            ("XDG_CACHE_HOME", "/home/dev/.cache"),
            ("AWS_ACCESS_KEY_ID", "x"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("AWS_SESSION_TOKEN", "x"),
            ("AWS_PROFILE", "x"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "x"),
            ("AWS_ROLE_ARN", "x"),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "x"),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "x"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "x"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "x"),
            ("AWS_SHARED_CREDENTIALS_FILE", "x"),
            ("AWS_CONFIG_FILE", "x"),
            ("AWS_SSO_SESSION", "x"),
            ("AWS_ENDPOINT_URL", "x"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "x"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "x"),
            ("ACTIONS_RUNTIME_TOKEN", "x"),
            ("GITHUB_TOKEN", "x"),
            ("GH_TOKEN", "x"),
            ("CI_JOB_JWT", "x"),
            ("CI_JOB_JWT_V2", "x"),
            ("CI_JOB_TOKEN", "x"),
            ("LD_PRELOAD", "x"),
            ("SOMETHING_ELSE", "x"),
        ]
        .map(|(k, v)| (k.into(), v.into()));
        let kept: Vec<String> = build_env(inherited.into_iter())
            .into_iter()
            .map(|(k, _)| k.into_string().unwrap())
            .collect();
        assert_eq!(
            kept,
            [
                "PATH",
                "HOME",
                "LANG",
                "LC_ALL",
                "https_proxy",
                "npm_config_cache",
                "NPM_CONFIG_REGISTRY",
                "NODE_AUTH_TOKEN",
                "XDG_CACHE_HOME"
            ]
        );
    }

    #[test]
    fn the_sha_is_lambdas_format() {
        let p = Package::from_zip(b"abc".to_vec(), 1);
        assert_eq!(
            p.code_sha256,
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }
}
