//! `stackctl init` (issue 26, item 1): a new project written from the repository's own files, with no AWS
//! call; refusing to write over anything or outside the directory; and a project it writes deploys, passes
//! smoke, is served by `dev --auth local` and goes away with `down`, from an empty directory.

use std::path::Path;
use std::process::Command;

use crate::support::*;

/// `stackctl init <args>` in `cwd` with no credentials and an endpoint nobody listens on: init needs neither.
fn init(cwd: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .arg("init")
        .args(args)
        .current_dir(cwd)
        .env("AWS_ACCESS_KEY_ID", "")
        .env("AWS_SECRET_ACCESS_KEY", "")
        .env("AWS_PROFILE", "nobody-has-this-profile")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env_remove("STACKCTL_FILE")
        .env_remove("STACKCTL_OUTPUT")
        .output()
        .expect("running stackctl init");
    Run::from(output)
}

/// The project a test runs against the emulator, as a user holding exactly `stackctl policy`'s output for
/// the written stack (the issue's "from nothing" path: init, then the deploy policy it needs), and for
/// `dev`/`smoke --local` that policy plus the function's table policy (what the handler does locally).
fn project_in(emulator: &Emulator, dir: tempfile::TempDir) -> Project {
    let mut project = Project::at(emulator, dir);
    let policy = project.generated_policy(&[]);
    project.operator = emulator.user("init-deployer", std::slice::from_ref(&policy));
    project.local = emulator.user("init-developer", &[policy, function_policy()]);
    project
}

/// Every entry under `dir`, relative, sorted (what a refused init must leave as it was).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The issue's promise, from an empty directory: init (offline), then `up` and `smoke` pass, `dev --auth
/// local` serves it (smoke as two local users against it passes), and `down --confirm` removes it.
#[test]
fn an_initialized_project_deploys_passes_smoke_is_served_by_dev_and_goes_away() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let mark = emulator.mark();
    let run = init(dir.path(), &["--name", "init-e2e"]);
    run.ok();
    assert!(
        emulator.requests_since(mark).is_empty(),
        "init sent a request"
    );
    for next in ["stackctl up", "stackctl dev --auth local"] {
        assert!(run.stdout.contains(next), "{}", run.stdout);
    }
    assert!(!run.stdout.contains("cd "), "{}", run.stdout);
    let project = project_in(&emulator, dir);
    assert!(project.read("stack.toml").contains("name = \"init-e2e\""));

    project.stackctl(&["up"]).ok();
    let smoke = project.stackctl(&["smoke", "--output", "json"]);
    smoke.ok();
    assert_eq!(smoke.json()["passed"], true, "{}", smoke.stdout);
    // The URL and the managed pool are deployed: status is in sync and names them.
    let status = project.stackctl(&["status", "--output", "json"]);
    status.ok();
    let outputs = &status.json()["outputs"];
    assert!(outputs["url"].is_string(), "{outputs}");
    assert!(outputs["auth_user_pool_id"].is_string(), "{outputs}");

    let dev = Dev::start(&project, &["--auth", "local"]);
    project
        .stackctl(&["smoke", &format!("--url={}", dev.base), "--auth", "local"])
        .ok();
    drop(dev);

    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    // Nothing of the stack is left: the preview finds nothing to delete.
    let after = project.stackctl(&["down", "--output", "json"]);
    after.ok();
    assert_eq!(after.json()["found"], 0, "{}", after.stdout);

    // The handler's tests it ships run in the new project (offline: the build, then node's test runner).
    let npm = Command::new("npm")
        .arg("test")
        .current_dir(project.path("lambda"))
        .output()
        .expect("running npm test");
    assert!(
        npm.status.success(),
        "npm test in the new project:\n{}\n{}",
        String::from_utf8_lossy(&npm.stdout),
        String::from_utf8_lossy(&npm.stderr)
    );
}

