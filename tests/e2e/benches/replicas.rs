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
//! One replica has the default pool ([`POSTGRES_CONNECTIONS`]); each of three has a
//! third of it ([`REPLICA_CONNECTIONS`]), as the README advises.
//!
//! Each host is a process of its own (the `e2e-host` binary: the `switchboard`
//! server, its runtime, allocator and pools), as a deployment runs them: three
//! replicas in one process would share one runtime's threads and pools and read
//! better than three processes do (session 17 measured both: BENCHMARKS.md).
//!
//! For each: events handled per second with calls placed faster than the stack takes
//! them (simulator, hosts and PostgreSQL on the same two cores; [`ROUNDS`] rounds of
//! [`CALLS_PER_ROUND`] calls, the configurations taking turns, each round timed until
//! its last store write), the simulator's event → next
//! request latency at a moderate rate (everything between the service and the host's
//! answer: delivery, inbox, hand-over to the owner, plugin, save), and the mean time of
//! the store writes on an event's path (`switchboard_store_seconds`), and the CPU
//! each event cost during the saturated rounds: the whole machine's busy time, and of it
//! the host processes' and this process's (the simulator); the rest is mostly
//! PostgreSQL. Events are the hosts' `switchboard_events_total`, summed.
//!
//! Three replicas against one: events/s summed over all rounds, and round by round
//! (each three-replica round against the one-replica round just before it), whose
//! median one round meeting a busy moment of the shared machine does not move.
//!
//! Allocates with mimalloc, as the `switchboard` binary does. Prints a Markdown
//! table; with `BENCH_OUT=dir` also writes it to `dir/replicas.md`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::time::{Duration, Instant};

use switchboard::store::POSTGRES_CONNECTIONS;
use switchboard::store::scratch::{LOCAL_POSTGRES, ScratchSchema};
use switchboard_e2e::{ProcessStack, StackBuilder, ivr_script, metric_sum, stat_cpu_ticks};
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

/// Each of three replicas' pool: one host's default divided between them, as the
/// README advises (the replicas' pools sized together to what the database's cores
/// serve).
const REPLICA_CONNECTIONS: u32 = POSTGRES_CONNECTIONS / 3;

impl Config {
    /// `store.max_connections` of each replica; `None`: the default.
    fn connections(&self) -> Option<u32> {
        (self.replicas > 1).then_some(REPLICA_CONNECTIONS)
    }
}

struct Measured {
    events_per_second: f64,
    latency: LoadReport,
    /// One per saturated round.
    throughput: Vec<LoadReport>,
    /// Events/s of each saturated round, in the order the rounds ran.
    round_rates: Vec<f64>,
    save_us: f64,
    inbox_us: f64,
    handover_us: f64,
    /// Inbox reads to keep a call's order (`catch_up`) per 1,000 events, saturated.
    catch_ups_per_1000: f64,
    /// CPU per event, saturated, in µs: the machine's, the hosts', this process's
    /// (the simulator).
    machine_cpu_us: f64,
    hosts_cpu_us: f64,
    sim_cpu_us: f64,
}

/// CPU time used so far, in clock ticks (`USER_HZ`, 100 per second on Linux): the
/// whole machine's busy time (all but idle and I/O wait, every core), the host
/// processes' and this process's (user + system).
#[derive(Clone, Copy)]
struct CpuTicks {
    machine: u64,
    hosts: u64,
    sim: u64,
}

impl std::ops::Sub for CpuTicks {
    type Output = Self;
    fn sub(self, before: Self) -> Self {
        Self {
            machine: self.machine - before.machine,
            hosts: self.hosts - before.hosts,
            sim: self.sim - before.sim,
        }
    }
}

impl std::ops::Add for CpuTicks {
    type Output = Self;
    fn add(self, more: Self) -> Self {
        Self {
            machine: self.machine + more.machine,
            hosts: self.hosts + more.hosts,
            sim: self.sim + more.sim,
        }
    }
}

impl CpuTicks {
    fn now(stack: &ProcessStack) -> anyhow::Result<Self> {
        let stat = std::fs::read_to_string("/proc/stat")?;
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("cpu "))
            .ok_or_else(|| anyhow::anyhow!("/proc/stat: no `cpu` line"))?
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        // user nice system idle iowait irq softirq steal …
        let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
        let machine = fields.iter().take(8).sum::<u64>() - idle;
        let sim = stat_cpu_ticks(&std::fs::read_to_string("/proc/self/stat")?)
            .ok_or_else(|| anyhow::anyhow!("/proc/self/stat: no CPU times"))?;
        let mut hosts = 0;
        for (index, host) in stack.hosts.iter().enumerate() {
            hosts += host
                .cpu_ticks()
                .ok_or_else(|| anyhow::anyhow!("host {}: no CPU times (exited?)", index + 1))?;
        }
        Ok(Self {
            machine,
            hosts,
            sim,
        })
    }
}

