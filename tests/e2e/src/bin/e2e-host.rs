//! A host in a process of its own, for tests that kill it: `e2e-host SETTINGS.toml`
//! prints `listening ADDR` once it listens, then serves until Ctrl-C, SIGTERM or
//! `kill -9`. Logs go to stderr (`RUST_LOG`). It allocates as the `switchboard`
//! binary does.

use anyhow::Context as _;
use switchboard::config::Settings;
use switchboard::server::App;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let path = std::env::args()
        .nth(1)
        .context("usage: e2e-host SETTINGS.toml")?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let app = App::build(Settings::from_toml(&text)?).await?;
    println!("listening {}", app.local_addr()?);
    app.run_until_stopped(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
    .await
}
