//! The `marketgate` binary: parse the command line, set up tracing, load the config,
//! bind the listeners and hand over to `marketgate::run`. No logic lives here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use marketgate::config::env::ProcessEnv;
use marketgate::config::{self, Config, LoadError};
use marketgate::{App, ListenOverrides, Listeners, RunOptions, WorkerMode};

/// mimalloc: measured on the passthrough benchmark (README, Performance), it takes malloc
/// from ~6 % of marketgate's CPU to ~2 % and gives memory back when connections close.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Access lines go to the same bounded, lossy stderr writer as the rest of the log.
struct StderrLines(tracing_appender::non_blocking::NonBlocking);

impl marketgate::access_log::LineSink for StderrLines {
    fn write_line(&self, line: &[u8]) {
        // A full buffer drops the line (counted by the writer); this never blocks.
        let _ = std::io::Write::write_all(&mut self.0.clone(), line);
    }
}

/// Sidecar reverse proxy for crypto market-data APIs.
#[derive(Parser, Debug)]
#[command(name = "marketgate", version, about)]
struct Cli {
    /// Config file (TOML). Without it, the embedded default config is used.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Client listener address, overriding server.listen.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Admin listener address, overriding server.admin_listen.
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<std::net::SocketAddr>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate the config, print a summary, exit 0 (valid) or 2 (invalid).
    Check,
    /// Print the embedded default config.
    PrintDefaultConfig,
    /// Print the OpenAPI document of the config (what `GET /openapi.json` serves), to
    /// generate clients without running marketgate.
    PrintOpenapi,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    marketgate::tls::install_crypto_provider();
    match cli.command {
        Some(Command::PrintDefaultConfig) => {
            print!("{}", config::DEFAULT_CONFIG);
            ExitCode::SUCCESS
        }
        Some(Command::Check) => check(cli.config.as_deref()),
        Some(Command::PrintOpenapi) => match config::load_or_default(cli.config.as_deref(), &ProcessEnv) {
            Ok(cfg) => {
                println!("{:#}", marketgate::openapi::document(&cfg));
                ExitCode::SUCCESS
            }
            Err(e) => refused(&e),
        },
        None => {
            marketgate::allocator::purge_at_once();
            serve(cli)
        }
    }
}

fn check(path: Option<&std::path::Path>) -> ExitCode {
    match config::load_or_default(path, &ProcessEnv) {
        Ok(cfg) => {
            println!("{}", summary(&cfg));
            ExitCode::SUCCESS
        }
        Err(e) => refused(&e),
    }
}

fn refused(e: &LoadError) -> ExitCode {
    eprintln!("config refused:");
    for err in &e.errors {
        eprintln!("  {err}");
    }
    ExitCode::from(2)
}

fn summary(cfg: &Config) -> String {
    let mut out = format!("config OK: {} (sha256 {})\n", cfg.source.name, &cfg.source.sha256[..12]);
    out.push_str(&format!("listen {}  admin {}\n", cfg.server.listen, cfg.server.admin_listen));
    match &cfg.cluster {
        Some(c) => out.push_str(&format!(
            "cluster: Redis {}, namespace {}, {} replica(s), egress {}, shared answers {}, {}\n",
            c.redis_shown,
            c.namespace,
            c.replicas,
            c.egress,
            if c.cache { "on" } else { "off" },
            if c.secret.is_some() { "signed (secret set)" } else { "unsigned (no secret)" }
        )),
        None => out.push_str("cluster: none (a single replica; budgets counted here)\n"),
    }
    out.push_str(&format!("{} providers:\n", cfg.providers.len()));
    for p in &cfg.providers {
        let state = p.disabled.as_deref().map_or_else(|| "enabled".to_owned(), |r| format!("DISABLED: {r}"));
        let ops: Vec<&str> = p.operations().into_iter().map(|o| o.as_str()).collect();
        let kind = if p.kind == marketgate::config::model::ProviderKind::Rest {
            String::new()
        } else {
            format!(" ({})", p.kind.as_str())
        };
        out.push_str(&format!("  {:<15} {} host(s)  {}  ops: {}{kind}\n", p.name, p.hosts.len(), state, ops.join(",")));
        // A key file's state, never its content.
        if let Some(a) = p.auth.as_ref().filter(|a| a.file.is_some()) {
            let n = a.keys.len();
            let said = if n == 0 { "missing or empty".to_owned() } else { format!("{n} key(s) read") };
            out.push_str(&format!("  {:<15} keys: {} ({said})\n", "", a.env));
        }
    }
    out.push_str(&format!("{} routes:\n", cfg.routes.len()));
    for r in &cfg.routes {
        out.push_str(&format!("  {}\n", r.pattern.template()));
    }
    out
}

fn serve(cli: Cli) -> ExitCode {
    let overrides = ListenOverrides { listen: cli.listen, admin_listen: cli.admin_listen };
    let cfg = match overrides.load(cli.config.as_deref(), &ProcessEnv, None) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("config refused:");
            for err in &errors {
                eprintln!("  {err}");
            }
            return ExitCode::from(2);
        }
    };
    let (_log_guard, log_writer) = init_tracing(&cfg);
    let log_drops = log_writer.error_counter();
    let log_format = cfg.log.format;
    // The main runtime serves the admin listener and background tasks; client requests
    // run on the per-core workers (workers.rs).
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let (listen, admin_listen) = (cfg.server.listen, cfg.server.admin_listen);
        // The client address takes one socket per worker (SO_REUSEPORT).
        let shared = |addr| {
            marketgate::listen::bind_shared(addr)
                .and_then(tokio::net::TcpListener::from_std)
                .map_err(|e| anyhow::anyhow!("cannot bind {addr}: {e}"))
        };
        let bind = |addr| async move {
            tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot bind {addr}: {e}"))
        };
        let listeners = match (shared(listen), bind(admin_listen).await) {
            (Ok(client), Ok(admin)) => Listeners { client, admin },
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!("{e}");
                return ExitCode::from(2);
            }
        };
        let metrics = match marketgate::metrics::Metrics::new() {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "metrics registry");
                return ExitCode::FAILURE;
            }
        };
        metrics.count_log_drops_from(move || log_drops.dropped_lines() as u64);
        let app = match App::new(cfg, cli.config.clone(), Arc::new(ProcessEnv), metrics, overrides) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "TLS setup failed");
                return ExitCode::from(2);
            }
        };
        let access = marketgate::access_log::AccessLog::new(log_format, Box::new(StderrLines(log_writer)));
        let _ = app.gateway.access_log.set(access);
        let options = RunOptions { watch_config: cli.config.is_some(), sighup: true, workers: WorkerMode::PerCore };
        marketgate::run(listeners, app, options, shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

/// Logs go to stderr through a bounded, lossy buffer drained by its own thread: a worker
/// formats a line and hands it over, and never blocks on a slow or stopped pipe.
fn init_tracing(
    cfg: &Config,
) -> (tracing_appender::non_blocking::WorkerGuard, tracing_appender::non_blocking::NonBlocking) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.log.level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(cfg.log.buffer_lines)
        .thread_name("marketgate-log")
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(writer.clone());
    match cfg.log.format {
        config::model::LogFormat::Json => builder.json().flatten_event(true).init(),
        config::model::LogFormat::Text => builder.init(),
    }
    (guard, writer)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