/// `ticks` of CPU time over `events`, in µs per event (`USER_HZ` is 100 on every
/// Linux ABI: a tick is 10 ms).
fn us_per_event(ticks: u64, events: u64) -> f64 {
    ticks as f64 * 10_000.0 / events.max(1) as f64
}

/// Three replicas against one: events/s summed over the rounds, and round by round:
/// each of `three`'s rounds against `one`'s round of the same turn, run just before
/// it, when the shared machine was in about the same mood. The median of those ratios
/// is not moved by one round that met a busy moment, as the summed ratio is.
fn compare(three: &Measured, one: &Measured) -> String {
    let mut ratios: Vec<f64> = three
        .round_rates
        .iter()
        .zip(&one.round_rates)
        .map(|(a, b)| a / b)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let summed = three.events_per_second / one.events_per_second;
    let (Some(low), Some(high)) = (ratios.first(), ratios.last()) else {
        return format!("**{summed:.2}×**");
    };
    let middle = ratios.len() / 2;
    let median = if ratios.len().is_multiple_of(2) {
        (ratios[middle - 1] + ratios[middle]) / 2.0
    } else {
        ratios[middle]
    };
    format!(
        "**{summed:.2}×** over all rounds; round by round **{median:.2}×** median ({low:.2}–{high:.2}×, {} rounds)",
        ratios.len()
    )
}

/// Saturated rounds per configuration, taken in turns, and the calls in each.
const ROUNDS: usize = 6;
const CALLS_PER_ROUND: usize = 600;
/// Calls through a new stack before it is timed, placed as fast as the timed ones:
/// enough to open every pooled connection (a new PostgreSQL backend costs
/// milliseconds of CPU, and three replicas open three pools), as on replicas that
/// have been running.
const WARM_UP_CALLS: usize = 200;

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

