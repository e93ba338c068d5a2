//! The `switchboard` command: thin glue over the library.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use switchboard::describe::Described;
use switchboard::runtime::{Limits, Outcome, Runtime, RuntimeConfig};
use switchboard::scenario;

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Multi-tenant host for ACS Call Automation policies written as WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve: receive the service's events, run the tenants' plugins, carry out their
    /// decisions. Settings come from the file and `SWITCHBOARD_…` variables
    /// (`SWITCHBOARD_ACS__CONNECTION_STRING` sets `acs.connection_string`).
    Serve {
        /// The settings file (TOML).
        #[arg(long, short, env = "SWITCHBOARD_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run the IVR caller scripts (shared/scenarios/ivr.md) through a policy plugin
    /// alone, without the service, and print every event with the decision it got.
    Demo {
        /// The policy component to run.
        #[arg(
            long,
            default_value = "target/wasm32-wasip2/guest/switchboard_ivr.wasm"
        )]
        plugin: PathBuf,
        /// Keep precompiled plugins here (loads faster the second time).
        #[arg(long, default_value = "target/switchboard-cache")]
        cache_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve { config } => serve(config.as_deref()),
        Command::Demo { plugin, cache_dir } => demo(&plugin, cache_dir),
    }
}

fn serve(config: Option<&std::path::Path>) -> anyhow::Result<()> {
    let settings = switchboard::config::Settings::load(config)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let app = switchboard::server::App::build(settings).await?;
        eprintln!("switchboard listening on http://{}", app.local_addr()?);
        app.run_until_stopped(async {
            stop_requested().await;
            eprintln!("shutting down: finishing in-flight events");
        })
        .await
    })
}

/// Ctrl-C, or SIGTERM (what orchestrators send).
async fn stop_requested() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn demo(plugin_path: &std::path::Path, cache_dir: PathBuf) -> anyhow::Result<()> {
    let bytes = std::fs::read(plugin_path).with_context(|| {
        format!(
            "reading the plugin {} (build it with `make guests`)",
            plugin_path.display()
        )
    })?;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache_dir),
        max_concurrent_instances: 16,
        ..RuntimeConfig::default()
    })?;
    let started = std::time::Instant::now();
    let plugin = runtime
        .load(&bytes)
        .with_context(|| format!("loading {}", plugin_path.display()))?;
    println!(
        "plugin {} (sha256 {}…, {} KiB), loaded in {:.1} ms",
        plugin_path.display(),
        &plugin.digest()[..12],
        bytes.len() >> 10,
        started.elapsed().as_secs_f64() * 1e3
    );
    let limits = Limits::default();
    let mut passed = 0;
    let scripts = scenario::ivr_scripts();
    for script in &scripts {
        println!("\n▶ {} — {}", script.name, script.summary);
        let steps = scenario::run(script, |event, ctx| {
            let run = plugin.invoke(event, ctx, &limits);
            let decision = match &run.outcome {
                Outcome::Decision(d) => Some(d.clone()),
                _ => None,
            };
            (run, decision)
        });
        let mut ok = true;
        for step in &steps {
            println!("  {}", Described(&step.event));
            let run = &step.outcome;
            match &run.outcome {
                Outcome::Decision(d) if d.actions.is_empty() => {
                    println!("      (no action){}", timing(run.elapsed));
                }
                Outcome::Decision(d) => {
                    for (i, action) in d.actions.iter().enumerate() {
                        let time = if i == 0 {
                            timing(run.elapsed)
                        } else {
                            String::new()
                        };
                        println!("      → {}{time}", Described(action));
                    }
                }
                other => println!("      ✗ {other}{}", timing(run.elapsed)),
            }
            for line in &run.logs {
                println!("      log {:?}: {}", line.level, line.message);
            }
            if !step.passed() {
                ok = false;
                println!("      ✗ expected {:?}", step.expect);
            }
        }
        println!("  {}", if ok { "✓ pass" } else { "✗ FAIL" });
        passed += usize::from(ok);
    }
    println!("\n{passed}/{} scripts passed", scripts.len());
    anyhow::ensure!(
        passed == scripts.len(),
        "{} script(s) failed",
        scripts.len() - passed
    );
    Ok(())
}

fn timing(elapsed: Duration) -> String {
    format!("   ({} µs)", elapsed.as_micros())
}