/// Anything where init would write (a file, a dangling symlink, a symlinked directory that would take the
/// write elsewhere): exit 64, every one listed, nothing written anywhere.
#[test]
fn init_refuses_to_write_over_anything_and_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("stack.toml"), "mine").unwrap();
    std::os::unix::fs::symlink("/nonexistent/gitignore", root.join(".gitignore")).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), root.join("lambda")).unwrap();
    let before = tree(root);

    let run = init(root, &["--name", "shop"]);
    run.expect_code(64);
    for listed in [
        "stack.toml (exists)",
        ".gitignore (a symbolic link)",
        "lambda (a symbolic link)",
    ] {
        assert!(run.stderr.contains(listed), "{listed}: {}", run.stderr);
    }
    assert!(run.stderr.contains("fix: "), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(tree(root), before, "init wrote something");
    assert!(
        tree(elsewhere.path()).is_empty(),
        "init wrote through the symlink"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("stack.toml")).unwrap(),
        "mine"
    );

    // A second init over a project it wrote: every one of its files listed, nothing changed.
    let project = root.join("p");
    init(root, &["p"]).ok();
    let written = tree(&project);
    let again = init(root, &["p"]);
    again.expect_code(64);
    assert_eq!(
        again.stderr.matches(" (exists)").count(),
        17,
        "{}",
        again.stderr
    );
    assert_eq!(tree(&project), written);
}

/// A name that cannot make every resource name (bad characters, too long for the prod stage's IAM role):
/// exit 64 naming `--name` (or the directory) and a name that would do; nothing written.
#[test]
fn a_bad_name_is_refused_with_the_fix_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let run = init(root, &["new", "--name", "My_App"]);
    run.expect_code(64);
    assert!(run.stderr.contains("`--name`"), "{}", run.stderr);
    assert!(
        run.stderr.contains("fix: use e.g. `--name my-app`"),
        "{}",
        run.stderr
    );
    let long = "a".repeat(33);
    let run = init(root, &["new", "--name", &long]);
    run.expect_code(64);
    assert!(run.stderr.contains("33 characters long"), "{}", run.stderr);
    // The default name is the directory's: one that is not a valid name is refused, naming the directory.
    let run = init(root, &["Bad_Dir"]);
    run.expect_code(64);
    assert!(run.stderr.contains("directory's name"), "{}", run.stderr);
    assert!(run.stderr.contains("--name bad-dir"), "{}", run.stderr);
    assert!(tree(root).is_empty(), "{:?}", tree(root));
}

/// `--output json`, the files' modes, and the written files are the repository's own (the drift test at the
/// binary's level; the README shows the workflows init writes, byte for byte).
#[test]
fn init_writes_the_repositorys_files_and_reports_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let run = init(dir.path(), &["shop", "--output", "json"]);
    run.ok();
    let doc = run.json();
    assert_eq!(doc["command"], "init");
    assert_eq!(doc["dir"], "shop");
    assert_eq!(doc["name"], "shop");
    let files: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let project = dir.path().join("shop");
    for file in &files {
        let mode = std::fs::metadata(project.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o022, 0, "{file} is writable by others");
    }
    let repo = Path::new(REPO);
    for same in [
        "policies/lambda-trust-policy.json",
        "policies/lambda-dynamodb-policy.json",
        "lambda/tsconfig.json",
        "lambda/src/handler.ts",
        "lambda/src/auth.ts",
        "lambda/test/preflight.test.mjs",
    ] {
        assert!(files.contains(&same), "{same}");
        assert_eq!(
            std::fs::read(project.join(same)).unwrap(),
            std::fs::read(repo.join(same)).unwrap(),
            "{same}"
        );
    }
    let package = std::fs::read_to_string(project.join("lambda/package.json")).unwrap();
    assert_eq!(
        package.replace("\"shop-api\"", "\"my-frontend-app-api\""),
        std::fs::read_to_string(repo.join("lambda/package.json")).unwrap()
    );
    let stack = std::fs::read_to_string(project.join("stack.toml")).unwrap();
    for line in [
        "name = \"shop-data\"",
        "name = \"shop-lambda-role\"",
        "name = \"shop-api\"",
        "[function.url]",
        "[function.deploy]",
        "[auth]\ncognito = true",
        "role.name = \"shop-lambda-role-${stage}-${region}\"",
    ] {
        assert!(stack.contains(line), "{line}");
    }
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    for workflow in [
        ".github/workflows/deploy.yml",
        ".github/workflows/preview.yml",
    ] {
        let text = std::fs::read_to_string(project.join(workflow)).unwrap();
        assert!(
            readme.contains(&format!("```yaml\n{text}```")),
            "README does not show {workflow} as init writes it"
        );
    }
}
