//! `cargo bench -p switchboard --bench polyglot`: the reference IVR policy in Rust,
//! Python and JavaScript (`plugins/*`, built by `make guests`), in the same run.
//!
//! For each language, on a CallConnected event: a fresh instance + call (the default,
//! `reuse = "fresh"`; again with memories reset as before dirty pages were found:
//! their first 512 KiB copied back, the rest returned to the kernel), of that the
//! instantiation alone (with dropping the instance, which resets its slot), a call on
//! the call's own instance (`reuse = "per-call"`), the
//! memory each live instance holds (private dirty pages, from
//! `/proc/self/smaps_rollup`, with 200 instances alive after one event each), and the
//! time from upload to ready (compile + validation), with nothing cached and again for
//! the same code under another digest (its functions in the cache). Then 1,000 Python instances
//! alive at once: what 1,000 concurrent calls in per-call mode hold.
//!
//! Prints a Markdown table; with `BENCH_OUT=dir` also writes it to `dir/polyglot.md`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchboard::contract::Event;
use switchboard::runtime::{Limits, Outcome, Runtime, RuntimeConfig, Session};
use switchboard::scenario;

fn guest(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../target/wasm32-wasip2/guest/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `make guests`", path.display()))
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let rank = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[rank]
}

fn timed(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..(n / 10).max(3) {
        f();
    }
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

/// `component` with a custom section appended (valid anywhere between sections): the
/// same code under another digest.
fn with_custom_section(component: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = component.to_vec();
    out.push(0);
    leb(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

/// Private dirty memory of this process, bytes.
fn private_dirty() -> u64 {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    rollup
        .lines()
        .filter(|l| l.starts_with("Private_Dirty:") || l.starts_with("Private_Hugetlb:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

fn us(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// Returns the allocator's free pages to the kernel, so that what instances allocate
/// next counts as new dirty memory (otherwise it would depend on what ran before: an
/// instance's ~400 KiB of host heap fits in the pages a compilation just freed).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim_heap() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: glibc's malloc_trim only releases free memory; it has no preconditions.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

/// `n` sessions, each having handled one event; private dirty bytes per session.
fn memory_per_instance(
    plugin: &switchboard::runtime::Plugin,
    limits: &Limits,
    event: &Event,
    ctx: &switchboard::contract::Context,
    n: usize,
) -> (f64, Vec<Session>) {
    trim_heap();
    let before = private_dirty();
    let sessions: Vec<Session> = (0..n)
        .map(|_| {
            let mut session = plugin.session(limits);
            let outcome = session.invoke(event, ctx).outcome;
            assert!(matches!(outcome, Outcome::Decision(_)), "{outcome:?}");
            session
        })
        .collect();
    let after = private_dirty();
    (after.saturating_sub(before) as f64 / n as f64, sessions)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 20 } else { 2_000 };
    let live = if quick { 10 } else { 200 };
    let crowd = if quick { 20 } else { 1_000 };

    // As a host keeps them: precompiled plugins and their compiled functions on disk,
    // empty at the start (every upload below compiles from nothing first).
    let cache = tempfile::tempdir().expect("cache dir");
    // `BENCH_CACHE=dir`: a cache kept between runs, so uploads load instead of compiling
    // (for profiling the rest; the upload columns then measure a cached load).
    let cache_dir =
        std::env::var_os("BENCH_CACHE").map_or_else(|| cache.path().to_owned(), PathBuf::from);
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_instances: 1_200,
        cache_dir: Some(cache_dir.clone()),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    // The same, resetting a memory as before dirty pages could be found: its first
    // 512 KiB copied back, the rest returned to the kernel.
    let prefix_reset = Runtime::new(RuntimeConfig {
        max_concurrent_instances: 16,
        dirty_pages_only: false,
        cache_dir: Some(cache_dir.clone()),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    // Python and JS need more time than Rust's default 20 ms for their first events
    // on a busy machine; the deadline is not what is measured here.
    let limits = Limits {
        deadline_ms: 1_000,
        ..Limits::default()
    };
    let event = Event::CallConnected(scenario::info(Some("ivr"), 200, 0, ""));
    let ctx = scenario::context();

    let mut rows = Vec::new();
    let mut crowd_row = None;
    // `BENCH_LANGS=Python,JavaScript`: only those (to profile one).
    let only = std::env::var("BENCH_LANGS").unwrap_or_default();
    for (lang, name) in [
        ("Rust", "switchboard_ivr"),
        ("Python", "ivr_py"),
        ("JavaScript", "ivr_js"),
    ]
    .into_iter()
    .filter(|(lang, _)| only.is_empty() || only.split(',').any(|l| l == *lang))
    {
        let bytes = guest(name);
        let started = Instant::now();
        let report =
            switchboard::runtime::validate::validate(&runtime, &bytes, &limits, ctx.config.clone());
        let ready = started.elapsed();
        let plugin = match report {
            Ok(plugin) => plugin,
            Err(e) => panic!("{lang}: {e}"),
        };
        // The same code again under another digest (a custom section added): what an
        // upload costs whose functions were compiled before.
        let again = with_custom_section(&bytes, "switchboard-bench", b"another version");
        let started = Instant::now();
        switchboard::runtime::validate::validate(&runtime, &again, &limits, ctx.config.clone())
            .unwrap_or_else(|e| panic!("{lang} again: {e}"));
        let ready_again = started.elapsed();
        let first = plugin.invoke(&event, &ctx, &limits);
        assert!(
            matches!(&first.outcome, Outcome::Decision(d) if d.actions.len() == 1),
            "{lang}: {:?}",
            first.outcome
        );
        let mut fresh = timed(n, || {
            black_box(plugin.invoke(black_box(&event), black_box(&ctx), &limits));
        });
        let mut fresh_prefix = {
            let plugin = prefix_reset.load(&bytes).expect("load");
            timed(n, || {
                black_box(plugin.invoke(black_box(&event), black_box(&ctx), &limits));
            })
        };
        let mut instantiate = timed(n, || {
            let mut session = plugin.session(&limits);
            session.instantiate().expect("instantiate");
            black_box(session);
        });
        let mut session = plugin.session(&limits);
        session.instantiate().expect("instantiate");
        let mut reused = timed(n, || {
            black_box(session.invoke(black_box(&event), black_box(&ctx)));
        });
        drop(session);
        trim_heap();
        let baseline = private_dirty();
        let (per_instance, sessions) = memory_per_instance(&plugin, &limits, &event, &ctx, live);
        drop(sessions);
        if lang == "Python" {
            // Against the same baseline: the crowd's first instances take the slots
            // (and the pages those kept) of the ones just dropped.
            let (_, sessions) = memory_per_instance(&plugin, &limits, &event, &ctx, crowd);
            let held = private_dirty().saturating_sub(baseline);
            drop(sessions);
            crowd_row = Some((crowd, held));
        }
        rows.push(format!(
            "| {lang} | {:.1} MiB | {} | {} | {} / {} | {} | {} | {} | {:.0} KiB |",
            bytes.len() as f64 / f64::from(1 << 20),
            us(ready),
            us(ready_again),
            us(percentile(&mut fresh, 0.5)),
            us(percentile(&mut fresh, 0.99)),
            us(percentile(&mut fresh_prefix, 0.5)),
            us(percentile(&mut instantiate, 0.5)),
            us(percentile(&mut reused, 0.5)),
            per_instance / 1024.0,
        ));
    }
    let mut table = String::from(
        "| plugin | component | upload to ready (validate + compile), nothing cached | the same code as a new version (its functions cached) | fresh instance + call, p50 / p99 | the same, first 512 KiB reset (before), p50 | of which instantiation (and its reset), p50 | per-call reuse: call, p50 | private dirty per live instance |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        table.push_str(&row);
        table.push('\n');
    }
    if let Some((calls, held)) = crowd_row {
        table.push_str(&format!(
            "\n{calls} Python instances alive at once (1,000 concurrent calls in per-call mode): {:.0} MiB private dirty (goal: fit in 2 GiB).\n",
            held as f64 / f64::from(1 << 20)
        ));
    }
    println!("{table}");
    if let (false, Some(dir)) = (
        quick,
        std::env::var_os("BENCH_OUT").filter(|d| !d.is_empty()),
    ) {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("BENCH_OUT");
        std::fs::write(
            dir.join("polyglot.md"),
            format!(
                "### Python and JavaScript plugins (`make bench`: `cargo bench -p switchboard --bench polyglot`)\n\n{table}"
            ),
        )
        .expect("write");
    }
}
