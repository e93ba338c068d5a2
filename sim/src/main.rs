//! `switchboard-sim`: run the ACS Call Automation simulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use switchboard_sim::load::LoadPlan;
use switchboard_sim::script::Scenario;
use switchboard_sim::{EventSchema, Listen, SimConfig, Subscription};

/// A simulator of Azure Communication Services Call Automation on your machine: the
/// REST API (api-version 2025-05-15 and what the official SDKs send), HMAC auth,
/// Event Grid and callback events with JWTs, scripted callers.
///
/// Point an SDK at it with the printed connection string and trust the CA file
/// (SSL_CERT_FILE / REQUESTS_CA_BUNDLE for Python, NODE_EXTRA_CA_CERTS for Node).
#[derive(Debug, Parser)]
#[command(name = "switchboard-sim", version)]
struct Args {
    /// Plain HTTP listener.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SIM_HTTP")]
    http: SocketAddr,
    /// HTTPS listener (the official SDKs need HTTPS).
    #[arg(long, default_value = "127.0.0.1:8443", env = "SIM_HTTPS")]
    https: SocketAddr,
    /// Serve plain HTTP only.
    #[arg(long)]
    no_https: bool,
    /// Where to write the CA certificate clients must trust.
    #[arg(long, default_value = ".switchboard/sim-ca.pem", env = "SIM_CA_FILE")]
    ca_file: PathBuf,
    /// The access key (base64) of the connection string; a fixed local key by default.
    #[arg(long, env = "SIM_ACCESS_KEY")]
    access_key: Option<String>,
    /// The resource's immutable id: the audience of callback JWTs.
    #[arg(long, env = "SIM_RESOURCE_ID")]
    resource_id: Option<String>,
    /// Simulated seconds per real second (60: a one-minute call takes a second).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Seed for ids and random choices: the same seed and requests give the same run.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Deliver Event Grid events (IncomingCall…) to this endpoint; prefix with
    /// `cloudevents:` for the CloudEvents schema. Repeatable.
    #[arg(long = "event-grid", value_name = "[cloudevents:]URL")]
    event_grid: Vec<String>,
    /// Scenario files (TOML or JSON) of callers to place and agents to play. Repeatable.
    #[arg(long = "scenario", value_name = "FILE")]
    scenarios: Vec<PathBuf>,
    /// Attempts per callback delivery.
    #[arg(long, default_value_t = 4)]
    callback_attempts: u32,
    /// Spread deliveries (callbacks, Event Grid events) over these origins in turn,
    /// whatever the URI's own (a load balancer in front of several replicas). Repeatable.
    #[arg(long = "spread-callbacks", value_name = "http://HOST:PORT")]
    spread_callbacks: Vec<String>,
    /// Load mode: place this many calls from the scenario callers (in turn), wait for
    /// them to end, print the report and exit (status 1 if any failed).
    #[arg(long, value_name = "N")]
    load_calls: Option<usize>,
    /// Load mode: calls placed per second.
    #[arg(long, default_value_t = 10.0, value_name = "R")]
    load_rate: f64,
    /// Load mode: give up waiting for calls after this many seconds.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    load_timeout: f64,
    /// Load mode: also write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    load_report: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    anyhow::ensure!(
        args.time_scale > 0.0,
        "--time-scale must be positive, got {}",
        args.time_scale
    );
    let mut scenario = Scenario::default();
    for path in &args.scenarios {
        let loaded = Scenario::load(path)?;
        scenario.callers.extend(loaded.callers);
        scenario.agents.extend(loaded.agents);
        scenario.faults.extend(loaded.faults);
    }
    // In load mode the scenario callers are the mix, placed by the load generator.
    let mix = if args.load_calls.is_some() {
        std::mem::take(&mut scenario.callers)
    } else {
        Vec::new()
    };
    let defaults = SimConfig::default();
    let config = SimConfig {
        access_key: args.access_key.unwrap_or(defaults.access_key),
        resource_id: args.resource_id.unwrap_or(defaults.resource_id),
        time_scale: args.time_scale,
        seed: args.seed,
        subscriptions: args
            .event_grid
            .iter()
            .map(|spec| {
                let (schema, endpoint) = match spec.strip_prefix("cloudevents:") {
                    Some(url) => (EventSchema::CloudEvents, url),
                    None => (EventSchema::EventGrid, spec.as_str()),
                };
                Subscription {
                    endpoint: endpoint.to_owned(),
                    schema,
                    event_types: Vec::new(),
                    max_events_per_batch: 1,
                }
            })
            .collect(),
        scenario,
        callback_attempts: args.callback_attempts,
        callback_spread: args.spread_callbacks.clone(),
    };
    let listen = Listen {
        http: args.http,
        https: (!args.no_https).then_some(args.https),
        ca_file: Some(args.ca_file.clone()),
    };
    let running = switchboard_sim::start(config, listen)
        .await
        .context("starting the simulator")?;
    println!("ACS Call Automation simulator");
    println!("  http:              {}", running.http_url());
    if let Some(addr) = running.https {
        println!("  https:             https://{addr}");
    }
    println!("  connection string: {}", running.connection_string());
    println!(
        "  CA certificate:    {}  (export SSL_CERT_FILE / REQUESTS_CA_BUNDLE / NODE_EXTRA_CA_CERTS)",
        args.ca_file.display()
    );
    println!(
        "  OpenID config:     {}/calling/.well-known/acsopenidconfiguration",
        running.sim.base_url()
    );
    println!("  calls, timelines:  {}/sim/calls", running.http_url());
    if let Some(calls) = args.load_calls {
        let plan = LoadPlan {
            calls,
            rate: args.load_rate,
            mix,
            timeout: Duration::from_secs_f64(args.load_timeout),
        };
        let report = switchboard_sim::load::run(&running.sim, &plan).await?;
        println!("{}", report.text());
        if let Some(path) = &args.load_report {
            std::fs::write(path, serde_json::to_string_pretty(&report)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        running.stop();
        if report.failed > 0 {
            std::process::exit(1);
        }
        return Ok(());
    }
    tokio::signal::ctrl_c().await?;
    running.stop();
    Ok(())
}
