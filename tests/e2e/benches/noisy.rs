//! `cargo bench -p switchboard-e2e --bench noisy`: noisy neighbours (issue #8). One
//! host, the IVR tenant (good) and eight hostile tenants whose plugins loop forever,
//! sleep for an hour, bomb memory, overflow the stack, panic, return 10,000 actions
//! or 512 KiB of output, or flood the log (100 KiB per event). Two load runs in the
//! same process, the same good calls in each: good calls only, then good calls with
//! hostile ones as 10 % of the traffic. Reported: the good calls' event → next request
//! latency (p50, p99) in each run and their ratio, failed good calls, and hostile
//! calls that did not end as they must: rejected by the fallback, or for the log
//! flood (whose decisions are valid; its log is cut at the limit) answered and ended
//! by the plugin.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it), a short run that checks
//! the counts only. Prints a Markdown table; with `BENCH_OUT=dir` also writes it to
//! `dir/noisy.md` (and `make reliability` to RELIABILITY.md).

use std::time::Duration;

use switchboard_e2e::{StackBuilder, TenantSpec, ivr_script};
use switchboard_sim::load::{Latency, LoadPlan, LoadReport};
use switchboard_sim::script::Caller;

/// Hostile modes of `tests/guests/hostile`, each with the requests its call must see.
const HOSTILE: [(&str, &str); 8] = [
    ("loop", "RejectCall"),
    ("sleep", "RejectCall"),
    ("memory", "RejectCall"),
    ("stack", "RejectCall"),
    ("panic", "RejectCall"),
    ("actions", "RejectCall"),
    ("output", "RejectCall"),
    ("logs", "AnswerCall\", \"TerminateCall"),
];
const GOOD: [&str; 4] = ["press-2-then-3", "silent", "press-1", "agent-busy"];

fn hostile_number(i: usize) -> String {
    format!("+1800555020{i}")
}

/// A caller that rings hostile tenant `i`. Most fail on the IncomingCall, so the
/// fallback rejects the call.
fn hostile_caller(i: usize) -> Caller {
    let (mode, expect) = HOSTILE[i];
    toml::from_str(&format!(
        r#"
        name = "hostile-{mode}"
        from = "+1425555090{i}"
        to = "{to}"
        expect = ["{expect}"]
        "#,
        to = hostile_number(i),
    ))
    .expect("hostile caller")
}

/// The good calls' latency in a report.
fn good_latency(report: &LoadReport) -> Latency {
    Latency::of(
        GOOD.iter()
            .flat_map(|name| {
                report
                    .samples_by_script
                    .get(*name)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect(),
    )
}

/// Calls of `report` whose script is good (or hostile) and failed.
fn failed(report: &LoadReport, good: bool) -> usize {
    report
        .failures_by_script
        .iter()
        .filter(|(name, _)| GOOD.contains(&name.as_str()) == good)
        .map(|(_, n)| n)
        .sum()
}

fn main() -> anyhow::Result<()> {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut builder = StackBuilder::ivr()?;
        for (i, (mode, _)) in HOSTILE.iter().enumerate() {
            builder = builder.tenant(TenantSpec::hostile(
                &format!("hostile-{mode}"),
                &hostile_number(i),
                mode,
            )?);
        }
        let stack = builder.start().await?;
        let good: Vec<Caller> = GOOD
            .iter()
            .map(|name| ivr_script(name))
            .collect::<anyhow::Result<_>>()?;
        let (calls, rate) = if quick { (40, 20.0) } else { (1200, 60.0) };
        // One mix of 80: 72 good (the four scripts in turn), 8 hostile (one of each).
        let mut mixed = Vec::new();
        for i in 0..72 {
            mixed.push(good[i % good.len()].clone());
            if i % 9 == 8 {
                mixed.push(hostile_caller(i / 9));
            }
        }
        let plan = |mix: Vec<Caller>, calls: usize| LoadPlan {
            calls,
            rate,
            mix,
            timeout: Duration::from_secs(300),
        };
        // Warm-up: the hostile plugins' first instances, the IVR's.
        switchboard_sim::load::run(&stack.sim.sim, &plan(mixed.clone(), 80)).await?;
        let alone = switchboard_sim::load::run(&stack.sim.sim, &plan(good.clone(), calls)).await?;
        // The same number of good calls, plus one hostile call in ten.
        let with_hostile =
            switchboard_sim::load::run(&stack.sim.sim, &plan(mixed, calls * 80 / 72)).await?;
        let (a, h) = (good_latency(&alone), good_latency(&with_hostile));
        let ratio = h.p99_ms / a.p99_ms;
        let hostile_calls = with_hostile.placed * 8 / 80;
        let table = format!(
            "| run | good calls | good calls failed | good event → next request p50 / p99 | hostile calls | hostile calls not ending as they must |\n\
             |---|---|---|---|---|---|\n\
             | good tenants alone | {} | {} | {:.2} / {:.2} ms | – | – |\n\
             | with 10 % hostile traffic | {} | {} | {:.2} / {:.2} ms | {hostile_calls} | {} |\n\n\
             Good tenants' p99 with hostile traffic / without: **{ratio:.2}×** (goal ≤ 1.2×); \
             {calls} good calls per run at {rate} calls/s in all, same run, same process.\n",
            alone.placed,
            failed(&alone, true),
            a.p50_ms,
            a.p99_ms,
            with_hostile.placed - hostile_calls,
            failed(&with_hostile, true),
            h.p50_ms,
            h.p99_ms,
            failed(&with_hostile, false),
        );
        println!("{table}");
        if let Ok(dir) = std::env::var("BENCH_OUT") {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(format!("{dir}/noisy.md"), &table)?;
        }
        anyhow::ensure!(
            alone.failed == 0 && with_hostile.failed == 0,
            "failed calls (good, or hostile without the fallback):\n{table}\n{:#?}",
            with_hostile.failures
        );
        Ok(())
    })
}
