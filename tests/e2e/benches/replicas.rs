//! `cargo bench -p switchboard-e2e --bench replicas`: what durable calls cost, and
//! three replicas on one PostgreSQL against one, in the same run and under the same
//! load (`ivr.md` scripts from the simulator's load generator, the Rust IVR plugin).
//!
//! Configurations: SQLite with calls in memory only (`durable_calls = false`), SQLite
//! durable (the default), PostgreSQL with one replica, PostgreSQL with three replicas
//! and the simulator spreading callbacks over them in turn (two events in three reach
//! a replica that does not own the call: it puts the event in the call's inbox and
//! wakes the owner with `NOTIFY`, which carries the event), and three replicas with
//! only the Event Grid events spread (each call's callbacks reach the replica that
//! answered it, at the callback URI it gave: hand-overs only when a replica is gone).
//!
//! For each: events handled per second with calls placed faster than the stack takes
//! them (simulator and hosts on the same two cores), the simulator's event → next
//! request latency at a moderate rate (everything between the service and the host's
//! answer: delivery, inbox, hand-over to the owner, plugin, save), and the mean time of
//! the store writes on an event's path (`switchboard_store_seconds`).
//!
//! Prints a Markdown table; with `BENCH_OUT=dir` also writes it to `dir/replicas.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use switchboard::store::scratch::{LOCAL_POSTGRES, ScratchSchema};
use switchboard_e2e::{Stack, StackBuilder, ivr_script};
use switchboard_sim::load::{LoadPlan, LoadReport};

struct Config {
    name: &'static str,
    postgres: bool,
    durable: bool,
    replicas: usize,
    /// With several replicas: whether callbacks are spread over them too, or only the
    /// Event Grid events (each call's callbacks then reach the replica that answered
    /// it, at the URI it gave).
    spread_callbacks: bool,
}

struct Measured {
    events_per_second: f64,
    latency: LoadReport,
    throughput: LoadReport,
    save_us: f64,
    inbox_us: f64,
    handover_us: f64,
    /// Inbox reads to keep a call's order (`catch_up`) per 1,000 events, saturated.
    catch_ups_per_1000: f64,
}

fn plan(calls: usize, rate: f64) -> LoadPlan {
    LoadPlan {
        calls,
        rate,
        mix: ["press-2-then-3", "silent", "press-1", "agent-busy"]
            .map(|name| ivr_script(name).expect("script"))
            .to_vec(),
        timeout: Duration::from_secs(300),
    }
}

/// Sum and count of `switchboard_store_seconds` for `op`, from `/metrics` text.
fn store_seconds(metrics: &str, op: &str) -> (f64, f64) {
    let value = |suffix: &str| {
        let prefix = format!("switchboard_store_seconds_{suffix}{{op=\"{op}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (value("sum"), value("count"))
}

async fn measure(config: &Config, quick: bool) -> anyhow::Result<Option<Measured>> {
    let schema = if config.postgres {
        match ScratchSchema::create(LOCAL_POSTGRES, "sb_bench").await {
            Ok(schema) => Some(schema),
            Err(e) => {
                eprintln!(
                    "SKIPPED {}: no PostgreSQL at {LOCAL_POSTGRES}: {e}",
                    config.name
                );
                return Ok(None);
            }
        }
    } else {
        None
    };
    let url = schema
        .as_ref()
        .map(|s| format!("url = \"{}\"", s.url))
        .unwrap_or_default();
    let mut builder = StackBuilder::ivr()?.host_toml(&format!(
        "[store]\ndurable_calls = {}\ncall_log = false\n{url}",
        config.durable
    ));
    builder.sim.time_scale = 50.0;
    let mut stack: Stack = builder.start_replicas(config.replicas).await?;
    if config.replicas > 1 && !config.spread_callbacks {
        stack.spread_deliveries(false).await?;
    }
    let events = Arc::new(AtomicU64::new(0));
    for host in &stack.hosts {
        let mut journal = host.executor.journal();
        let events = Arc::clone(&events);
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match journal.recv().await {
                    Ok(_) => events.fetch_add(1, Ordering::Relaxed),
                    Err(RecvError::Lagged(n)) => events.fetch_add(n, Ordering::Relaxed),
                    Err(RecvError::Closed) => break,
                };
            }
        });
    }
    let (calls, rate) = if quick { (20, 100.0) } else { (1500, 1000.0) };
    let before = events.load(Ordering::Relaxed);
    let catch_ups_before = store_seconds(&stack.metrics().await?, "catch_up").1;
    let started = Instant::now();
    let throughput = switchboard_sim::load::run(&stack.sim.sim, &plan(calls, rate)).await?;
    let seconds = started.elapsed().as_secs_f64();
    let handled = events.load(Ordering::Relaxed) - before;
    let catch_ups = store_seconds(&stack.metrics().await?, "catch_up").1 - catch_ups_before;
    let (calls, rate) = if quick { (20, 20.0) } else { (600, 60.0) };
    // Store times at a moderate rate (saturated, they are mostly waits for a
    // connection).
    let metrics_before = stack.metrics().await?;
    let latency = switchboard_sim::load::run(&stack.sim.sim, &plan(calls, rate)).await?;
    let metrics_after = stack.metrics().await?;
    let mean_us = |op: &str| {
        let (sum0, n0) = store_seconds(&metrics_before, op);
        let (sum1, n1) = store_seconds(&metrics_after, op);
        if n1 > n0 {
            (sum1 - sum0) / (n1 - n0) * 1e6
        } else {
            0.0
        }
    };
    let measured = Measured {
        events_per_second: handled as f64 / seconds,
        save_us: mean_us("save"),
        inbox_us: mean_us("inbox"),
        handover_us: mean_us("handover"),
        catch_ups_per_1000: catch_ups / handled.max(1) as f64 * 1000.0,
        latency,
        throughput,
    };
    for host in &mut stack.hosts {
        host.stop().await?;
    }
    drop(stack);
    if let Some(schema) = schema {
        schema.drop().await?;
    }
    Ok(Some(measured))
}

