//! Writing a new project without ever replacing or reaching past anything: every path init would use is
//! checked first (all refusals listed at once, nothing written), then each file is made with create_new.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Files are 0644 and directories 0755 (less under a stricter umask): nothing init writes is writable by
/// others, whatever the caller's umask.
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// What stands in the way of writing `files` (relative paths) into `dir`, one line per path: an existing
/// file, a symlink (even dangling: create_new would refuse it, and one in a directory's place would lead
/// the write outside `dir`), a directory where a file goes, or a file where a directory goes.
pub fn obstacles(dir: &Path, files: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    // DIR itself may be missing (init makes it) or a directory of the caller's (a symlink to one too: the
    // caller named it); not one someone else could change the project in before it is deployed.
    if let Some(problem) = foreign_dir(dir) {
        found.push(format!("{} ({problem})", dir.display()));
        return found;
    }
    let mut note = |path: &Path, what: &str| {
        let line = format!("{} ({what})", path.display());
        if !found.contains(&line) {
            found.push(line);
        }
    };
    for file in files {
        let target = dir.join(file);
        // Each directory on the way, then the file itself.
        let mut walked = dir.to_path_buf();
        let parts: Vec<&str> = file.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            walked.push(part);
            let last = i + 1 == parts.len();
            let Ok(meta) = std::fs::symlink_metadata(&walked) else {
                // Missing: init makes it (and nothing below it can exist).
                break;
            };
            if meta.file_type().is_symlink() {
                note(&walked, "a symbolic link");
                break;
            }
            match (last, meta.is_dir()) {
                (true, true) => note(&target, "a directory"),
                (true, false) => note(&target, "exists"),
                (false, false) => note(&walked, "not a directory"),
                (false, true) => continue,
            }
            break;
        }
    }
    found
}

/// Why DIR, when it exists, is no place for a project: not a directory, someone else's (a symlink too), or
/// writable by others (they could edit the handler or a workflow before it is deployed, or swap a
/// directory for a symlink while init writes).
fn foreign_dir(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let link = std::fs::symlink_metadata(dir).ok()?;
    if link.file_type().is_symlink() && link.uid() != me {
        return Some(format!(
            "a symbolic link of another user (uid {})",
            link.uid()
        ));
    }
    let meta = std::fs::metadata(dir).ok()?;
    if !meta.is_dir() {
        return Some("not a directory".to_string());
    }
    if meta.uid() != me {
        return Some(format!("a directory of another user (uid {})", meta.uid()));
    }
    if meta.mode() & 0o002 != 0 {
        return Some(format!(
            "writable by others (mode {:o}): they could change the project before you deploy it",
            meta.mode() & 0o7777
        ));
    }
    None
}

/// Makes `dir` (and its parents) when missing, then writes each file with create_new (never following or
/// replacing anything that appeared since the check). On a failure the error names the files already
/// written, so a half project is never left silently.
pub fn write_all(dir: &Path, files: &[(&str, String)]) -> anyhow::Result<Vec<String>> {
    let mut written: Vec<String> = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        for (path, text) in files {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                make_dirs(dir, parent)?;
            }
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                // O_NOFOLLOW: a symlink put in the file's place since the check is refused, never followed.
                .custom_flags(libc::O_NOFOLLOW)
                .open(&target)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", target.display()))?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    anyhow::anyhow!("cannot write {} (left incomplete): {e}", target.display())
                })?;
            written.push((*path).to_string());
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(written),
        Err(err) if written.is_empty() => Err(err),
        Err(err) => Err(err.context(format!(
            "init stopped part way: it wrote {} in {} (remove them, or add the missing files by hand)",
            written.join(", "),
            dir.display()
        ))),
    }
}

/// Makes each missing directory between `root` and `parent`, refusing a symlink that appeared since the
/// check (a directory swapped for a link would take the next file outside the project).
fn make_dirs(root: &Path, parent: &Path) -> anyhow::Result<()> {
    let relative = parent.strip_prefix(root).unwrap_or(parent);
    let mut walked: PathBuf = root.to_path_buf();
    for part in relative.components() {
        walked.push(part);
        match std::fs::symlink_metadata(&walked) {
            Ok(meta) if meta.file_type().is_symlink() => {
                anyhow::bail!(
                    "{} became a symbolic link; nothing more written",
                    walked.display()
                )
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => anyhow::bail!("{} is not a directory", walked.display()),
            Err(_) => DirBuilder::new()
                .mode(DIR_MODE)
                .create(&walked)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", walked.display()))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_obstacle_is_listed_and_a_symlinked_directory_is_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("stack.toml"), "x").unwrap();
        std::os::unix::fs::symlink("/nonexistent", root.join(".gitignore")).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.join("lambda")).unwrap();
        std::fs::create_dir_all(root.join("policies/a.json")).unwrap();
        let found = obstacles(
            root,
            &[
                "stack.toml",
                ".gitignore",
                "lambda/src/a.ts",
                "lambda/b.json",
                "policies/a.json",
                "fresh/file",
            ],
        );
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].ends_with("stack.toml (exists)"));
        assert!(found[1].ends_with(".gitignore (a symbolic link)"));
        assert!(found[2].ends_with("lambda (a symbolic link)"));
        assert!(found[3].ends_with("a.json (a directory)"));
        // DIR itself a file: that alone.
        let found = obstacles(&root.join("stack.toml"), &["stack.toml"]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].ends_with("stack.toml (not a directory)"));
        // DIR writable by others (e.g. /tmp itself): refused; the caller's own 0755 directory is fine.
        use std::os::unix::fs::PermissionsExt;
        let shared = root.join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let found = obstacles(&shared, &["stack.toml"]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("writable by others (mode 1777)"),
            "{found:?}"
        );
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(obstacles(&shared, &["stack.toml"]).is_empty());
    }

    #[test]
    fn files_are_made_new_and_never_writable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("new/project");
        let written = write_all(&root, &[("a/b/c.txt", "hi".to_string())]).unwrap();
        assert_eq!(written, ["a/b/c.txt"]);
        let mode = std::fs::metadata(root.join("a/b/c.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o022, 0);
        // A second write refuses the existing file and says so.
        let err = write_all(&root, &[("a/b/c.txt", "again".to_string())]).unwrap_err();
        assert!(format!("{err:#}").contains("c.txt"), "{err:#}");
        assert_eq!(
            std::fs::read_to_string(root.join("a/b/c.txt")).unwrap(),
            "hi"
        );
    }
}
