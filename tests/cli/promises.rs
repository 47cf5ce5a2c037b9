//! README promises about the command line as a whole (issue 21 item 8): every command's answer to a bad stack
//! file and to missing credentials, `STACKCTL_FILE`, `-vv`, `completions`, `plan --rebuild`. docs/promises.md
//! maps each README promise to its test.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A shipped payload 2.0 event, for `invoke`.
fn event() -> String {
    Path::new(REPO)
        .join("lambda/events/list-items.json")
        .to_string_lossy()
        .into_owned()
}

/// Every command that talks to AWS, each way it can be run (as README's command table lists them). `stage-name`
/// and `completions` make no AWS call; they are not here.
fn aws_commands() -> Vec<Vec<String>> {
    let event = event();
    let list: Vec<Vec<&str>> = vec![
        vec!["up"],
        vec!["up", "--dry-run"],
        vec!["up", "--rebuild"],
        vec!["plan"],
        vec!["plan", "--rebuild"],
        vec!["status"],
        vec!["outputs"],
        vec!["outputs", "--output", "env", "--prefix", "VITE_"],
        vec!["down"],
        vec!["down", "--confirm"],
        vec!["down", "--confirm", "--backup", "items.jsonl"],
        vec!["down", "--confirm", "--delete-data"],
        vec!["down", "--confirm", "--keep-logs"],
        vec!["restore", "items.jsonl"],
        vec!["restore", "--snapshot", "nightly"],
        vec!["backups"],
        vec!["smoke"],
        vec!["smoke", "--local"],
        vec!["smoke", "--url"],
        vec!["smoke", "--url=http://127.0.0.1:9"],
        vec!["invoke", &event],
        vec!["invoke", "--local", &event],
        vec!["invoke", "--url=http://127.0.0.1:9", &event],
        vec!["logs"],
        vec!["logs", "--follow"],
        vec!["dev", "--port", "0"],
        vec!["ls"],
        vec!["ls", "--all"],
        vec!["token", "--user", "alice"],
        vec!["versions"],
        vec!["rollback"],
        vec!["rollback", "--to", "1"],
    ];
    list.into_iter()
        .map(|args| args.into_iter().map(str::to_string).collect())
        .collect()
}

