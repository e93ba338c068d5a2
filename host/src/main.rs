//! The `switchboard` command: thin glue over the library.
//!
//! It allocates with mimalloc: a host allocates per event from many tasks on few
//! threads, and with glibc's malloc the host and simulator spent 14 % more CPU per
//! event (BENCHMARKS.md, session 16). Programs that embed the host choose their own
//! allocator; the end-to-end host binary and benchmarks use this one too.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use switchboard::admin::client::AdminClient;
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

/// Where the admin API is, and who is asking.
#[derive(Debug, clap::Args)]
struct Remote {
    /// The host's base URL.
    #[arg(
        long,
        env = "SWITCHBOARD_URL",
        default_value = "http://127.0.0.1:7070",
        global = true
    )]
    url: String,
    /// The operator token, or a tenant key (`sbk_…`).
    #[arg(
        long,
        env = "SWITCHBOARD_TOKEN",
        default_value = "",
        hide_default_value = true,
        global = true
    )]
    token: String,
}

#[derive(Debug, Subcommand)]
enum TenantCmd {
    /// Create a tenant (operator).
    Create {
        id: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List tenants (a tenant key lists its own).
    List,
    /// Disable a tenant: its calls are not answered, its keys refused (operator).
    Disable { id: String },
    /// Enable a disabled tenant (operator).
    Enable { id: String },
}

#[derive(Debug, Subcommand)]
enum KeyCmd {
    /// Create an API key; its secret is printed once.
    Create {
        #[arg(long, env = "SWITCHBOARD_TENANT")]
        tenant: String,
    },
    /// List a tenant's keys (never their secrets).
    List {
        #[arg(long, env = "SWITCHBOARD_TENANT")]
        tenant: String,
    },
    /// Revoke a key.
    Revoke {
        #[arg(long, env = "SWITCHBOARD_TENANT")]
        tenant: String,
        key: String,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCmd {
    /// Upload a component as a new version (validated before it is accepted).
    Push {
        #[arg(long, env = "SWITCHBOARD_TENANT")]
        tenant: String,
        name: String,
        file: PathBuf,
        /// Activate it once accepted.
        #[arg(long)]
        activate: bool,
    },
    /// List plugins and versions.
    List {
        #[arg(long, env = "SWITCHBOARD_TENANT")]
        tenant: String,
    },
    /// Activate a version (by SHA-256); calls in progress keep theirs.
    Activate {
        #[arg(long, env = "SWITCHBOARD_TENANT")]
        tenant: String,
        name: String,
        sha256: String,
    },
    /// Return to the previous version.
    Rollback {
        #[arg(long, env = "SWITCHBOARD_TENANT")]
        tenant: String,
        name: String,
    },
    /// Run events through a plugin here, under the production limits (no host, no
    /// service): prints each decision, the logs, the time, fuel and memory used.
    Run {
        /// The plugin component.
        plugin: PathBuf,
        /// The events, as the service sends them (a CloudEvent or Event Grid event,
        /// or an array of them: run in order, the state carried from one to the next).
        #[arg(long)]
        event: PathBuf,
        /// The per-call state the first event sees (the text the plugin stored, e.g.
        /// `{"retries":1}`); empty by default, as at a call's first event.
        #[arg(long, default_value = "")]
        state: String,
        /// Tenant config handed to the plugin, `KEY=VALUE`; repeatable.
        #[arg(long = "config", value_parser = switchboard::author::config_entry)]
        config: Vec<switchboard::contract::ConfigEntry>,
        /// The invocation deadline, ms (the production default unless set).
        #[arg(long)]
        deadline_ms: Option<u32>,
    },
    /// Create a plugin project that builds to a component with `make` and has a test
    /// (`make test`).
    New {
        #[arg(long, value_enum)]
        lang: switchboard::author::Lang,
        /// The project's (and component's) name.
        name: String,
        /// Where to create it.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// A Switchboard checkout's `plugins/` directory, where the SDKs are.
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins"))]
        sdk: PathBuf,
    },
    /// Re-run a recorded call's events through a plugin (another version) and show
    /// where its decisions differ from the recorded ones; exits 1 if any do.
    Replay {
        /// The plugin component to check.
        plugin: PathBuf,
        /// The call (serverCallId) to take from the host's call log.
        #[arg(long, required_unless_present = "file", conflicts_with = "file")]
        call: Option<String>,
        #[arg(long, env = "SWITCHBOARD_TENANT", required_unless_present = "file")]
        tenant: Option<String>,
        /// A call exported with `switchboard calls show --json`, instead of `--call`.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum RouteCmd {
    /// Route a number (E.164) or ACS identity to a plugin.
    Add {
        #[arg(long, env = "SWITCHBOARD_TENANT")]
        tenant: String,
        address: String,
        plugin: String,
    },
    /// List a tenant's routes.
    List {
        #[arg(long, env = "SWITCHBOARD_TENANT")]
        tenant: String,
    },
    /// Remove a route.
    Remove {
        #[arg(long, env = "SWITCHBOARD_TENANT")]
        tenant: String,
        address: String,
    },
}

#[derive(Debug, Subcommand)]
enum CallsCmd {
    /// The tenant's most recent calls.
    List {
        #[arg(long, env = "SWITCHBOARD_TENANT")]
        tenant: String,
    },
    /// A call's timeline: events, decisions, actions, outcomes, durations.
    Show {
        #[arg(long, env = "SWITCHBOARD_TENANT")]
        tenant: String,
        /// The call's serverCallId.
        id: String,
        /// Print the call log's records as JSON (with each event's input and
        /// decision: what `plugin replay --file` takes).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage tenants through a host's admin API.
    Tenant {
        #[command(subcommand)]
        command: TenantCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// Manage a tenant's API keys.
    Key {
        #[command(subcommand)]
        command: KeyCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// Upload, list, activate and roll back a tenant's plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// Route numbers and identities to a tenant's plugins.
    Route {
        #[command(subcommand)]
        command: RouteCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// What happened on a tenant's calls.
    Calls {
        #[command(subcommand)]
        command: CallsCmd,
        #[command(flatten)]
        remote: Remote,
    },
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
        Command::Tenant { command, remote } => remote_call(&remote, |c| tenant(c, command)),
        Command::Key { command, remote } => remote_call(&remote, |c| key(c, command)),
        Command::Plugin {
            command:
                PluginCmd::Run {
                    plugin,
                    event,
                    state,
                    config,
                    deadline_ms,
                },
            ..
        } => run_plugin(&plugin, &event, state, config, deadline_ms),
        Command::Plugin {
            command:
                PluginCmd::New {
                    lang,
                    name,
                    dir,
                    sdk,
                },
            ..
        } => {
            let files = switchboard::author::scaffold(lang, &name, &dir, &sdk)?;
            for file in &files {
                println!("created {}", file.display());
            }
            println!(
                "\nbuild it: cd {} && make    test it: make test",
                dir.join(&name).display()
            );
            Ok(())
        }
        Command::Plugin {
            command:
                PluginCmd::Replay {
                    plugin,
                    call,
                    tenant,
                    file,
                },
            remote,
        } => replay_plugin(&plugin, &remote, call, tenant, file),
        Command::Plugin { command, remote } => remote_call(&remote, |c| plugin(c, command)),
        Command::Route { command, remote } => remote_call(&remote, |c| route(c, command)),
        Command::Calls { command, remote } => remote_call(&remote, |c| calls(c, command)),
    }
}

/// Runs an admin command; errors come out as one line saying what to do.
fn remote_call<F, Fut>(remote: &Remote, command: F) -> anyhow::Result<()>
where
    F: FnOnce(AdminClient) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let client = AdminClient::new(&remote.url, &remote.token);
    tokio::runtime::Runtime::new()?.block_on(command(client))
}

fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

async fn tenant(client: AdminClient, command: TenantCmd) -> anyhow::Result<()> {
    let answer = match command {
        TenantCmd::Create { id, name } => {
            client
                .post(
                    "/v1/tenants",
                    Some(&serde_json::json!({"id": id, "name": name})),
                )
                .await?
        }
        TenantCmd::List => client.get("/v1/tenants").await?,
        TenantCmd::Disable { id } => {
            client
                .post(&format!("/v1/tenants/{}/disable", segment(&id)), None)
                .await?
        }
        TenantCmd::Enable { id } => {
            client
                .post(&format!("/v1/tenants/{}/enable", segment(&id)), None)
                .await?
        }
    };
    print_json(&answer);
    Ok(())
}

async fn key(client: AdminClient, command: KeyCmd) -> anyhow::Result<()> {
    match command {
        KeyCmd::Create { tenant } => {
            let key = client
                .post(&format!("/v1/tenants/{}/keys", segment(&tenant)), None)
                .await?;
            println!("{}", key["secret"].as_str().unwrap_or_default());
            eprintln!(
                "key {} for tenant {tenant}: keep it now, it cannot be shown again",
                key["key"]["id"]
            );
        }
        KeyCmd::List { tenant } => {
            print_json(
                &client
                    .get(&format!("/v1/tenants/{}/keys", segment(&tenant)))
                    .await?,
            );
        }
        KeyCmd::Revoke { tenant, key } => {
            client
                .delete(&format!(
                    "/v1/tenants/{}/keys/{}",
                    segment(&tenant),
                    segment(&key)
                ))
                .await?;
            eprintln!("key {key} revoked");
        }
    }
    Ok(())
}

async fn plugin(client: AdminClient, command: PluginCmd) -> anyhow::Result<()> {
    match command {
        PluginCmd::Push {
            tenant,
            name,
            file,
            activate,
        } => {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("reading the component {}", file.display()))?;
            let base = format!(
                "/v1/tenants/{}/plugins/{}",
                segment(&tenant),
                segment(&name)
            );
            let version = client.upload(&format!("{base}/versions"), bytes).await?;
            println!("{}", version["sha256"].as_str().unwrap_or_default());
            if activate {
                client
                    .post(
                        &format!("{base}/activate"),
                        Some(&serde_json::json!({"sha256": version["sha256"]})),
                    )
                    .await?;
                eprintln!("activated");
            }
        }
        PluginCmd::List { tenant } => {
            print_json(
                &client
                    .get(&format!("/v1/tenants/{}/plugins", segment(&tenant)))
                    .await?,
            );
        }
        PluginCmd::Activate {
            tenant,
            name,
            sha256,
        } => {
            print_json(
                &client
                    .post(
                        &format!(
                            "/v1/tenants/{}/plugins/{}/activate",
                            segment(&tenant),
                            segment(&name)
                        ),
                        Some(&serde_json::json!({"sha256": sha256})),
                    )
                    .await?,
            );
        }
        // Handled in `main`, without a host.
        PluginCmd::Run { .. } | PluginCmd::Replay { .. } | PluginCmd::New { .. } => {
            anyhow::bail!("handled without the admin client")
        }
        PluginCmd::Rollback { tenant, name } => {
            print_json(
                &client
                    .post(
                        &format!(
                            "/v1/tenants/{}/plugins/{}/rollback",
                            segment(&tenant),
                            segment(&name)
                        ),
                        None,
                    )
                    .await?,
            );
        }
    }
    Ok(())
}

/// Loads a plugin from a file for local use, saying what was loaded and how long it
/// took. The runtime must outlive the plugin's invocations (it drives deadlines).
fn load_plugin(
    path: &std::path::Path,
    config: RuntimeConfig,
) -> anyhow::Result<(Runtime, switchboard::runtime::Plugin)> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "reading the plugin {} (the reference plugins are built by `make guests`)",
            path.display()
        )
    })?;
    let runtime = Runtime::new(config)?;
    let started = std::time::Instant::now();
    let plugin = runtime
        .load(&bytes)
        .with_context(|| format!("loading {}", path.display()))?;
    println!(
        "plugin {} (sha256 {}…, {} KiB), loaded in {:.1} ms",
        path.display(),
        &plugin.digest()[..12],
        bytes.len() >> 10,
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok((runtime, plugin))
}

fn level_name(level: switchboard::contract::Level) -> &'static str {
    use switchboard::contract::Level;
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

/// `switchboard plugin run`.
fn run_plugin(
    plugin_path: &std::path::Path,
    events_path: &std::path::Path,
    state: String,
    config: Vec<switchboard::contract::ConfigEntry>,
    deadline_ms: Option<u32>,
) -> anyhow::Result<()> {
    let json = std::fs::read(events_path)
        .with_context(|| format!("reading the events {}", events_path.display()))?;
    let events = switchboard::author::read_events(&json).with_context(|| {
        format!(
            "{}: expected the service's JSON: a CloudEvent or Event Grid event, or an array of them",
            events_path.display()
        )
    })?;
    let (_runtime, plugin) = load_plugin(
        plugin_path,
        RuntimeConfig {
            fuel_metering: true,
            max_concurrent_instances: 4,
            ..RuntimeConfig::default()
        },
    )?;
    let mut limits = Limits::default();
    if let Some(ms) = deadline_ms {
        limits.deadline_ms = ms;
    }
    let steps =
        switchboard::author::run_events(&plugin, &events, config, state.into_bytes(), &limits);
    let mut failed = 0;
    for step in &steps {
        let run = &step.invocation;
        println!("\n▶ {}", Described(&step.event));
        match &run.outcome {
            Outcome::Decision(d) => {
                if d.actions.is_empty() {
                    println!("  (no action)");
                }
                for action in &d.actions {
                    println!("  → {}", Described(action));
                }
                match &d.state {
                    Some(state) => println!("  state: {}", String::from_utf8_lossy(state)),
                    None => println!("  state: unchanged"),
                }
                println!(
                    "  decision: {}",
                    serde_json::to_string(&d.actions).unwrap_or_default()
                );
            }
            other => {
                failed += 1;
                println!("  ✗ {other} (the host would fall back for this call)");
            }
        }
        for line in &run.logs {
            println!("  log {}: {}", level_name(line.level), line.message);
        }
        println!(
            "  time {} µs, fuel {}, memory {} KiB (limits: {} ms, {} MiB)",
            run.elapsed.as_micros(),
            run.fuel_consumed.unwrap_or(0),
            run.peak_memory_bytes >> 10,
            limits.deadline_ms,
            limits.memory_bytes >> 20
        );
    }
    anyhow::ensure!(failed == 0, "{failed} event(s) did not end in a decision");
    Ok(())
}

/// `switchboard plugin replay`.
fn replay_plugin(
    plugin_path: &std::path::Path,
    remote: &Remote,
    call: Option<String>,
    tenant: Option<String>,
    file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let records: serde_json::Value = match (&file, call, tenant) {
        (Some(file), _, _) => serde_json::from_slice(
            &std::fs::read(file).with_context(|| format!("reading {}", file.display()))?,
        )
        .with_context(|| format!("{}: not JSON", file.display()))?,
        (None, Some(call), Some(tenant)) => {
            let client = AdminClient::new(&remote.url, &remote.token);
            tokio::runtime::Runtime::new()?.block_on(client.get(&format!(
                "/v1/tenants/{}/calls/{}",
                segment(&tenant),
                segment(&call)
            )))?
        }
        _ => anyhow::bail!("say which call: --call ID --tenant T, or --file FILE"),
    };
    let events = records
        .as_array()
        .context("expected the call log's records: a JSON array (`calls show --json`)")?;
    let mut recorded = Vec::new();
    for (i, event) in events.iter().enumerate() {
        // Events the plugin was not invoked for (the call in fallback) have none.
        if let Some(r) = event.get("recorded").filter(|r| !r.is_null()) {
            recorded.push(
                serde_json::from_value::<switchboard::store::calls::Recorded>(r.clone())
                    .with_context(|| format!("record #{}: not a recorded invocation", i + 1))?,
            );
        }
    }
    anyhow::ensure!(
        !recorded.is_empty(),
        "the call has no recorded invocations (recorded by hosts with the call log on, since this version)"
    );
    let (_runtime, plugin) = load_plugin(
        plugin_path,
        RuntimeConfig {
            max_concurrent_instances: 4,
            ..RuntimeConfig::default()
        },
    )?;
    println!("replaying {} events", recorded.len());
    let actions = |actions: &[switchboard::contract::ActionRequest]| {
        if actions.is_empty() {
            "(no action)".to_owned()
        } else {
            actions
                .iter()
                .map(|a| Described(a).to_string())
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    let replayed = switchboard::author::replay(&plugin, &recorded, &Limits::default());
    let mut differ = 0;
    for step in &replayed {
        let after = match &step.after.outcome {
            Outcome::Decision(d) => actions(&d.actions),
            other => format!("✗ {other}"),
        };
        if step.same() {
            println!("  = {}: {after}", Described(&step.event));
        } else {
            differ += 1;
            let before = step
                .before
                .as_deref()
                .map_or_else(|| "✗ failed".to_owned(), actions);
            println!("  ≠ {}", Described(&step.event));
            println!("      recorded: {before}");
            println!("      now:      {after}");
        }
    }
    println!("{differ} of {} decisions differ", replayed.len());
    anyhow::ensure!(differ == 0, "the plugin decides differently on this call");
    Ok(())
}

async fn route(client: AdminClient, command: RouteCmd) -> anyhow::Result<()> {
    match command {
        RouteCmd::Add {
            tenant,
            address,
            plugin,
        } => {
            print_json(
                &client
                    .post(
                        &format!("/v1/tenants/{}/routes", segment(&tenant)),
                        Some(&serde_json::json!({"address": address, "plugin": plugin})),
                    )
                    .await?,
            );
        }
        RouteCmd::List { tenant } => {
            print_json(
                &client
                    .get(&format!("/v1/tenants/{}/routes", segment(&tenant)))
                    .await?,
            );
        }
        RouteCmd::Remove { tenant, address } => {
            client
                .delete(&format!(
                    "/v1/tenants/{}/routes/{}",
                    segment(&tenant),
                    segment(&address)
                ))
                .await?;
            eprintln!("route {address} removed");
        }
    }
    Ok(())
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
    let (_runtime, plugin) = load_plugin(
        plugin_path,
        RuntimeConfig {
            cache_dir: Some(cache_dir),
            max_concurrent_instances: 16,
            ..RuntimeConfig::default()
        },
    )?;
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

async fn calls(client: AdminClient, command: CallsCmd) -> anyhow::Result<()> {
    match command {
        CallsCmd::List { tenant } => {
            let calls = client
                .get(&format!("/v1/tenants/{}/calls", segment(&tenant)))
                .await?;
            for call in calls.as_array().into_iter().flatten() {
                let span =
                    call["last_ms"].as_i64().unwrap_or(0) - call["first_ms"].as_i64().unwrap_or(0);
                println!(
                    "{}  {} events over {:.1} s",
                    call["server_call_id"].as_str().unwrap_or("?"),
                    call["events"],
                    span as f64 / 1000.0
                );
            }
        }
        CallsCmd::Show { tenant, id, json } => {
            let events = client
                .get(&format!(
                    "/v1/tenants/{}/calls/{}",
                    segment(&tenant),
                    segment(&id)
                ))
                .await?;
            if json {
                print_json(&events);
                return Ok(());
            }
            let events = events.as_array().cloned().unwrap_or_default();
            let start = events
                .first()
                .and_then(|e| e["at_ms"].as_i64())
                .unwrap_or(0);
            println!("call {id}");
            for e in &events {
                let actions: Vec<&str> = e["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(serde_json::Value::as_str)
                    .collect();
                let failed = e["failed"]
                    .as_str()
                    .map(|f| format!("  ✗ {f}"))
                    .unwrap_or_default();
                println!(
                    "  +{:>7} ms  {:<28} {:<18} → {:<32} plugin {:>5} µs, total {:>7} µs{failed}",
                    e["at_ms"].as_i64().unwrap_or(0) - start,
                    e["event"].as_str().unwrap_or("?"),
                    e["outcome"].as_str().unwrap_or("?"),
                    if actions.is_empty() {
                        "(nothing)".to_owned()
                    } else {
                        actions.join(", ")
                    },
                    e["plugin_us"],
                    e["total_us"],
                );
            }
        }
    }
    Ok(())
}