fn main() -> anyhow::Result<()> {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let configs = [
        Config {
            name: "SQLite, calls in memory only",
            postgres: false,
            durable: false,
            replicas: 1,
            spread_callbacks: false,
        },
        Config {
            name: "SQLite, durable calls (default)",
            postgres: false,
            durable: true,
            replicas: 1,
            spread_callbacks: false,
        },
        Config {
            name: "PostgreSQL, 1 replica",
            postgres: true,
            durable: true,
            replicas: 1,
            spread_callbacks: false,
        },
        Config {
            name: "PostgreSQL, 3 replicas, callbacks spread",
            postgres: true,
            durable: true,
            replicas: 3,
            spread_callbacks: true,
        },
        Config {
            name: "PostgreSQL, 3 replicas, callbacks to the owner",
            postgres: true,
            durable: true,
            replicas: 3,
            spread_callbacks: false,
        },
    ];
    let mut rows = Vec::new();
    let mut single_pg = None;
    let mut three_pg = None;
    let mut three_pg_owner = None;
    // `cargo bench … -- --bench PostgreSQL`: only configurations whose name has it.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for config in configs
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|o| c.name.contains(o.as_str())))
    {
        let Some(m) = rt.block_on(measure(config, quick))? else {
            continue;
        };
        println!("{}: throughput {}", config.name, m.throughput.text());
        println!("{}: latency {}", config.name, m.latency.text());
        anyhow::ensure!(
            m.throughput.failed == 0 && m.latency.failed == 0,
            "{}: calls failed: {:#?}",
            config.name,
            [&m.throughput.failures, &m.latency.failures]
        );
        match (config.postgres, config.replicas, config.spread_callbacks) {
            (true, 1, _) => single_pg = Some(m.events_per_second),
            (true, 3, true) => three_pg = Some(m.events_per_second),
            (true, 3, false) => three_pg_owner = Some(m.events_per_second),
            _ => {}
        }
        let store = |us: f64| {
            if us > 0.0 {
                format!("{us:.0} µs")
            } else {
                "–".into()
            }
        };
        rows.push(format!(
            "| {} | {:.0} | {:.2} / {:.2} ms | {} | {} | {} | {} | {}/{} |",
            config.name,
            m.events_per_second,
            m.latency.event_to_request.p50_ms,
            m.latency.event_to_request.p99_ms,
            store(m.save_us),
            store(m.inbox_us),
            store(m.handover_us),
            if config.postgres {
                format!("{:.1}", m.catch_ups_per_1000)
            } else {
                "–".into()
            },
            m.throughput.passed + m.latency.passed,
            m.throughput.placed + m.latency.placed,
        ));
    }
    let mut table = String::from(
        "| configuration | events/s (saturated) | event → next request p50 / p99 (60 calls/s) | save before actions (mean) | inbox write, owner (mean) | hand-over to the owner (mean) | inbox reads to keep order, per 1,000 events (saturated) | calls passed |\n|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        table.push_str(&row);
        table.push('\n');
    }
    if let (Some(one), Some(three)) = (single_pg, three_pg) {
        table.push_str(&format!(
            "\nThree replicas / one replica on PostgreSQL, events/s, callbacks spread: **{:.2}×** (goal ≥ 1×).\n",
            three / one
        ));
    }
    if let (Some(one), Some(three)) = (single_pg, three_pg_owner) {
        table.push_str(&format!(
            "Three replicas / one replica on PostgreSQL, events/s, callbacks to the owner: **{:.2}×**.\n",
            three / one
        ));
    }
    println!("{table}");
    if let (false, Some(dir)) = (
        quick,
        std::env::var_os("BENCH_OUT").filter(|d| !d.is_empty()),
    ) {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("replicas.md"),
            format!(
                "### Durable calls and replicas (`make bench`: `cargo bench -p switchboard-e2e --bench replicas`)\n\n{table}"
            ),
        )?;
    }
    Ok(())
}