/// Runs `command` to its end, at most `limit` (a deadline for a run that would otherwise never end, e.g.
/// `dev` or `logs --follow` that started serving): then it is killed and the test fails.
#[track_caller]
pub fn run_bounded(mut command: Command, limit: Duration, what: &str) -> Run {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting stackctl");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for stackctl") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{what}` still running after {limit:?}\n--- stderr\n{}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// README "Commands": "Every command: `64` for a usage error or a bad stack file (nothing is sent to AWS
/// then)", and "Every mistake is reported before any AWS call, with the file, line and column, the field and
/// the fix, and exit code 64": for every command that reads the stack file, `stage-name` included.
#[test]
fn every_command_exits_64_on_a_bad_stack_file_with_no_aws_call() {
    let emulator = Emulator::start();
    let project = Project::unbuilt(&emulator);
    project.edit(
        "stack.toml",
        "[table]\n",
        "[table]\nbiling_mode = \"PROVISIONED\"\n",
    );
    let mut commands = aws_commands();
    commands.push(vec!["stage-name".into(), "feature/x".into()]);
    // `token --local` mints offline (no AWS), but still reads the stack file first.
    commands.push(vec![
        "token".into(),
        "--local".into(),
        "--user".into(),
        "alice".into(),
    ]);
    let mark = emulator.mark();
    for args in &commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let what = format!("stackctl {}", args.join(" "));
        let run = run_bounded(project.command(&args), Duration::from_secs(60), &what);
        assert_eq!(run.code, 64, "{what}: exit code\n{}", run.stderr);
        for part in ["stack.toml:9:1", "unknown field `biling_mode`", "fix:"] {
            assert!(
                run.stderr.contains(part),
                "{what}: stderr lacks `{part}`:\n{}",
                run.stderr
            );
        }
        assert!(run.stdout.is_empty(), "{what}: stdout: {}", run.stdout);
        let sent = emulator.requests_since(mark);
        assert!(
            sent.is_empty(),
            "{what}: AWS requests for a bad stack file: {:?}",
            sent.iter().map(|r| &r.operation).collect::<Vec<_>>()
        );
    }
    // Nothing was built either.
    assert!(!project.path("lambda/dist").exists());
    assert!(!project.path(".stackctl").exists());
}

/// A run with no credentials anywhere: no key variables, an empty HOME, config and credentials files that do
/// not exist, no web identity or container credentials, no instance metadata.
fn without_credentials(project: &Project, args: &[&str], home: &Path) -> Command {
    let mut command = project.command(args);
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_ROLE_ARN")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env_remove("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// README "Commands": "Every command that talks to AWS first makes sure there are credentials: without them
/// (or with expired ones) it exits 1 with one line that says so, what was tried and how to provide them,
/// before it reads, builds or writes anything" ("Credentials" under "In CI" gives the line).
#[test]
fn every_command_that_talks_to_aws_checks_credentials_first() {
    let emulator = Emulator::start();
    let project = Project::unbuilt(&emulator);
    let home = tempfile::tempdir().unwrap();
    let mark = emulator.mark();
    for args in aws_commands() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let what = format!("stackctl {}", args.join(" "));
        let run = run_bounded(
            without_credentials(&project, &args, home.path()),
            Duration::from_secs(60),
            &what,
        );
        assert_eq!(run.code, 1, "{what}: exit code\n{}", run.stderr);
        let line = run.stderr.trim_end();
        assert!(!line.contains('\n'), "{what}: one line:\n{}", run.stderr);
        assert!(
            line.starts_with(
                "error: no AWS credentials found (tried environment variables, the default profile in \
                 ~/.aws/config and ~/.aws/credentials (SSO, credential_process), a web identity token \
                 (AWS_WEB_IDENTITY_TOKEN_FILE), ECS container credentials, EC2 instance metadata); provide \
                 them with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), \
                 `--profile <name>`"
            ),
            "{what}: {line}"
        );
        assert!(line.contains("OIDC"), "{what}: {line}");
        assert!(run.stdout.is_empty(), "{what}: stdout: {}", run.stdout);
        let sent = emulator.requests_since(mark);
        assert!(
            sent.is_empty(),
            "{what}: AWS requests without credentials: {:?}",
            sent.iter().map(|r| &r.operation).collect::<Vec<_>>()
        );
        // Nothing read (the backup file is never created), built or written.
        for path in ["lambda/dist", ".stackctl", "items.jsonl"] {
            assert!(!project.path(path).exists(), "{what}: {path} exists");
        }
    }
}

/// README "Commands", global flags: `-f, --file <PATH>`, env `STACKCTL_FILE`, default `stack.toml`; "relative
/// paths in it are relative to its directory".
#[test]
fn stackctl_file_names_the_stack_file_and_its_paths_are_relative_to_it() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // The project moves one level down, under `infra/`, and its stack file is renamed; stackctl runs from
    // the directory above, where there is no stack.toml.
    let infra = project.path("infra");
    std::fs::create_dir_all(&infra).unwrap();
    for entry in ["policies", "lambda"] {
        std::fs::rename(project.path(entry), infra.join(entry)).unwrap();
    }
    std::fs::rename(project.path("stack.toml"), infra.join("web.toml")).unwrap();

    let default = project.stackctl(&["plan"]);
    default.expect_code(64);
    assert!(
        default
            .stderr
            .contains("stack.toml: cannot read the stack file"),
        "{}",
        default.stderr
    );
    let plan = project.stackctl_with(&["plan"], &[("STACKCTL_FILE", "infra/web.toml")]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains(&format!("+ table {TABLE}: create")),
        "{}",
        plan.stdout
    );
    // The build ran in the file's directory (function.source_dir = "lambda" is infra/lambda).
    assert!(project.path("infra/lambda/dist/handler.js").exists());
    assert!(!project.path("lambda").exists());
    // --file wins over the variable.
    let flag = project.stackctl_with(
        &["--file", "nope.toml", "plan"],
        &[("STACKCTL_FILE", "infra/web.toml")],
    );
    flag.expect_code(64);
    assert!(
        flag.stderr
            .contains("nope.toml: cannot read the stack file"),
        "{}",
        flag.stderr
    );
    project
        .stackctl_with(&["up"], &[("STACKCTL_FILE", "infra/web.toml")])
        .ok();
    project
        .stackctl_with(&["status"], &[("STACKCTL_FILE", "infra/web.toml")])
        .ok();
}

/// README "Output": "Credentials are never printed"; `-vv` adds the SDK's debug log. The secret access key
/// and the session token the run uses never appear on stdout or stderr of `up`, `plan` or `status` at `-vv`.
#[test]
fn vv_never_prints_the_secret_key_or_the_session_token() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // Temporary credentials, so both a secret and a session token go along. The emulator checks a session
    // token only against the temporary credentials it issued; the account's root key (`ROOT_KEY`, which the
    // evaluator lets through unchecked) carries a made-up one. The secret is recognisable and unlike the key id
    // (which is not secret and may be printed).
    let secret = "Secret-8c1e0a5bd2f4c7a1-never-printed".to_string();
    let token = "IQoJb3JpZ2luX2VjETestingSessionToken77f3a9c1d2".to_string();
    let env = [
        ("AWS_ACCESS_KEY_ID", ROOT_KEY),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_SESSION_TOKEN", token.as_str()),
    ];
    for (args, code) in [
        (&["-vv", "plan"][..], 2),
        (&["-vv", "up"], 0),
        (&["-vv", "status"], 0),
        (&["-vv", "status", "--output", "json"], 0),
    ] {
        let run = project.stackctl_with(args, &env);
        run.expect_code(code);
        assert!(
            run.stderr.lines().count() > 20,
            "{args:?}: -vv prints the SDK's debug log:\n{}",
            run.stderr
        );
        for (what, value) in [("secret access key", &secret), ("session token", &token)] {
            for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                assert!(
                    !text.contains(value.as_str()),
                    "{args:?}: the {what} is on {stream}"
                );
            }
        }
    }
}

/// README "Shell completions": `stackctl completions <bash|zsh|fish>` prints a completion script, exit 0, with
/// no stack file and no AWS. Each script is checked by its shell's parser when that shell is installed (bash
/// always is).
#[test]
fn completions_print_a_script_for_each_shell_that_its_shell_parses() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    std::fs::remove_file(project.path("stack.toml")).unwrap();
    let mark = emulator.mark();
    for shell in ["bash", "zsh", "fish"] {
        let run = project.stackctl(&["completions", shell]);
        run.ok();
        assert!(run.stderr.is_empty(), "{shell}: {}", run.stderr);
        // Every command is offered.
        for command in [
            "up",
            "plan",
            "status",
            "down",
            "restore",
            "smoke",
            "invoke",
            "logs",
            "dev",
            "ls",
            "stage-name",
            "completions",
            "token",
            "versions",
            "rollback",
        ] {
            assert!(run.stdout.contains(command), "{shell}: `{command}` missing");
        }
        let script = project.path(&format!("completion.{shell}"));
        std::fs::write(&script, &run.stdout).unwrap();
        let (program, flags) = match shell {
            "fish" => ("fish", ["--no-execute"]),
            other => (other, ["-n"]),
        };
        let checked = Command::new(program).args(flags).arg(&script).output();
        match checked {
            Ok(out) => assert!(
                out.status.success(),
                "{program} {flags:?} refuses the {shell} script: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            // Only bash is part of every machine this project runs on.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && shell != "bash" => {
                eprintln!("{program} is not installed: the {shell} script's syntax is not checked")
            }
            Err(err) => panic!("running {program}: {err}"),
        }
    }
    // bash loads it: the completion function is defined and bound to stackctl.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p stackctl",
            project.path("completion.bash").display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("stackctl"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    project.stackctl(&["completions", "tcsh"]).expect_code(64);
    assert!(emulator.requests_since(mark).is_empty());
}

/// README "Commands": "`stackctl up --rebuild`, `plan --rebuild`: ignore the build cache: always run the install
/// (when needed) and the build". A `plan` with an unchanged handler starts no npm; `plan --rebuild` runs the
/// build (here an npm that fails, so the build is seen to run), and with the real npm it builds again and the
/// plan is still in sync (the same zip).
#[test]
fn plan_rebuild_ignores_the_build_cache() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();

    let path = project.path_with_failing_npm("\"npm $* ran\"");
    let no_npm = [("PATH", path.as_str())];

    let plan = project.stackctl_with(&["plan"], &no_npm);
    plan.ok();
    assert!(
        plan.stderr.contains("unchanged since the last build"),
        "{}",
        plan.stderr
    );
    let mark = emulator.mark();
    let forced = project.stackctl_with(&["plan", "--rebuild"], &no_npm);
    forced.expect_code(1);
    assert!(
        forced.stderr.contains("npm run build ran"),
        "{}",
        forced.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    // The real npm: built again, the same bytes, in sync.
    let rebuilt = project.stackctl(&["plan", "--rebuild"]);
    rebuilt.ok();
    assert!(
        !rebuilt.stderr.contains("unchanged since the last build"),
        "{}",
        rebuilt.stderr
    );
    assert!(
        rebuilt.stderr.contains("build: building (npm run build)"),
        "{}",
        rebuilt.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
}

/// README "What `up` does", Handler: "`function.install` runs when `node_modules` is missing or older than
/// `package-lock.json`, then `function.build` runs (the same for `plan` and `dev`)". The install command here
/// only records that it ran (the project's node_modules is the shared install, never reinstalled).
#[test]
fn the_install_runs_only_when_node_modules_is_missing_or_older_than_the_lockfile() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "install = \"npm ci\"",
        "install = \"echo installed >> ../install.log\"",
    );
    let installs = || {
        std::fs::read_to_string(project.path("install.log"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    // node_modules is newer than the lockfile (the harness makes it so): built, not installed.
    project.stackctl(&["plan"]).expect_code(2);
    assert_eq!(installs(), 0);
    // The lockfile changes after the install: installed, then built.
    let installed = std::fs::metadata(project.path("lambda/node_modules/.package-lock.json"))
        .unwrap()
        .modified()
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(project.path("lambda/package-lock.json"))
        .unwrap()
        .set_modified(installed + Duration::from_secs(60))
        .unwrap();
    let run = project.stackctl(&["plan", "--rebuild"]);
    run.expect_code(2);
    assert_eq!(installs(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("build: installing dependencies (echo installed >> ../install.log)"),
        "{}",
        run.stderr
    );
    // node_modules without npm's record of it counts as missing.
    std::fs::File::options()
        .write(true)
        .open(project.path("lambda/package-lock.json"))
        .unwrap()
        .set_modified(installed - Duration::from_secs(60))
        .unwrap();
    project.stackctl(&["plan", "--rebuild"]).expect_code(2);
    assert_eq!(installs(), 1);
    std::fs::rename(
        project.path("lambda/node_modules/.package-lock.json"),
        project.path("lambda/node_modules/.package-lock.json.away"),
    )
    .unwrap();
    project.stackctl(&["plan", "--rebuild"]).expect_code(2);
    assert_eq!(installs(), 2);
}

/// README "What `down --confirm` does": "`--backup -` writes a file named `-`, not stdout."
#[test]
fn backup_dash_writes_a_file_named_dash() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let run = project.stackctl(&["down", "--confirm", "--backup", "-", "--output", "json"]);
    run.ok();
    assert_eq!(run.json()["command"], "down");
    assert!(!run.stdout.contains("stackctl-backup"), "{}", run.stdout);
    let file = project.read("-");
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 2, "header and end line: {file}");
    assert!(
        lines[0].contains("\"format\":\"stackctl-backup\""),
        "{file}"
    );
    assert_eq!(lines[1], "{\"format\":\"stackctl-backup-end\",\"items\":0}");
}

/// README "Commands": `status` "compares the deployed code with the last local build (does not build)". A
/// source edit alone changes nothing for `status` (nothing is built); once `plan` has built it, `status`
/// reports the deployed code as drift; `up` deploys it and `status` is in sync again.
#[test]
fn status_compares_with_the_last_local_build_and_never_builds() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let zip = || std::fs::read(project.path(".stackctl/package.zip")).expect("the build's zip");
    let built = zip();
    project.edit(
        "lambda/src/handler.ts",
        "Method not allowed",
        "Method not allowed here",
    );
    let status = project.stackctl(&["status"]);
    status.ok();
    assert!(!status.stderr.contains("build:"), "{}", status.stderr);
    assert_eq!(zip(), built, "status built the handler");

    project.stackctl(&["plan"]).expect_code(2);
    assert_ne!(zip(), built);
    let drift = project.stackctl(&["status", "--output", "json"]);
    drift.expect_code(2);
    let json = drift.json();
    let function = json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "function")
        .unwrap()
        .clone();
    assert_eq!(function["action"], "update", "{json:#}");
    project.stackctl(&["up"]).ok();
    project.stackctl(&["status"]).ok();
}

/// README "Calling the API from a frontend" (issue 23 item 7): a public URL (`auth = "none"`) without `[auth]`
/// is refused by `up` and `plan` (every form) before any AWS call or build, with the line, the risk and the
/// fix, unless the file says `allow_anonymous = true`. A stack deployed before the rule stays reachable and
/// removable: `status` runs and warns, `down` runs and says nothing of it.
#[test]
fn a_public_url_without_auth_is_refused_by_up_and_plan_but_status_and_down_still_work() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\n\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n",
    );
    project.stackctl(&["up"]).ok();
    // The file as it was before the rule.
    project.edit("stack.toml", "allow_anonymous = true\n", "");
    let line = project
        .read("stack.toml")
        .lines()
        .position(|l| l == "auth = \"none\"")
        .unwrap()
        + 1;
    std::fs::remove_dir_all(project.path("lambda/dist")).unwrap();
    let home = tempfile::tempdir().unwrap();
    let mark = emulator.mark();
    for args in [
        &["up"][..],
        &["up", "--dry-run"],
        &["up", "--rebuild"],
        &["plan"],
        &["plan", "--rebuild"],
        &["plan", "--output", "json"],
    ] {
        let what = format!("stackctl {}", args.join(" "));
        // With credentials, and without any (refused before they are looked for).
        for run in [
            project.stackctl(args),
            run_bounded(
                without_credentials(&project, args, home.path()),
                Duration::from_secs(60),
                &what,
            ),
        ] {
            assert_eq!(run.code, 64, "{what}: exit code\n{}", run.stderr);
            assert!(run.stdout.is_empty(), "{what}: stdout: {}", run.stdout);
            for part in [
                &format!("error: stack.toml:{line}:8: `function.url.auth`: a public URL"),
                "anyone who finds the URL can read, change and delete every user's items by guessing \
                 `userId`s",
                "  fix: add [auth]",
                "write `allow_anonymous = true` under `[function.url]`",
            ] {
                assert!(
                    run.stderr.contains(part),
                    "{what}: stderr lacks `{part}`:\n{}",
                    run.stderr
                );
            }
        }
    }
    // README's example of the refusal is the corpus case's exact text.
    let readme = std::fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let pinned = std::fs::read_to_string(
        Path::new(REPO).join("tests/corpus/url-public-without-allow-anonymous/expected-stderr.txt"),
    )
    .unwrap();
    assert!(readme.contains(&pinned), "README lacks:\n{pinned}");
    let sent = emulator.requests_since(mark);
    assert!(
        sent.is_empty(),
        "AWS requests for a refused up or plan: {:?}",
        sent.iter().map(|r| &r.operation).collect::<Vec<_>>()
    );
    assert!(!project.path("lambda/dist").exists(), "nothing was built");

    let status = project.stackctl(&["status"]);
    status.ok();
    assert!(
        status.stderr.contains(&format!(
            "warning: `up` and `plan` refuse this file: stack.toml:{line}:8: `function.url.auth`: a public URL"
        )),
        "{}",
        status.stderr
    );
    assert!(status.stdout.contains("url"), "{}", status.stdout);
    let down = project.stackctl(&["down", "--confirm"]);
    down.ok();
    assert!(!down.stderr.contains("allow_anonymous"), "{}", down.stderr);
    assert!(!down.stdout.contains("allow_anonymous"), "{}", down.stdout);
    let aws_left = project.stackctl(&["status", "--output", "json"]);
    assert_eq!(aws_left.json()["resources"][0]["action"], "create");
}