/// Sum and count of `switchboard_store_seconds` for `op`, summed over the hosts'
/// `/metrics` texts.
fn store_seconds(hosts: &[String], op: &str) -> (f64, f64) {
    let value = |suffix: &str| {
        let prefix = format!("switchboard_store_seconds_{suffix}{{op=\"{op}\"}} ");
        hosts
            .iter()
            .filter_map(|metrics| {
                metrics
                    .lines()
                    .find_map(|l| l.strip_prefix(&prefix))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .sum::<f64>()
    };
    (value("sum"), value("count"))
}

/// Events the hosts have handled, summed.
fn events(hosts: &[String]) -> f64 {
    hosts
        .iter()
        .map(|m| metric_sum(m, "switchboard_events_total"))
        .sum()
}

/// Waits until the hosts have handled no event and written nothing to the store for
/// a while; when they last did, and the CPU time used by then (the polls that see
/// nothing happen cost the hosts a `/metrics` each, which no event caused).
async fn quiet_since(stack: &ProcessStack) -> anyhow::Result<(Instant, CpuTicks)> {
    const QUIET: Duration = Duration::from_millis(500);
    let activity = async || -> anyhow::Result<f64> {
        let hosts = stack.metrics().await?;
        let writes: f64 = hosts
            .iter()
            .map(|m| metric_sum(m, "switchboard_store_seconds_count"))
            .sum();
        Ok(writes + events(&hosts))
    };
    let mut last = activity().await?;
    let mut since = (Instant::now(), CpuTicks::now(stack)?);
    while since.0.elapsed() < QUIET {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = activity().await?;
        if now != last {
            last = now;
            since = (Instant::now(), CpuTicks::now(stack)?);
        }
    }
    Ok(since)
}

/// A configuration's stack, running.
struct Running {
    stack: ProcessStack,
    schema: Option<ScratchSchema>,
}

/// What a configuration's saturated rounds measured, summed.
#[derive(Default)]
struct Totals {
    handled: u64,
    seconds: f64,
    cpu: Option<CpuTicks>,
    catch_ups: f64,
    throughput: Vec<LoadReport>,
    round_rates: Vec<f64>,
}

/// Starts a configuration's stack (on a new schema), warmed by untimed calls; `None`
/// (with the reason printed) where it needs PostgreSQL and none answers. `quick` (a
/// debug build, `cargo test`): a few warm-up calls, and the plugin's deadline at
/// 250 ms as in the durability tests: a debug host sharing two cores with the
/// simulator can take more than 20 ms, and a fallback is not what the quick run checks.
async fn start(config: &Config, quick: bool) -> anyhow::Result<Option<Running>> {
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
    let pool = config
        .connections()
        .map(|n| format!("max_connections = {n}\n"))
        .unwrap_or_default();
    let mut builder = StackBuilder::ivr()?.host_toml(&format!(
        "[store]\ndurable_calls = {}\ncall_log = false\n{pool}{url}",
        config.durable
    ));
    builder.sim.time_scale = 50.0;
    if quick {
        builder = builder.deadline_ms(250);
    }
    let warm_up_calls = if quick { 20 } else { WARM_UP_CALLS };
    let exe = Path::new(env!("CARGO_BIN_EXE_e2e-host"));
    let stack = builder.spawn_replicas(config.replicas, exe).await?;
    if config.replicas > 1 && !config.spread_callbacks {
        let hosts: Vec<_> = stack.hosts.iter().map(|h| h.addr).collect();
        stack.spread_over(&hosts, false).await?;
    }
    let run = Running { stack, schema };
    // Untimed: connections opened, the plugin loaded, the instance pool used, as on a
    // host that has been running.
    let warm_up =
        switchboard_sim::load::run(&run.stack.sim.sim, &plan(warm_up_calls, 1000.0)).await?;
    anyhow::ensure!(
        warm_up.failed == 0,
        "{}: warm-up calls failed: {:#?}",
        config.name,
        warm_up.failures
    );
    quiet_since(&run.stack).await?;
    Ok(Some(run))
}

impl Running {
    async fn stop(self) -> anyhow::Result<()> {
        self.stack.stop().await?;
        if let Some(schema) = self.schema {
            schema.drop().await?;
        }
        Ok(())
    }
}

/// One saturated round: calls placed faster than the stack takes them, timed until
/// the last write lands, added to `totals`.
async fn saturate(run: &Running, calls: usize, totals: &mut Totals) -> anyhow::Result<()> {
    let metrics_before = run.stack.metrics().await?;
    let catch_ups_before = store_seconds(&metrics_before, "catch_up").1;
    let cpu_before = CpuTicks::now(&run.stack)?;
    let started = Instant::now();
    let report = switchboard_sim::load::run(&run.stack.sim.sim, &plan(calls, 1000.0)).await?;
    // The calls are over for the simulator, but a saturated host still has writes
    // queued that no caller waits for (the `done` marks after actions, the ended
    // calls' last saves): the round ends when the last of them lands.
    let (finished, cpu) = quiet_since(&run.stack).await?;
    let cpu = cpu - cpu_before;
    let metrics = run.stack.metrics().await?;
    let seconds = finished.duration_since(started).as_secs_f64();
    // Counters are floats in the text; every one is a whole number.
    let handled = (events(&metrics) - events(&metrics_before)).round() as u64;
    totals.seconds += seconds;
    totals.handled += handled;
    totals.round_rates.push(handled as f64 / seconds);
    // `USER_HZ` ticks over the round's seconds and the machine's cores.
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    println!(
        "round: {handled} events in {seconds:.2} s ({:.0}/s); machine busy {:.0} %; per event: hosts {:.0} µs, simulator {:.0} µs, the rest {:.0} µs",
        handled as f64 / seconds,
        cpu.machine as f64 / (seconds * 100.0 * cores) * 100.0,
        us_per_event(cpu.hosts, handled),
        us_per_event(cpu.sim, handled),
        us_per_event(cpu.machine.saturating_sub(cpu.hosts + cpu.sim), handled),
    );
    totals.cpu = Some(totals.cpu.map_or(cpu, |sum| sum + cpu));
    totals.catch_ups += store_seconds(&metrics, "catch_up").1 - catch_ups_before;
    println!("throughput {}", report.text());
    totals.throughput.push(report);
    Ok(())
}

/// The latency run at a moderate rate, and what the configuration measured.
async fn finish(run: &Running, totals: Totals, quick: bool) -> anyhow::Result<Measured> {
    let (calls, rate) = if quick { (20, 20.0) } else { (600, 60.0) };
    // Store times at a moderate rate (saturated, they are mostly waits for a
    // connection).
    let metrics_before = run.stack.metrics().await?;
    let latency = switchboard_sim::load::run(&run.stack.sim.sim, &plan(calls, rate)).await?;
    let metrics_after = run.stack.metrics().await?;
    println!("latency {}", latency.text());
    let mean_us = |op: &str| {
        let (sum0, n0) = store_seconds(&metrics_before, op);
        let (sum1, n1) = store_seconds(&metrics_after, op);
        if n1 > n0 {
            (sum1 - sum0) / (n1 - n0) * 1e6
        } else {
            0.0
        }
    };
    let cpu = totals
        .cpu
        .ok_or_else(|| anyhow::anyhow!("no saturated round measured"))?;
    Ok(Measured {
        events_per_second: totals.handled as f64 / totals.seconds,
        save_us: mean_us("save"),
        inbox_us: mean_us("inbox"),
        handover_us: mean_us("handover"),
        catch_ups_per_1000: totals.catch_ups / totals.handled.max(1) as f64 * 1000.0,
        machine_cpu_us: us_per_event(cpu.machine, totals.handled),
        hosts_cpu_us: us_per_event(cpu.hosts, totals.handled),
        sim_cpu_us: us_per_event(cpu.sim, totals.handled),
        latency,
        throughput: totals.throughput,
        round_rates: totals.round_rates,
    })
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
    let selected: Vec<&Config> = configs
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|o| c.name.contains(o.as_str())))
        .collect();
    // The saturated rounds take turns, so that each configuration meets the
    // machine's moods (it is shared) as often as the others, and their ratios compare
    // work, not moments. One stack at a time, each round on a new one (warmed up,
    // untimed): stacks left running would hold their connections, and together
    // outgrow PostgreSQL's `max_connections`.
    let (rounds, calls) = if quick {
        (1, 20)
    } else {
        (ROUNDS, CALLS_PER_ROUND)
    };
    let measured: Vec<(&Config, Measured)> = rt.block_on(async {
        let mut totals: Vec<Option<Totals>> =
            selected.iter().map(|_| Some(Totals::default())).collect();
        let mut measured = Vec::new();
        for round in 0..rounds {
            for (config, totals) in selected.iter().zip(&mut totals) {
                let Some(sum) = totals.as_mut() else {
                    continue;
                };
                println!("round {}: {}", round + 1, config.name);
                let Some(run) = start(config, quick).await? else {
                    *totals = None;
                    continue;
                };
                saturate(&run, calls, sum).await?;
                if round + 1 == rounds {
                    measured.push((*config, finish(&run, std::mem::take(sum), quick).await?));
                }
                run.stop().await?;
            }
        }
        anyhow::Ok(measured)
    })?;
    for (config, m) in &measured {
        let runs = || m.throughput.iter().chain([&m.latency]);
        anyhow::ensure!(
            runs().map(|r| r.failed).sum::<usize>() == 0,
            "{}: calls failed: {:#?}",
            config.name,
            runs().flat_map(|r| &r.failures).collect::<Vec<_>>()
        );
        match (config.postgres, config.replicas, config.spread_callbacks) {
            (true, 1, _) => single_pg = Some(m),
            (true, 3, true) => three_pg = Some(m),
            (true, 3, false) => three_pg_owner = Some(m),
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
            "| {} | {:.0} | {:.0} µs ({:.0} + {:.0} + {:.0}) | {:.2} / {:.2} ms | {} | {} | {} | {} | {}/{} |",
            config.name,
            m.events_per_second,
            m.machine_cpu_us,
            m.hosts_cpu_us,
            m.sim_cpu_us,
            (m.machine_cpu_us - m.hosts_cpu_us - m.sim_cpu_us).max(0.0),
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
            m.throughput.iter().map(|r| r.passed).sum::<usize>() + m.latency.passed,
            m.throughput.iter().map(|r| r.placed).sum::<usize>() + m.latency.placed,
        ));
    }
    let mut table = String::from(
        "| configuration | events/s (saturated) | CPU per event, saturated (host processes + simulator + the rest: PostgreSQL) | event → next request p50 / p99 (60 calls/s) | save before actions (mean) | inbox write, owner (mean) | hand-over to the owner (mean) | inbox reads to keep order, per 1,000 events (saturated) | calls passed |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        table.push_str(&row);
        table.push('\n');
    }
    if let Some(one) = single_pg {
        for (three, callbacks) in [
            (three_pg, "callbacks spread"),
            (three_pg_owner, "callbacks to the owner"),
        ] {
            if let Some(three) = three {
                table.push_str(&format!(
                    "\nThree replicas ({REPLICA_CONNECTIONS} connections each) / one replica ({POSTGRES_CONNECTIONS}) on PostgreSQL, events/s, {callbacks} (goal ≥ 1×): {}.\n",
                    compare(three, one)
                ));
            }
        }
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
