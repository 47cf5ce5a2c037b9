//! stackctl: parse arguments, load the stack, run one command, render its result or its error once, and
//! map the outcome to the exit-code contract.

mod aws;
mod backoff;
mod backup;
mod build;
mod cli;
mod commands;
mod config;
mod dates;
mod deploy_policy;
mod engine;
mod escape;
mod handler;
mod identity;
mod interrupt;
mod limits;
mod outcome;
mod plan;
mod printer;
mod progress;
mod random;
mod report;
mod resources;
mod runtimes;
mod since;
mod template;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use aws::credentials;
use cli::{Cli, Command};
use config::ConfigError;
use handler::transport::Via;
use outcome::{ExitStatus, Outcome};
use printer::Printer;
use progress::{Mode, Progress};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap exits 2 on usage errors by default; 2 means "changes pending" here.
            let status = if err.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Ok
            };
            let _ = err.print();
            return status.into();
        }
    };
    if let Some(refusal) = cli.refusal() {
        eprintln!("error: {refusal}");
        return ExitStatus::Usage.into();
    }
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitStatus::Error.into();
        }
    };
    let printer = Printer::new(cli.global.output, cli.global.quiet);
    let printed = runtime
        .block_on(run(&cli, &printer))
        .and_then(|outcome| printer.print(&outcome));
    match printed {
        Ok(status) => status.into(),
        Err(err) => {
            let interrupted = err
                .chain()
                .any(|c| c.downcast_ref::<interrupt::Interrupted>().is_some());
            let status = if interrupted {
                ExitStatus::Interrupted
            } else if err.downcast_ref::<ConfigError>().is_some() {
                ExitStatus::Usage
            } else {
                ExitStatus::Error
            };
            // Credentials that expired during the run: the one line that says so, not the SDK's chain.
            match credentials::expired_in(&err) {
                Some(expired) => eprintln!("error: {expired}"),
                None => {
                    eprintln!("error: {err:#}");
                    // IAM refused an action: name it and the fix (the SDK's chain may not).
                    if let Some(denied) = aws::errors::access_denied_in(&err) {
                        eprintln!("  {denied}");
                    }
                }
            }
            status.into()
        }
    }
}

