//! `cargo bench -p switchboard --bench invoke`: the cost of running a policy.
//!
//! Cases, all on the reference IVR policy and a CallConnected event:
//! native Rust function (the baseline), fresh Wasm instance + call, instantiation
//! only, call on a reused instance; then loading a precompiled plugin from the disk
//! cache, compiling one, and how long an infinite loop runs before the deadline stops
//! it. Every sample is timed on its own, so medians and p99s are real percentiles.
//!
//! Prints a Markdown table; with `BENCH_OUT=dir` also writes it to `dir/invoke.md`
//! (which `make bench` splices into BENCHMARKS.md).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchboard::contract::{ConfigEntry, Event};
use switchboard::native;
use switchboard::runtime::{Limits, Outcome, Runtime, RuntimeConfig};
use switchboard::scenario;

struct Row {
    case: &'static str,
    samples: Vec<Duration>,
}

impl Row {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[rank]
    }
}

fn sample(case: &'static str, n: usize, mut f: impl FnMut()) -> Row {
    for _ in 0..(n / 10).max(3) {
        f();
    }
    let samples = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    Row { case, samples }
}

fn guest(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../target/wasm32-wasip2/guest/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `make guests`", path.display()))
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.2} µs")
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs us with no flag: be quick then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 200 } else { 20_000 };

    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let bytes = guest("switchboard_ivr");
    let plugin = runtime.load(&bytes).expect("load ivr");
    let limits = Limits::default();
    let event = Event::CallConnected(scenario::info(Some("ivr"), 200, 0, ""));
    let ctx = scenario::context();
    let check = |outcome: &Outcome| {
        assert!(
            matches!(outcome, Outcome::Decision(d) if d.actions.len() == 1),
            "{outcome:?}"
        )
    };
    check(&plugin.invoke(&event, &ctx, &limits).outcome);

    let mut rows = vec![
        sample("native Rust function (baseline)", n, || {
            black_box(native::ivr(black_box(&event), black_box(&ctx)).expect("native"));
        }),
        sample("Wasm: fresh instance + call", n, || {
            black_box(plugin.invoke(black_box(&event), black_box(&ctx), &limits));
        }),
        sample("Wasm: instantiate only", n, || {
            let mut session = plugin.session(&limits);
            session.instantiate().expect("instantiate");
            black_box(session);
        }),
    ];
    let mut session = plugin.session(&limits);
    session.instantiate().expect("instantiate");
    rows.push(sample("Wasm: call on a reused instance", n, || {
        black_box(session.invoke(black_box(&event), black_box(&ctx)));
    }));
    drop(session);

    let load_n = if quick { 5 } else { 200 };
    let cached = sample("load precompiled plugin from disk cache", load_n, || {
        black_box(runtime.load(&bytes).expect("cached load"));
    });
    let uncached_runtime = Runtime::new(RuntimeConfig {
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let compiled = sample(
        "compile plugin (no cache)",
        if quick { 1 } else { 10 },
        || {
            black_box(uncached_runtime.load(&bytes).expect("compile"));
        },
    );

    let hostile = runtime.load(&guest("hostile_guest")).expect("hostile");
    let mut looping = scenario::context();
    looping.config.push(ConfigEntry {
        key: "mode".into(),
        value: "loop".into(),
    });
    let stopped = sample(
        "infinite loop, until stopped (20 ms deadline)",
        if quick { 3 } else { 50 },
        || {
            let run = hostile.invoke(&event, &looping, &limits);
            assert!(matches!(run.outcome, Outcome::DeadlineExceeded(_)));
        },
    );

    let base = rows[0].percentile(0.5).as_secs_f64();
    let mut table = String::from("| case | median | p99 | median ÷ native |\n|---|---|---|---|\n");
    for row in &rows {
        let median = row.percentile(0.5);
        table += &format!(
            "| {} | {} | {} | {:.0}× |\n",
            row.case,
            fmt(median),
            fmt(row.percentile(0.99)),
            median.as_secs_f64() / base
        );
    }
    table += "\n| case | median | p99 | max | goal |\n|---|---|---|---|---|\n";
    table += &format!(
        "| {} | {} | {} | {} | ≤ 5 ms |\n",
        cached.case,
        fmt(cached.percentile(0.5)),
        fmt(cached.percentile(0.99)),
        fmt(cached.percentile(1.0))
    );
    table += &format!(
        "| {} | {} | {} | {} | — |\n",
        compiled.case,
        fmt(compiled.percentile(0.5)),
        fmt(compiled.percentile(0.99)),
        fmt(compiled.percentile(1.0))
    );
    table += &format!(
        "| {} | {} ({:.2}× deadline) | {} | {} ({:.2}× deadline) | ≤ 2× deadline |\n",
        stopped.case,
        fmt(stopped.percentile(0.5)),
        stopped.percentile(0.5).as_secs_f64() / limits.deadline().as_secs_f64(),
        fmt(stopped.percentile(0.99)),
        fmt(stopped.percentile(1.0)),
        stopped.percentile(1.0).as_secs_f64() / limits.deadline().as_secs_f64(),
    );
    println!("\n{table}");
    println!(
        "samples: {n} per invocation case, {load_n} loads; plugin {} KiB",
        bytes.len() >> 10
    );

    if let (false, Some(dir)) = (
        quick,
        std::env::var_os("BENCH_OUT").filter(|d| !d.is_empty()),
    ) {
        std::fs::create_dir_all(&dir).expect("bench dir");
        std::fs::write(std::path::Path::new(&dir).join("invoke.md"), &table).expect("write table");
    }
}
