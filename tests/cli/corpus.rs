//! The bad-input corpus (tests/corpus/, format in its README.md): every case is refused by `stackctl up`
//! with exit code 64, nothing on stdout, exactly the stderr in its `expected-stderr.txt`, and not one
//! request at the emulator. All cases run against one emulator, each in its own copy of the project, and
//! every failure is reported at once.
//!
//! `STACKCTL_BLESS=1 cargo test --test cli corpus` rewrites the `expected-stderr.txt` files from what the
//! binary prints now (review the diff before committing it).

use std::path::{Path, PathBuf};

use crate::support::*;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
/// Files of a case that are not copied into the project.
const CONTROL_FILES: [&str; 3] = ["expected-stderr.txt", "setup.txt", "args.txt"];
const MIN_CASES: usize = 30;

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .expect("reading tests/corpus")
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("reading a corpus case") {
        let path = entry.expect("case entry").path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Copies the case's files over the project's, then applies its `setup.txt`:
/// `symlink <link> <target>` (`$OUTSIDE` is a directory outside the project), `remove <path>`,
/// `mkdir <path>`. Returns the command-line arguments (`args.txt`, default `up`).
fn install(case: &Path, project: &Project, outside: &Path) -> Result<Vec<String>, String> {
    for file in files_under(case) {
        let relative = file.strip_prefix(case).expect("inside the case");
        if CONTROL_FILES.contains(&relative.to_str().unwrap_or_default()) {
            continue;
        }
        let target = project.dir.path().join(relative);
        std::fs::create_dir_all(target.parent().expect("parent")).map_err(|e| e.to_string())?;
        std::fs::copy(&file, &target).map_err(|e| format!("copying {relative:?}: {e}"))?;
    }
    if let Ok(setup) = std::fs::read_to_string(case.join("setup.txt")) {
        for line in setup
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let words: Vec<&str> = line.split_whitespace().collect();
            let done = match words.as_slice() {
                ["symlink", link, target] => {
                    let link = project.path(link);
                    let target = if *target == "$OUTSIDE" {
                        outside.to_path_buf()
                    } else {
                        PathBuf::from(target)
                    };
                    std::fs::create_dir_all(link.parent().expect("parent"))
                        .and_then(|_| std::os::unix::fs::symlink(target, &link))
                }
                ["remove", path] => std::fs::remove_file(project.path(path)),
                ["mkdir", path] => std::fs::create_dir_all(project.path(path)),
                _ => return Err(format!("setup.txt: cannot understand `{line}`")),
            };
            done.map_err(|e| format!("setup.txt: `{line}`: {e}"))?;
        }
    }
    Ok(match std::fs::read_to_string(case.join("args.txt")) {
        Ok(args) => args.split_whitespace().map(str::to_string).collect(),
        Err(_) => vec!["up".to_string()],
    })
}

#[test]
fn every_broken_case_is_refused_with_its_exact_message_and_no_aws_request() {
    let bless = std::env::var("STACKCTL_BLESS").is_ok_and(|v| v == "1");
    let cases = cases();
    assert!(
        cases.len() >= MIN_CASES,
        "the corpus has {} cases, fewer than {MIN_CASES}",
        cases.len()
    );
    let emulator = Emulator::start();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().expect("case name").to_string_lossy();
        let project = Project::files_only(&emulator);
        let outside = tempfile::tempdir().expect("temp dir");
        let args = match install(case, &project, outside.path()) {
            Ok(args) => args,
            Err(err) => {
                failures.push(format!("{name}: {err}"));
                continue;
            }
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = project.stackctl(&args);
        let mut problems = Vec::new();
        if run.code != 64 {
            problems.push(format!("exit code {} instead of 64", run.code));
        }
        if !run.stdout.is_empty() {
            problems.push(format!("stdout is not empty:\n{}", run.stdout));
        }
        let requests = emulator.requests();
        if !requests.is_empty() {
            let operations: Vec<&str> = requests.iter().map(|r| r.operation.as_str()).collect();
            // The count is for the whole emulator: after this case it says nothing about the next ones.
            failures.push(format!(
                "{name}: requests reached the emulator: {operations:?} (stopping here)"
            ));
            break;
        }
        let temp = project.dir.path().to_string_lossy().into_owned();
        let real_temp = project
            .dir
            .path()
            .canonicalize()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| temp.clone());
        if run.stderr.contains(&temp) || run.stderr.contains(&real_temp) {
            problems.push("stderr shows the temporary project's absolute path".to_string());
        }
        let expected_file = case.join("expected-stderr.txt");
        if bless {
            if problems.is_empty() {
                std::fs::write(&expected_file, &run.stderr).expect("writing expected-stderr.txt");
            }
        } else {
            match std::fs::read_to_string(&expected_file) {
                Ok(expected) if expected == run.stderr => {}
                Ok(expected) => problems.push(format!(
                    "stderr differs\n--- expected\n{expected}--- actual\n{}",
                    run.stderr
                )),
                Err(_) => problems.push(format!(
                    "no expected-stderr.txt (STACKCTL_BLESS=1 writes it); stderr was:\n{}",
                    run.stderr
                )),
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Lambda refuses a zip over 50 MB uploaded directly; stackctl checks that when it packs (package.rs),
/// after reading the live state, so this is not a stack-file error: exit 1, a clear message, and no write.
#[test]
fn a_zip_over_lambdas_direct_upload_limit_is_refused_before_any_write() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "build = \"npm run build\"",
        "build = \"true\"",
    );
    project.write(
        "lambda/dist/handler.js",
        "exports.handler = async () => ({ statusCode: 200 });\n",
    );
    // Incompressible bytes (xorshift64*), a little over 50 MiB, so the zip is too.
    let size = 50 * 1024 * 1024 + 256 * 1024;
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = Vec::with_capacity(size);
    while bytes.len() < size {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    std::fs::write(project.path("lambda/dist/assets.bin"), &bytes).expect("writing the artifact");

    let run = project.stackctl(&["up"]);
    run.expect_code(1);
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
    assert!(
        run.stderr
            .contains("over Lambda's 52428800 byte limit for direct upload"),
        "{}",
        run.stderr
    );
    assert_eq!(
        emulator.writes_since(0),
        Vec::<String>::new(),
        "nothing may be created or changed when the package is too big"
    );
}