fn init_logging(verbose: u8) {
    let filter = match verbose {
        0 => return,
        1 => "stackctl=debug",
        _ => concat!(
            "stackctl=debug,aws_smithy_runtime=debug,aws_config=debug,",
            // The endpoint resolver logs its parameters, the caller's identity (access key id) among them.
            "aws_smithy_runtime::client::orchestrator::endpoints=info"
        ),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .try_init();
}

/// Runs the command and returns its outcome; main prints it (printer.rs) and maps it to the exit code.
async fn run(cli: &Cli, printer: &Printer) -> Result<Outcome> {
    let global = &cli.global;
    // These need no AWS: answered before the stack is loaded and the clients are made (the dispatch below
    // answers them the same way).
    match &cli.command {
        Command::Completions { shell } => return Ok(commands::completions::run(*shell)),
        Command::StageName { reference } => return stage_name(cli, reference),
        Command::Init { dir, name } => return commands::init::run(dir.as_deref(), name.as_deref()),
        Command::Policy { github, account } => return policy(cli, github, account),
        _ => {}
    }
    let selection = config::Selection {
        stage: global.stage.as_deref(),
        region: global.region.as_deref(),
    };
    let mut stack = config::load_selected(
        &global.file,
        &runtimes::today(),
        selection,
        &resources::contributed(),
    )?;
    // A public URL without [auth] or `allow_anonymous = true`: up and plan refuse it before any AWS call;
    // status says so; the other commands run (a stack deployed before the rule can still be reached and
    // removed).
    if matches!(cli.command, Command::Plan { .. } | Command::Up { .. }) {
        stack.refuse_anonymous_url()?;
    }
    // `[stages.<name>] protected = true`: down --confirm refuses the stage before any AWS call; down
    // without it still previews (with a note, below).
    if let Command::Down { confirm: true, .. } = cli.command {
        stack.refuse_protected_down()?;
    }
    if let Some(secs) = global.wait_timeout {
        stack.timeouts = config::Timeouts {
            table_secs: secs,
            function_secs: secs,
            role_propagation_secs: secs,
            ..stack.timeouts
        };
    }
    // The one choice of "the function" for the commands that act on one (invoke, logs, dev, smoke); the
    // others act on every function and choose none.
    if let Some(choice) = cli.command.function() {
        stack.choose_function(choice)?;
    }
    let progress = Progress::new(Mode::detect(global.quiet));
    for warning in &stack.warnings {
        progress.warn(warning);
    }
    // `token --local` mints offline: no AWS client, no credentials needed.
    if let Command::Token { user, local: true } = &cli.command {
        return commands::token::run_local(&stack, user).await;
    }
    if let (Command::Status, Some(refusal)) = (&cli.command, &stack.anonymous_url) {
        progress.warn(&format!("`up` and `plan` refuse this file: {refusal}"));
    }
    if let (Command::Down { .. }, Some(note)) = (&cli.command, stack.protected_note()) {
        progress.warn(&note);
    }
    let region = global
        .region
        .clone()
        .unwrap_or_else(|| stack.region.clone());
    stack.region = region.clone();
    interrupt::install();
    let clients = aws::connect(&aws::Target {
        region: &region,
        profile: global.profile.as_deref(),
    })
    .await?;
    let (clients, stack, progress) = (&clients, &stack, &progress);
    let profile = global.profile.as_deref();

    Ok(match &cli.command {
        Command::Plan { rebuild }
        | Command::Up {
            dry_run: true,
            rebuild,
        } => commands::up::preview(clients, stack, *rebuild, progress).await?,
        Command::Up {
            dry_run: false,
            rebuild,
        } => commands::up::up(clients, stack, *rebuild, progress).await?,
        Command::Status => commands::status::status(clients, stack, progress).await?,
        Command::Outputs { prefix } => {
            let shape = commands::outputs::Shape {
                output: global.output,
                prefix: prefix.clone().unwrap_or_default(),
            };
            commands::outputs::run(clients, stack, &shape, progress).await?
        }
        Command::Down {
            confirm,
            delete_data,
            keep_logs,
            backup,
            snapshot,
            count,
            segments,
        } => {
            let data = engine::DataPolicy {
                delete_data: *delete_data,
                keep_logs: *keep_logs,
                backup: backup.clone(),
                snapshot: *snapshot,
                count: *count,
                segments: *segments,
                exact_items: None,
            };
            commands::down::down(clients, stack, *confirm, &data, progress).await?
        }
        Command::Smoke {
            local,
            url,
            origin,
            auth,
        } => {
            let via = via(*local, url, origin);
            let local_tokens = *auth == Some(cli::DevAuth::Local);
            commands::smoke::run(clients, stack, &via, local_tokens, profile, progress).await?
        }
        Command::Invoke {
            local,
            url,
            origin,
            event,
        } => {
            let via = via(*local, url, origin);
            commands::invoke::run(clients, stack, &via, event, profile, progress).await?
        }
        Command::Restore {
            backup_file,
            snapshot,
            overwrite,
            allow_other_source,
            headerless,
        } => match (snapshot, backup_file) {
            (Some(snapshot), _) => {
                commands::restore::run_snapshot(
                    clients,
                    stack,
                    snapshot,
                    *allow_other_source,
                    progress,
                )
                .await?
            }
            (None, Some(file)) => {
                let options = commands::restore::Options {
                    overwrite: *overwrite,
                    allow_other_source: *allow_other_source,
                    headerless: *headerless,
                };
                commands::restore::run(clients, stack, file, &options, progress).await?
            }
            // clap already refuses this (FILE is required unless --snapshot is present).
            (None, None) => anyhow::bail!("restore needs a FILE or --snapshot <ARN|NAME>"),
        },
        Command::Backups => commands::backups::run(clients, stack, progress).await?,
        Command::Logs {
            since,
            filter,
            follow,
        } => {
            let options = commands::logs::Options {
                since: *since,
                filter: filter.clone(),
                follow: *follow,
            };
            Outcome::Streamed(
                commands::logs::run(clients, stack, &options, printer.output(), progress).await?,
            )
        }
        Command::Dev {
            port,
            host,
            workers,
            auth,
        } => {
            let options = commands::dev::Options {
                address: std::net::SocketAddr::new(*host, *port),
                workers: usize::from(*workers),
                auth_local: *auth == Some(cli::DevAuth::Local),
            };
            Outcome::Streamed(commands::dev::run(clients, stack, &options, global, progress).await?)
        }
        Command::Ls {
            older_than,
            all,
            scan_iam,
        } => {
            let options = commands::ls::Options {
                older_than: *older_than,
                all: *all,
                scan_iam: *scan_iam,
            };
            commands::ls::run(clients, stack, &options, progress).await?
        }
        Command::Rollback { to } => commands::rollback::run(clients, stack, *to, progress).await?,
        Command::Versions => commands::versions::run(clients, stack, progress).await?,
        Command::Token { user, local: true } => commands::token::run_local(stack, user).await?,
        Command::Token { user, local: false } => commands::token::run(clients, stack, user).await?,
        Command::Completions { shell } => commands::completions::run(*shell),
        Command::StageName { reference } => stage_name(cli, reference)?,
        Command::Init { dir, name } => commands::init::run(dir.as_deref(), name.as_deref())?,
        Command::Policy { github, account } => policy(cli, github, account)?,
    })
}

/// `stage-name`: needs the stack file (for the names a stage must fit), not AWS; plain text for `$(...)`.
fn stage_name(cli: &Cli, reference: &str) -> Result<Outcome> {
    let global = &cli.global;
    let stage = config::stage_name_for(&global.file, global.region.as_deref(), reference)?;
    Ok(Outcome::Plain {
        text: format!("{stage}\n"),
    })
}

/// `policy`: needs the stack file, not AWS (the account only from --account).
fn policy(cli: &Cli, github: &Option<String>, account: &Option<String>) -> Result<Outcome> {
    let global = &cli.global;
    let options = commands::policy::Options {
        file: &global.file,
        region: global.region.as_deref(),
        github: github.as_deref(),
        account: account.as_deref(),
    };
    commands::policy::run(&options, &runtimes::today())
}

/// How smoke and invoke reach the handler, from their flags (`--url` alone: the deployed URL).
fn via(local: bool, url: &Option<String>, origin: &Option<String>) -> Via {
    match url {
        Some(base) => Via::Url {
            base: Some(base.clone()).filter(|b| !b.is_empty()),
            origin: origin.clone(),
        },
        None if local => Via::Local,
        None => Via::Invoke,
    }
}
