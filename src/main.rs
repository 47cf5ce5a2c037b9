//! stackctl: parse arguments, load the stack, run one command, render its result or its error once, and
//! map the outcome to the exit-code contract.

mod aws;
mod backup;
mod cli;
mod commands;
mod config;
mod credentials;
mod engine;
mod escape;
mod handler;
mod interrupt;
mod limits;
mod plan;
mod progress;
mod report;
mod resources;
mod runtimes;
mod template;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use cli::{Cli, Command, Output};
use config::ConfigError;
use handler::transport::Via;
use progress::{Mode, Progress};
use report::Report;

/// The exit-code contract (README: "Exit codes").
mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const PENDING: u8 = 2;
    pub const NEEDS_CONFIRM: u8 = 3;
    pub const INTERRUPTED: u8 = 130;
    pub const USAGE: u8 = 64;
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap exits 2 on usage errors by default; 2 means "changes pending" here.
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(exit::ERROR);
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let interrupted = err
                .chain()
                .any(|c| c.downcast_ref::<interrupt::Interrupted>().is_some());
            let code = if interrupted {
                exit::INTERRUPTED
            } else if err.downcast_ref::<ConfigError>().is_some() {
                exit::USAGE
            } else {
                exit::ERROR
            };
            // Credentials that expired during the run: the one line that says so, not the SDK's chain.
            match credentials::expired_in(&err) {
                Some(expired) => eprintln!("error: {expired}"),
                None => eprintln!("error: {err:#}"),
            }
            ExitCode::from(code)
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

async fn run(cli: &Cli) -> Result<u8> {
    let global = &cli.global;
    // Needs no stack file and no AWS.
    if let Command::Completions { shell } = &cli.command {
        let shell = match shell {
            cli::Shell::Bash => clap_complete::Shell::Bash,
            cli::Shell::Zsh => clap_complete::Shell::Zsh,
            cli::Shell::Fish => clap_complete::Shell::Fish,
        };
        let mut command = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut command, "stackctl", &mut std::io::stdout());
        return Ok(exit::OK);
    }
    // Needs the stack file (for the names a stage must fit), not AWS.
    if let Command::StageName { reference } = &cli.command {
        let stage = config::stage_name_for(&global.file, global.region.as_deref(), reference)?;
        println!("{stage}");
        return Ok(exit::OK);
    }
    let selection = config::Selection {
        stage: global.stage.as_deref(),
        region: global.region.as_deref(),
    };
    let mut stack = config::load_selected(&global.file, &runtimes::today(), selection)?;
    if let Some(secs) = global.wait_timeout {
        stack.timeouts = config::Timeouts {
            table_secs: secs,
            function_secs: secs,
            role_propagation_secs: secs,
        };
    }
    let progress = Progress::new(Mode::detect(global.quiet));
    for warning in &stack.warnings {
        progress.warn(warning);
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

    // smoke, invoke, restore and logs print their own results (a step table, a response, a count, log
    // events), not a resource report.
    match &cli.command {
        Command::Smoke { local, url, origin } => {
            let via = via(*local, url, origin);
            return commands::smoke::run(&clients, &stack, &via, global, &progress).await;
        }
        Command::Invoke {
            local,
            url,
            origin,
            event,
        } => {
            let via = via(*local, url, origin);
            return commands::invoke::run(&clients, &stack, &via, event, global, &progress).await;
        }
        Command::Restore {
            backup_file,
            overwrite,
            allow_other_source,
            headerless,
        } => {
            let options = commands::restore::Options {
                overwrite: *overwrite,
                allow_other_source: *allow_other_source,
                headerless: *headerless,
            };
            return commands::restore::run(
                &clients,
                &stack,
                backup_file,
                &options,
                global,
                &progress,
            )
            .await;
        }
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
            return commands::logs::run(&clients, &stack, &options, global.output, &progress).await;
        }
        Command::Dev {
            port,
            host,
            workers,
        } => {
            let options = commands::dev::Options {
                address: std::net::SocketAddr::new(*host, *port),
                workers: usize::from(*workers),
            };
            return commands::dev::run(&clients, &stack, &options, global, &progress).await;
        }
        Command::Ls { older_than, all } => {
            let options = commands::ls::Options {
                older_than: *older_than,
                all: *all,
            };
            return commands::ls::run(&clients, &stack, &options, global.output, &progress).await;
        }
        _ => {}
    }
    let (report, code) = match &cli.command {
        Command::Plan { rebuild }
        | Command::Up {
            dry_run: true,
            rebuild,
        } => {
            let report = commands::up::preview(&clients, &stack, *rebuild, &progress).await?;
            let code = if report.in_sync {
                exit::OK
            } else {
                exit::PENDING
            };
            (report, code)
        }
        Command::Up {
            dry_run: false,
            rebuild,
        } => (
            commands::up::up(&clients, &stack, *rebuild, &progress).await?,
            exit::OK,
        ),
        Command::Status => {
            let report = commands::status::status(&clients, &stack, &progress).await?;
            let code = if report.in_sync {
                exit::OK
            } else {
                exit::PENDING
            };
            (report, code)
        }
        Command::Down {
            confirm,
            delete_data,
            keep_logs,
            backup,
        } => {
            let data = engine::DataPolicy {
                delete_data: *delete_data,
                keep_logs: *keep_logs,
                backup: backup.clone(),
            };
            let (report, has_work) =
                commands::down::down(&clients, &stack, *confirm, &data, &progress).await?;
            let code = if !confirm && has_work {
                exit::NEEDS_CONFIRM
            } else {
                exit::OK
            };
            (report, code)
        }
        Command::Completions { .. } | Command::StageName { .. } => {
            unreachable!("handled before loading the stack file")
        }
        Command::Ls { .. } => unreachable!("handled above"),
        Command::Smoke { .. }
        | Command::Invoke { .. }
        | Command::Restore { .. }
        | Command::Logs { .. }
        | Command::Dev { .. } => {
            unreachable!("handled above")
        }
    };
    print(&report, global.output)?;
    if code == exit::NEEDS_CONFIRM {
        eprintln!(
            "nothing was deleted: run `stackctl down --confirm` to delete what is listed above"
        );
    }
    Ok(code)
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

fn print(report: &Report, output: Output) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match output {
        Output::Json => {
            // A person may be watching stderr while a script reads stdout.
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            writeln!(stdout, "{}", report.to_json())?
        }
        Output::Text => {
            let color = std::io::IsTerminal::is_terminal(&std::io::stdout())
                && std::env::var_os("NO_COLOR").is_none();
            writeln!(stdout, "{}", report.render(color))?
        }
    }
    Ok(())
}
