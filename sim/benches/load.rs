//! `cargo bench -p switchboard-sim --bench load`: the simulator under load, with the
//! tiny IVR application of the tests as the application.
//!
//! 1. Calls: the `ivr.md` scripts placed at a steady rate until hundreds are live at
//!    once; every call must end as its script expects.
//! 2. REST throughput: concurrent clients issuing signed requests (get call, play,
//!    list participants) on live calls as fast as the simulator answers.
//! 3. Memory: resident memory per answered, idle call.
//!
//! `MEM_ONLY=1` shrinks the call load to a few calls, to iterate on the memory figure.
//!
//! Prints a Markdown table; with `BENCH_OUT=dir` also writes it to `dir/sim.md` (which
//! `make bench` splices into BENCHMARKS.md).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_sim::load::{LoadPlan, run};
use switchboard_sim::script::Scenario;

/// The system allocator, counting the bytes live on the heap.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (calls, rate) = if quick || std::env::var_os("MEM_ONLY").is_some() {
        (20, 40.0)
    } else {
        (1500, 150.0)
    };

    // 1. Calls through the IVR application.
    let sim = support::start_sim(2.0).await;
    let app = support::start_ivr_app(support::Client::new(&sim)).await;
    support::subscribe(&sim, json!({"endpoint": format!("{}/eventgrid", app.base)})).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ivr");
    let mut mix = Vec::new();
    for name in ["press-2-then-3", "silent", "press-1", "agent-busy"] {
        mix.extend(
            Scenario::load(&dir.join(format!("{name}.toml")))
                .expect("scenario")
                .callers,
        );
    }
    let plan = LoadPlan {
        calls,
        rate,
        mix,
        timeout: Duration::from_secs(120),
    };
    let report = run(&sim.sim, &plan).await.expect("load");
    println!("{}", report.text());
    assert!(report.failed == 0, "calls failed under load: {report:?}");
    drop(sim);

    // 2. REST throughput on live calls.
    let sim = support::start_sim(1.0).await;
    let client = support::Client::new(&sim);
    let live = if quick { 4 } else { 50 };
    let (recorder, _seen) = support::recorder().await;
    let mut ids = Vec::new();
    for _ in 0..live {
        let placed = support::ring(&sim).await;
        let (_, props) = client
            .post("/calling/callConnections:answer", &json!({"incomingCallContext": placed["incomingCallContext"], "callbackUri": format!("{recorder}/cb")}))
            .await;
        ids.push(props["callConnectionId"].as_str().expect("id").to_owned());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids = Arc::new(ids);
    let done = Arc::new(AtomicUsize::new(0));
    let window = Duration::from_secs(if quick { 1 } else { 5 });
    let started = Instant::now();
    let workers: Vec<_> = (0..32)
        .map(|w| {
            let (client, ids, done) = (client.clone(), Arc::clone(&ids), Arc::clone(&done));
            tokio::spawn(async move {
                let mut i = w;
                while started.elapsed() < window {
                    let id = &ids[i % ids.len()];
                    let cc = format!("/calling/callConnections/{id}");
                    let status = match i % 3 {
                        0 => client.send(reqwest::Method::GET, &cc, None).await.0,
                        1 => {
                            client
                                .send(reqwest::Method::GET, &format!("{cc}/participants"), None)
                                .await
                                .0
                        }
                        _ => client
                            .post(
                                &format!("{cc}:play"),
                                &json!({"playSources": [{"kind": "text", "text": {"text": "Hi"}}]}),
                            )
                            .await
                            .0,
                    };
                    assert!(status < 300, "status {status}");
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 32;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    let ops_per_second = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    drop(sim);

    // 3. Memory per idle call: callbacks go to a sink that keeps nothing, and one HTTP
    // client places every call, so the growth is the simulator's.
    let sim = support::start_sim(1.0).await;
    let client = support::Client::new(&sim);
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sink_url = format!("http://{}/cb", sink.local_addr().expect("addr"));
    tokio::spawn(async move {
        let router = axum::Router::new().fallback(|| async { axum::http::StatusCode::OK });
        axum::serve(sink, router).await.expect("sink");
    });
    let idle = if quick { 50 } else { 5000 };
    let http = reqwest::Client::new();
    let answer_one = || async {
        let placed: serde_json::Value = http
            .post(format!("{}/sim/calls", sim.http_url()))
            .json(&json!({"from": "+14255550123", "to": "+18005550100"}))
            .send()
            .await
            .expect("place")
            .json()
            .await
            .expect("json");
        let (status, _) = client
            .post("/calling/callConnections:answer", &json!({"incomingCallContext": placed["incomingCallContext"], "callbackUri": sink_url}))
            .await;
        assert_eq!(status, 200);
    };
    for _ in 0..100 {
        answer_one().await; // warm up allocators and pools
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (before, live_before) = (rss_bytes(), LIVE.load(Ordering::Relaxed));
    for _ in 0..idle {
        answer_one().await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let per_call = rss_bytes().saturating_sub(before) as f64 / idle as f64 / 1024.0;
    let heap_per_call =
        LIVE.load(Ordering::Relaxed).saturating_sub(live_before) as f64 / idle as f64 / 1024.0;

    let l = &report.event_to_request;
    let table = format!(
        "| measure | figure | goal |\n|---|---|---|\n\
         | IVR calls placed / ended as scripted | {} / {} (0 failed) | — |\n\
         | peak concurrent calls | {} | ≥ 500 |\n\
         | REST operations/s during the call load (IVR app in the same process) | {:.0} | — |\n\
         | event sent → app's next request (in-process app) | p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms | — |\n\
         | REST operations/s, 32 concurrent signed clients on {live} live calls | {ops_per_second:.0} | ≥ 2,000 |\n\
         | memory per idle answered call ({idle} calls): heap live / resident | {heap_per_call:.1} KiB / {per_call:.1} KiB | ≤ 20 KiB |\n",
        report.placed,
        report.passed,
        report.peak_concurrent_calls,
        report.operations_per_second,
        l.p50_ms,
        l.p95_ms,
        l.p99_ms,
        l.max_ms,
    );
    println!("\n{table}");
    if let (false, Some(dir)) = (
        quick,
        std::env::var_os("BENCH_OUT").filter(|d| !d.is_empty()),
    ) {
        std::fs::create_dir_all(&dir).expect("bench dir");
        std::fs::write(std::path::Path::new(&dir).join("sim.md"), &table).expect("write table");
    }
}
