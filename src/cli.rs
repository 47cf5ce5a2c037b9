//! Command-line definitions only; behaviour lives in the command modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub mod since;

#[derive(Parser, Debug)]
#[command(
    name = "stackctl",
    version,
    about = "Provision a DynamoDB table, an IAM role and policy, and a Lambda function from one stack.toml",
    long_about = "Provision a DynamoDB table, an IAM role and policy, and a TypeScript Lambda function from one \
                  stack.toml, idempotently. There is no state file: the live AWS account is the state.",
    after_help = "Exit codes: 0 success / in sync, 1 error, 2 changes pending or drift (plan, status) or not deployed (outputs), \
                  3 down without --confirm had something to delete, 64 usage or stack.toml error, \
                  130 interrupted (Ctrl-C, SIGTERM; also how logs --follow ends)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug)]
pub struct Global {
    /// The stack file.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        env = "STACKCTL_FILE",
        default_value = "stack.toml"
    )]
    pub file: PathBuf,
    /// AWS region; overrides `stack.region` in the stack file.
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// The stage (environment) to work on: every physical name carries it (a `-<stage>` suffix, or where a
    /// name writes `${stage}`), `[stages.<stage>]` overlays the file, and only resources tagged with it are
    /// this stage's. Lower-case letters, digits and `-`, starting with a letter.
    #[arg(long, global = true, env = "STACKCTL_STAGE", value_name = "NAME", value_parser = parse_stage)]
    pub stage: Option<String>,
    /// AWS profile from ~/.aws/config; otherwise the standard credential chain.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Result format on stdout. Progress and logs always go to stderr. `env` (KEY=value lines) is for
    /// `stackctl outputs` only.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "STACKCTL_OUTPUT",
        default_value = "text"
    )]
    pub output: Output,
    /// Results only: no progress on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// -v: each AWS call on stderr; -vv: also the SDK's own debug log.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Maximum seconds to wait for any one resource; overrides every [timeouts] value in the stack file.
    #[arg(long, global = true, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub wait_timeout: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
    /// `KEY=value` lines, for `$GITHUB_OUTPUT` and `.env` files (`stackctl outputs` only).
    Env,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create or update every resource until the account matches stack.toml.
    #[command(after_help = "Example:\n  stackctl up\n  stackctl up --dry-run --output json")]
    Up {
        /// Show what would change and exit (same as `stackctl plan`).
        #[arg(long)]
        dry_run: bool,
        /// Run the install and build even when the build cache says nothing changed.
        #[arg(long)]
        rebuild: bool,
    },
    /// Show what `up` would do, without changing anything. Exit 0: in sync; 2: changes pending.
    #[command(
        after_help = "Example:\n  stackctl plan\n  stackctl plan --output json | jq .summary"
    )]
    Plan {
        /// Run the install and build even when the build cache says nothing changed.
        #[arg(long)]
        rebuild: bool,
    },
    /// Per resource: does it exist, its live state, and whether it matches stack.toml. Exit 2 on drift.
    #[command(
        after_help = "Example:\n  stackctl status\n  stackctl status -f other/stack.toml --output json"
    )]
    Status,
    /// Print the stack's outputs (the URL, the table's, function's and role's ARNs, the alias, the pool and
    /// client ids and issuer, names, region, stage) from the fewest reads, each only from a resource that
    /// exists and is this deployment's. Exit 0: deployed; 2: not deployed, or only partly (`missing` names
    /// what is not).
    #[command(
        after_help = "Text: `key: value` lines; --output json: one document with `deployed`, `outputs` (null for \
                      a value not there) and `missing`; --output env: `KEY=value` lines (the key upper-cased, \
                      lines for absent values left out) for $GITHUB_OUTPUT and .env files. A value that could \
                      inject a line or be expanded (outside A-Z a-z 0-9 and . _ : / @ % + , = ~ - ? &) is \
                      refused in env, a control character in text: exit 1, nothing printed.\n\nExample:\n  \
                      stackctl outputs\n  stackctl outputs --output env >> \"$GITHUB_OUTPUT\"\n  \
                      stackctl outputs --output env --prefix VITE_ > frontend/.env.production\n  \
                      stackctl outputs --output json | jq -r .outputs.url"
    )]
    Outputs {
        /// With --output env: put PREFIX before every name (`VITE_` gives VITE_URL); A-Z, 0-9 and _, not
        /// starting with a digit.
        #[arg(long, value_name = "PREFIX", value_parser = parse_prefix)]
        prefix: Option<String>,
    },
    /// Delete what this stack created. Without --confirm, only shows what would be deleted.
    #[command(
        after_help = "Example:\n  stackctl down            # preview, deletes nothing\n  stackctl down --count    # preview with the table's exact item count\n  stackctl down --confirm\n  stackctl down --confirm --snapshot\n  stackctl down --confirm --backup items.jsonl"
    )]
    Down {
        /// Really delete.
        #[arg(long)]
        confirm: bool,
        /// Delete the table even though it holds items, and the managed user pool (`[auth] cognito = true`)
        /// even though it holds users (both are lost). With --snapshot or --backup the table is still
        /// secured first: --delete-data then covers only the rest (users, versions an alias serves).
        #[arg(long)]
        delete_data: bool,
        /// Keep the function's log group and its events (down deletes the group the stack created).
        #[arg(long)]
        keep_logs: bool,
        /// Export every item of the table to this JSON Lines file first (restore with `stackctl restore`).
        #[arg(long, value_name = "FILE")]
        backup: Option<PathBuf>,
        /// Take a DynamoDB on-demand backup of the table (waited until AVAILABLE) before deleting it; restore
        /// with `stackctl restore --snapshot <ARN>`.
        #[arg(long, conflicts_with = "backup")]
        snapshot: bool,
        /// Count the table's items exactly (a full, strongly consistent scan in parallel segments) instead
        /// of showing DynamoDB's estimate.
        #[arg(long)]
        count: bool,
        /// How many parallel segments an exact count (--count) and --backup scan the table in.
        #[arg(long, value_name = "N", default_value_t = crate::backup::DEFAULT_SEGMENTS,
              value_parser = clap::value_parser!(u32).range(1..=crate::backup::MAX_SEGMENTS as i64))]
        segments: u32,
    },
    /// Put every item of a backup file (from `down --backup`) into the stack's table (run `up` first). The
    /// file must be complete and come from this table, stage, region and account; the table must be empty.
    /// With --snapshot: DynamoDB restores one of its own backups into the stack's table name, which must not
    /// exist.
    #[command(
        after_help = "--snapshot makes a NEW table from a DynamoDB backup (`stackctl backups` lists them; `down \
                      --confirm --snapshot` takes one), waits until it is ACTIVE and tags it as the stack's. \
                      DynamoDB does not restore deletion protection, point-in-time recovery or TTL: `stackctl \
                      up` sets them. Backups are found by their table's name only (anyone who can make a table of \
                      that name can back it up): restore the ARN that `down --confirm --snapshot` printed, not a \
                      name or the first one `backups` lists.\n\nExample:\n  stackctl down --confirm --backup \
                      items.jsonl\n  stackctl up\n  stackctl restore items.jsonl\n  stackctl restore --snapshot \
                      arn:aws:dynamodb:us-east-1:123456789012:table/my-frontend-app-data/backup/01764929700000-1a2b3c4d\n  \
                      stackctl up"
    )]
    Restore {
        /// The JSON Lines file `down --backup` wrote.
        #[arg(value_name = "FILE", required_unless_present = "snapshot")]
        backup_file: Option<PathBuf>,
        /// A DynamoDB backup of the stack's table, by its ARN or its name (`stackctl backups`), restored into
        /// the stack's table name, which must not exist.
        #[arg(
            long,
            value_name = "ARN|NAME",
            value_parser = parse_snapshot,
            conflicts_with_all = ["backup_file", "overwrite", "headerless"]
        )]
        snapshot: Option<crate::backup::Wanted>,
        /// Restore into a table that already holds items (items with the same key are replaced).
        #[arg(long)]
        overwrite: bool,
        /// Restore a backup taken from another table, stage, region or account (the key schema must match);
        /// with --snapshot, a backup of another table of the same region.
        #[arg(long)]
        allow_other_source: bool,
        /// Restore an old backup without a header (written before backups recorded where they came from):
        /// nothing then checks its origin or that it is complete.
        #[arg(long)]
        headerless: bool,
    },
    /// Send the tutorial's requests to the function as API Gateway events and check every answer.
    /// Exit 0: every step passed; 1: a step failed (or the cleanup did).
    #[command(
        after_help = "Creates two items, lists them, deletes one, sends a POST without title and a DELETE and a \
                      PATCH without itemId (400s that change nothing), lists again, then a missing userId, PUT, \
                      PATCH, a PATCH and a GET of a missing item (404s; the PATCH must not create it) and a body \
                      that is not JSON, all under a throwaway userId whose items are deleted afterwards, also \
                      when a step fails or the run is interrupted (Ctrl-C, SIGTERM: exit 130).\n\nExample:\n  stackctl smoke\n  \
                      stackctl smoke --local --output json | jq '.steps[] | select(.result != \"pass\")'\n  \
                      stackctl smoke --url --origin https://app.example.com\n  \
                      stackctl smoke --url=http://127.0.0.1:3000"
    )]
    Smoke {
        /// Run the built handler (function.artifact_dir) in the local Node.js, with the deployed function's
        /// environment and the same AWS endpoint, instead of invoking the deployed function.
        #[arg(long)]
        local: bool,
        /// Send real HTTP(S) requests to the function URL instead: the deployed one (`--url`, read with
        /// GetFunctionUrlConfig) or BASE_URL (`--url=http://127.0.0.1:3000`). Signed with SigV4 (service
        /// `lambda`, the standard credential chain) when the URL's auth is AWS_IAM (for a BASE_URL: when
        /// `function.url.auth = "aws_iam"`).
        #[arg(
            long,
            value_name = "BASE_URL",
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "",
            conflicts_with = "local"
        )]
        url: Option<String>,
        /// With --url: send this Origin header (as a browser on that page would) and check the CORS answer:
        /// exactly one Access-Control-Allow-Origin, equal to the origin or `*`.
        #[arg(long, value_name = "ORIGIN", requires = "url")]
        origin: Option<String>,
        /// With --url to a `stackctl dev --auth local`: the two test users' tokens come from the offline
        /// issuer (`stackctl token --local`), whatever stack.toml's [auth] says.
        #[arg(long, value_name = "ISSUER", requires = "url")]
        auth: Option<DevAuth>,
    },
    /// Send one API Gateway HTTP API (v2) event to the function and print its response.
    /// Exit 0: the function answered (any status); 1: it failed (FunctionError) or gave no usable answer.
    #[command(
        after_help = "Example:\n  stackctl invoke lambda/events/list-items.json\n  \
                      stackctl invoke --local lambda/events/create-item.json\n  \
                      stackctl invoke --url lambda/events/list-items.json\n  \
                      stackctl invoke - --output json < event.json | jq .response.body"
    )]
    Invoke {
        /// Run the built handler in the local Node.js (see `smoke --local`).
        #[arg(long)]
        local: bool,
        /// Send real HTTP(S) requests to the function URL instead: the deployed one (`--url`, read with
        /// GetFunctionUrlConfig) or BASE_URL (`--url=http://127.0.0.1:3000`). Signed with SigV4 (service
        /// `lambda`, the standard credential chain) when the URL's auth is AWS_IAM (for a BASE_URL: when
        /// `function.url.auth = "aws_iam"`).
        #[arg(
            long,
            value_name = "BASE_URL",
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "",
            conflicts_with = "local"
        )]
        url: Option<String>,
        /// With --url: send this Origin header (as a browser on that page would) and check the CORS answer:
        /// exactly one Access-Control-Allow-Origin, equal to the origin or `*`.
        #[arg(long, value_name = "ORIGIN", requires = "url")]
        origin: Option<String>,
        /// The event: a JSON file, or - to read it from stdin.
        #[arg(value_name = "EVENT")]
        event: PathBuf,
    },
    /// Print the function's log events from CloudWatch Logs (log group /aws/lambda/<function.name>), oldest
    /// first, one per line. Exit 0 (also when the log group does not exist yet); 130 when --follow is stopped.
    #[command(
        after_help = "Text: `<time> <stream> <message>`, the time in RFC 3339 UTC with milliseconds, the stream as \
                      the first 8 characters of its id (the part after `]`). --output json: JSON Lines, one object \
                      per event: timestamp, timestamp_ms, stream, event_id, message.\n\nExample:\n  \
                      stackctl logs\n  stackctl logs --since 1h --filter ERROR\n  \
                      stackctl logs --since 2026-12-02T10:00:00Z --output json | jq -r .message\n  \
                      stackctl logs --follow"
    )]
    Logs {
        /// Events from this long ago (30s, 10m, 1h, 2d) or from this RFC 3339 time (2026-12-02T10:00:00Z).
        #[arg(long, value_name = "WHEN", default_value = since::DEFAULT_SINCE, value_parser = since::parse_since)]
        since: since::Since,
        /// Only events matching this CloudWatch Logs filter pattern, e.g. ERROR, '"timed out"' or
        /// '{ $.level = "error" }'.
        #[arg(long, value_name = "PATTERN")]
        filter: Option<String>,
        /// Keep printing new events as they arrive (a poll about once a second) until Ctrl-C or SIGTERM (exit 130).
        #[arg(long)]
        follow: bool,
    },
    /// Serve the API on localhost as its function URL would: the built handler in warm local Node.js
    /// workers (no Docker), the URL's CORS from [function.url.cors], a rebuild and reload on every edit of the
    /// handler's sources. Runs until Ctrl-C or SIGTERM (exit 130, after the requests in flight are answered).
    #[command(
        after_help = "Talks to the stack's table: on the emulator when AWS_ENDPOINT_URL is set, in the account \
                      otherwise (run `stackctl up` first). One access-log line per request on stderr, with what \
                      the handler printed.\n\nExample:\n  stackctl dev\n  stackctl dev --port 8080 --workers 8\n  \
                      stackctl smoke --url=http://127.0.0.1:3000"
    )]
    Dev {
        /// The port to listen on (0: any free port; the address is printed).
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// The address to listen on. The default serves this machine only; `0.0.0.0` serves the network.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// How many requests run at once, each in a warm Node.js worker of its own (like Lambda's execution
        /// environments).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        workers: u16,
        /// `local`: the handler verifies tokens of an offline issuer (a key pair under .stackctl/auth/) in
        /// place of stack.toml's [auth]; mint them with `stackctl token --local --user NAME`. No AWS sign-in.
        #[arg(long, value_enum, value_name = "ISSUER")]
        auth: Option<DevAuth>,
    },
    /// Print an access token for a test user of the stack's `[auth]` (created on first use in the managed
    /// pool; `--local`: minted offline for `stackctl dev --auth local`). Text: the token alone, for
    /// `Authorization: Bearer $(stackctl token --user alice)`; `--output json`: both tokens, `sub`, expiry.
    /// Exit 2 when stackctl cannot mint for the stack's issuer.
    Token {
        /// The user (1-64 of a-z A-Z 0-9 . _ - @ +).
        #[arg(long, value_name = "NAME", value_parser = parse_user)]
        user: String,
        /// Mint for `stackctl dev --auth local`'s offline issuer (a key under .stackctl/); no AWS needed.
        #[arg(long)]
        local: bool,
    },
    /// Print a valid, stable stage name for a git ref or branch (for CI), short enough for every name of the
    /// stack. Needs no AWS.
    #[command(
        name = "stage-name",
        after_help = "Lower case; `/`, `.`, `_` and every other character outside a-z, 0-9 become `-`; a leading \
                      refs/heads/ is dropped. Then always 8 hex digits of the ref's SHA-256 are appended (also to \
                      a ref that is already a valid stage: `prod` gives `prod-6754af96`), so the answer is never a \
                      stage a person chose nor one the stack file declares, and `fix/foo` and `fix-foo` get \
                      different stages.\n\nExample:\n  stackctl stage-name feature/Login_v2   # feature-login-v2-181d1296\n  \
                      stackctl --stage \"$(stackctl stage-name \"$GITHUB_HEAD_REF\")\" up"
    )]
    StageName {
        /// The git ref or branch name, e.g. feature/login or refs/heads/main.
        #[arg(value_name = "REF")]
        reference: String,
    },
    /// List the stages of this stack in the account and region (every stackctl stack with --all), found by
    /// their tags with no state file: each with its resources, when it was created and whether it is
    /// complete or partial.
    #[command(
        after_help = "Tables, functions and log groups are found with the Resource Groups Tagging API and each \
                      confirmed with a describe call (the Tagging API keeps listing deleted resources for \
                      minutes); IAM roles and policies by listing the stack's IAM path `/stackctl/<stack>/` \
                      (ListRoles / ListPolicies with PathPrefix, then their tags), and those made before IAM \
                      paths through each function's role and that role's attached policies. --scan-iam lists \
                      every role and policy in the account instead (its cost grows with the account).\n\n\
                      Example:\n  stackctl ls\n  stackctl ls --older-than 7d --output json | jq -r '.stages[].stage'\n  \
                      stackctl ls --all\n  stackctl ls --scan-iam"
    )]
    Ls {
        /// Only stages created longer ago than this (30m, 12h, 7d).
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        older_than: Option<std::time::Duration>,
        /// Every stackctl stack in the account and region, not only this stack file's.
        #[arg(long)]
        all: bool,
        /// Also find roles and policies made before IAM paths whose function is gone, by listing every role
        /// and customer managed policy in the account and reading their tags (cost grows with the account).
        #[arg(long)]
        scan_iam: bool,
    },
    /// Move the alias of `[function.deploy]` back to the version it replaced (or to --to VERSION) in one
    /// UpdateAlias. A second rollback flips forward again. Exit 0 moved (or already there), 1 refused or
    /// failed (nothing changed), 64 without [function.deploy].
    #[command(
        after_help = "Only a version this stack published (`stackctl up`, its description `stackctl:<stack>`) \
                      that still exists is a target; the alias's description records the version it leaves, \
                      which is what the next rollback returns to.\n\nExample:\n  stackctl rollback\n  \
                      stackctl versions\n  stackctl rollback --to 7 --output json | jq .to"
    )]
    Rollback {
        /// The version to serve (a number from `stackctl versions`); default: the one the alias replaced.
        #[arg(long, value_name = "VERSION", value_parser = clap::value_parser!(u64).range(1..))]
        to: Option<u64>,
    },
    /// List the function's published versions (`[function.deploy]`), newest first: CodeSha256, publish
    /// time, which one the alias serves, which one it replaced (rollback's target), whether this stack
    /// published it, and other aliases on it. Exit 0 (an empty list without [function.deploy]); 1 when the
    /// function does not exist or is not the stack's.
    #[command(
        after_help = "Example:\n  stackctl versions\n  stackctl versions --output json | jq -r '.versions[] | select(.serving) | .version'"
    )]
    Versions,
    /// List DynamoDB's backups of the stack's table (this stage's table name), newest first: on-demand ones
    /// (`down --snapshot`) and the SYSTEM ones DynamoDB keeps after deleting a table with point-in-time
    /// recovery on, with type, status, size, creation and expiry time, name and ARN. Needs no table. Exit 0
    /// (also when there is none).
    #[command(
        after_help = "Backups are found by their table's name only: anyone who can make a table of that name can \
                      back it up, so the newest backup listed may not be the stack's. Restore the ARN that `down \
                      --confirm --snapshot` printed, not the first one listed.\n\nExample:\n  stackctl backups\n  \
                      stackctl --stage prod backups --output json | jq -r '.backups[].arn'\n  \
                      stackctl restore --snapshot <the ARN down --snapshot printed>"
    )]
    Backups,
    /// Write a new project into DIR (default: here; made when missing): stack.toml (with a URL, `[auth]`,
    /// versioned deploys and a `prod` stage), policies/, lambda/ (handler, pinned package.json and lockfile,
    /// tests), .gitignore and CI workflows. No AWS call; refuses to write over any existing file (exit 64).
    #[command(
        after_help = "Example:\n  stackctl init my-app && cd my-app\n  stackctl up\n  stackctl dev --auth local\n  \
                      stackctl init . --name shop --output json"
    )]
    Init {
        /// The project directory; default: the current one.
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The stack's name, which every resource name is made from (`NAME-data`, `NAME-api`, ...): lower-case
        /// letters, digits and `-`, starting with a letter, at most 32 characters. Default: DIR's name.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// Print the IAM policy a deploy of this stack needs (JSON, for `aws iam create-policy`): every action
    /// stackctl calls, scoped to the stack's names in every stage and its IAM path. Needs no AWS.
    #[command(
        after_help = "Without --github: the identity policy document. With --github OWNER/REPO[:ENVIRONMENT] (and \
                      --account): {\"permissions\": <identity policy>, \"trust\": <trust policy>}, the trust \
                      policy letting only that repository's GitHub Actions jobs (only that environment's, with \
                      :ENVIRONMENT) assume the role through GitHub's OIDC provider.\n\nExample:\n  \
                      stackctl policy > deploy-policy.json\n  \
                      stackctl policy --github octo-org/api:production --account 123456789012 > role.json"
    )]
    Policy {
        /// Also the trust policy for GitHub Actions of this repository (and environment).
        #[arg(long, value_name = "OWNER/REPO[:ENVIRONMENT]")]
        github: Option<String>,
        /// The 12-digit AWS account id the ARNs name (default `*`); needed with --github.
        #[arg(long, value_name = "ID")]
        account: Option<String>,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  stackctl completions bash > /etc/bash_completion.d/stackctl\n  stackctl completions zsh > \"${fpath[1]}/_stackctl\"\n  stackctl completions fish > ~/.config/fish/completions/stackctl.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

impl Command {
    /// The function a command that acts on one function (invoke, logs, dev, smoke, rollback, versions) acts on, by its instance
    /// name: where a `--function <name>` on those commands lands once a stack file can hold several
    /// functions. `Some(None)`: the stack's only function. None: the command acts on every function (up,
    /// plan, status, down, ...), so nothing is chosen and a stack with several functions needs no flag.
    /// Main chooses it once (`config::Stack::choose_function`).
    pub fn function(&self) -> Option<Option<&str>> {
        match self {
            Command::Smoke { .. }
            | Command::Invoke { .. }
            | Command::Logs { .. }
            | Command::Dev { .. }
            | Command::Rollback { .. }
            | Command::Versions => Some(None),
            _ => None,
        }
    }
}

impl Cli {
    /// A combination clap cannot refuse by itself (exit 64, before the stack file is read): `--output env`
    /// is `outputs`' alone (no other command has lines of `KEY=value` to give), and `--prefix` names env
    /// lines.
    pub fn refusal(&self) -> Option<String> {
        let env = self.global.output == Output::Env;
        match &self.command {
            Command::Outputs { prefix: Some(_) } if !env => Some(
                "`--prefix` applies to `--output env` only; add `--output env` or drop `--prefix`"
                    .to_string(),
            ),
            Command::Outputs { .. } => None,
            _ if env => Some(
                "`--output env` is for `stackctl outputs` only; use `--output text` or `--output json` \
                 here (check STACKCTL_OUTPUT too)"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

/// `outputs --prefix`: an environment variable name's start, checked before anything is read or sent.
fn parse_prefix(value: &str) -> Result<String, String> {
    let mut chars = value.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_');
    if first && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        Ok(value.to_string())
    } else {
        Err("a prefix is A-Z, 0-9 and _, not starting with a digit, e.g. VITE_".to_string())
    }
}

/// `dev --auth`: which issuer the handler verifies tokens of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DevAuth {
    /// The project's offline issuer (`stackctl token --local`).
    Local,
}

/// `--stage`: a stage name (checked before anything else runs: nothing is read or sent with a bad one).
fn parse_stage(value: &str) -> Result<String, String> {
    match crate::config::stage_problem(value) {
        None => Ok(value.to_string()),
        Some((message, fix)) => Err(format!("{message}\n  fix: {fix}")),
    }
}

/// `token --user`: a user name Cognito accepts everywhere (its username pattern is wider; this is the part
/// that is also safe in a shell, a file name and a log line). Checked before anything is read or sent.
fn parse_user(value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'));
    if ok {
        Ok(value.to_string())
    } else {
        Err("a user name is 1 to 64 of a-z, A-Z, 0-9 and . _ - @ +, e.g. alice".to_string())
    }
}

/// `restore --snapshot`: a backup ARN or a backup name, checked before anything is read or sent.
fn parse_snapshot(value: &str) -> Result<crate::backup::Wanted, String> {
    crate::backup::Wanted::parse(value).map_err(|err| err.to_string())
}

/// `ls --older-than`: 30m, 12h, 7d (humantime's units).
fn parse_age(value: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(value)
        .map_err(|err| format!("{err}; write an age such as 30m, 12h or 7d"))
}

#[cfg(test)]
mod tests {
    use super::{parse_user, Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(["stackctl"].iter().chain(args)).map(|cli| cli.command)
    }

    /// `--to` is a version number (1 or more), checked by clap before anything runs (exit 64); both
    /// commands act on the stack's one function.
    #[test]
    fn rollback_and_versions_parse() {
        assert!(matches!(
            parse(&["rollback"]),
            Ok(Command::Rollback { to: None })
        ));
        assert!(matches!(
            parse(&["rollback", "--to", "7", "--output", "json"]),
            Ok(Command::Rollback { to: Some(7) })
        ));
        for bad in ["x", "0", "-1", "$LATEST", "live", "1.5"] {
            let err = parse(&["rollback", "--to", bad]).expect_err(bad);
            assert!(err.use_stderr(), "{bad}");
        }
        assert!(parse(&["rollback", "7"]).is_err());
        let versions = parse(&["versions"]).unwrap();
        assert!(matches!(versions, Command::Versions));
        assert_eq!(versions.function(), Some(None));
        assert_eq!(parse(&["rollback"]).unwrap().function(), Some(None));
    }

    /// `restore` takes a FILE or `--snapshot ARN|NAME`, exactly one; the file's flags do not apply to a
    /// snapshot; a snapshot that is neither an ARN nor a name is refused before anything runs.
    #[test]
    fn restore_takes_a_file_or_a_snapshot() {
        assert!(matches!(
            parse(&["restore", "items.jsonl"]),
            Ok(Command::Restore {
                backup_file: Some(_),
                snapshot: None,
                ..
            })
        ));
        assert!(matches!(
            parse(&["restore", "--snapshot", "nightly", "--allow-other-source"]),
            Ok(Command::Restore {
                backup_file: None,
                snapshot: Some(crate::backup::Wanted::Name(_)),
                allow_other_source: true,
                ..
            })
        ));
        for bad in [
            &["restore"][..],
            &["restore", "items.jsonl", "--snapshot", "nightly"][..],
            &["restore", "--snapshot", "nightly", "--overwrite"][..],
            &["restore", "--snapshot", "nightly", "--headerless"][..],
            &["restore", "--snapshot", "no spaces"][..],
            &["restore", "--snapshot", "arn:aws:s3:::bucket"][..],
        ] {
            let err = parse(bad).expect_err(&bad.join(" "));
            assert!(err.use_stderr(), "{bad:?}");
        }
        assert!(matches!(parse(&["backups"]), Ok(Command::Backups)));
    }

    /// `--output env` belongs to `outputs`; `--prefix` to env lines; a prefix is a variable name's start.
    #[test]
    fn env_output_is_outputs_alone() {
        let cli = |args: &[&str]| Cli::try_parse_from(["stackctl"].iter().chain(args)).unwrap();
        assert_eq!(cli(&["outputs", "--output", "env"]).refusal(), None);
        assert_eq!(cli(&["outputs"]).refusal(), None);
        assert_eq!(
            cli(&["--output", "env", "outputs", "--prefix", "VITE_"]).refusal(),
            None
        );
        for bad in [
            &["status", "--output", "env"][..],
            &["plan", "--output", "env"][..],
            &["outputs", "--prefix", "VITE_"][..],
            &["outputs", "--output", "json", "--prefix", "A"][..],
        ] {
            assert!(cli(bad).refusal().is_some(), "{bad:?}");
        }
        for bad in ["", "vite_", "1A", "A-B", "A B", "A=", "É"] {
            assert!(parse(&["outputs", "--prefix", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_user_names_are_checked_before_anything_is_sent() {
        assert!(parse_user("alice").is_ok());
        assert!(parse_user("a.b_c-d@e+f").is_ok());
        for bad in ["", "al ice", "alice;rm", "ä", &"a".repeat(65)] {
            assert!(parse_user(bad).is_err(), "{bad}");
        }
    }
}
