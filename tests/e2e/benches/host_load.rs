//! `cargo bench -p switchboard-e2e --bench host_load`: the host under the simulator's
//! load generator, with the Rust IVR plugin.
//!
//! The simulator and the host run in this one process but on separate tokio runtimes
//! (threads named `sim-…` and `host-…`), so the heap each uses is counted apart: a
//! block counts for the host from its allocation on a host thread to its free, on
//! whichever thread that happens (the store's worker threads free what the host hands
//! them).
//!
//! 1. Latency: `ivr.md` scripts placed at a rate that keeps ~200 calls live; the host's
//!    overhead per event (callback received → its first REST request sent, plugin
//!    included) from the host's own `switchboard_event_overhead_seconds` histogram.
//! 2. Throughput: calls placed faster than both can take them; events handled per
//!    second by the host (simulator on the same two cores).
//! 3. Memory: 200 calls live at once (in real time, each caller silent in the menu);
//!    host heap per active call.
//!
//! The host keeps calls in memory (`durable_calls = false`): this measures the host's
//! own work per event; what saving every step costs is the `replicas` bench's table.
//!
//! `MEM_ONLY=1` shrinks the load runs to a few calls, to iterate on the memory figure.
//!
//! Prints a Markdown table; with `BENCH_OUT=dir` also writes it to `dir/host.md`.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use switchboard::server::App;
use switchboard_e2e::{StackBuilder, ivr_script};
use switchboard_sim::load::{LoadPlan, LoadReport};
use switchboard_sim::script::Caller;
use switchboard_sim::{Listen, SimConfig};

// ---- heap counted per side -------------------------------------------------------

thread_local! {
    static HOST_THREAD: Cell<bool> = const { Cell::new(false) };
}
/// Bytes allocated on a host thread and not yet freed, on whatever thread the free
/// happens: the host hands records to the store's worker threads (sqlx's SQLite
/// connection threads), which free them; counting by the freeing thread would read
/// those as kept.
static HOST_HEAP: AtomicIsize = AtomicIsize::new(0);

/// Every block carries a header in front of it saying whether a host thread allocated
/// it. The header is as large as the block's alignment (at least 16 bytes), so the
/// block stays aligned; the tag is its last word.
struct Counting;

const HOST_TAG: usize = 0x5B_0A_2D_01;

fn header(layout: Layout) -> usize {
    layout.align().max(16)
}

/// The block's layout with its header; `None` past what a layout can describe (the
/// allocation then fails, as it would have without the header).
fn with_header(layout: Layout, size: usize) -> Option<Layout> {
    let size = size.checked_add(header(layout))?;
    Layout::from_size_align(size, layout.align()).ok()
}

fn on_host_thread() -> bool {
    HOST_THREAD.try_with(Cell::get).unwrap_or(false)
}

#[allow(unsafe_code)]
// SAFETY: every block is allocated by mimalloc (the `switchboard` binary's allocator)
// with `header(layout)` bytes in front; the pointer handed out is past the header, so
// it keeps the requested alignment, and every free, realloc and tag read goes back to
// the block's start with the same layout the caller passes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(block) = with_header(layout, layout.size()) else {
            return std::ptr::null_mut();
        };
        // SAFETY: `block` has a non-zero size (the header).
        let base = unsafe { mimalloc::MiMalloc.alloc(block) };
        if base.is_null() {
            return base;
        }
        let host = on_host_thread();
        if host {
            HOST_HEAP.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: the header lies inside the block and its last word is aligned.
        unsafe {
            let user = base.add(header(layout));
            user.cast::<usize>()
                .sub(1)
                .write(if host { HOST_TAG } else { 0 });
            user
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe {
            if ptr.cast::<usize>().sub(1).read() == HOST_TAG {
                HOST_HEAP.fetch_sub(layout.size() as isize, Ordering::Relaxed);
            }
            let block = with_header(layout, layout.size()).expect("allocated with it");
            mimalloc::MiMalloc.dealloc(ptr.sub(header(layout)), block);
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (Some(block), Some(new_block)) = (
            with_header(layout, layout.size()),
            with_header(layout, new_size),
        ) else {
            return std::ptr::null_mut();
        };
        // SAFETY: as in `dealloc`; mimalloc's realloc copies the header with the data.
        unsafe {
            let host = ptr.cast::<usize>().sub(1).read() == HOST_TAG;
            let base = mimalloc::MiMalloc.realloc(ptr.sub(header(layout)), block, new_block.size());
            if base.is_null() {
                return base;
            }
            if host {
                HOST_HEAP.fetch_add(
                    new_size as isize - layout.size() as isize,
                    Ordering::Relaxed,
                );
            }
            base.add(header(layout))
        }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ---- the host's metrics, captured ------------------------------------------------

/// Records the two metrics the benchmark reads; ignores the rest.
#[derive(Default)]
struct Capture {
    overhead_us: Mutex<Option<Histogram<u64>>>,
    plugin_us: Mutex<Option<Histogram<u64>>>,
    events: AtomicU64,
}

/// Records seconds as µs into one of the capture's histograms.
struct MicrosFn(Arc<Capture>, fn(&Capture) -> &Mutex<Option<Histogram<u64>>>);
impl metrics::HistogramFn for MicrosFn {
    fn record(&self, seconds: f64) {
        let mut h = (self.1)(&self.0).lock().expect("histogram");
        if let Some(h) = h.as_mut() {
            h.saturating_record((seconds * 1e6).round() as u64);
        }
    }
}

struct EventsFn(Arc<Capture>);
impl metrics::CounterFn for EventsFn {
    fn increment(&self, value: u64) {
        self.0.events.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, _value: u64) {}
}

struct Recorder(Arc<Capture>);
impl metrics::Recorder for Recorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        if key.name() == switchboard::metrics::EVENTS {
            metrics::Counter::from_arc(Arc::new(EventsFn(Arc::clone(&self.0))))
        } else {
            metrics::Counter::noop()
        }
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        let histogram: fn(&Capture) -> &Mutex<Option<Histogram<u64>>> = match key.name() {
            switchboard::metrics::EVENT_OVERHEAD_SECONDS => |c| &c.overhead_us,
            switchboard::metrics::INVOCATION_SECONDS => |c| &c.plugin_us,
            _ => return metrics::Histogram::noop(),
        };
        metrics::Histogram::from_arc(Arc::new(MicrosFn(Arc::clone(&self.0), histogram)))
    }
}

impl Capture {
    fn reset(&self) {
        for h in [&self.overhead_us, &self.plugin_us] {
            *h.lock().expect("histogram") =
                Some(Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"));
        }
        self.events.store(0, Ordering::Relaxed);
    }
    fn taken(h: &Mutex<Option<Histogram<u64>>>) -> Histogram<u64> {
        h.lock().expect("histogram").clone().expect("reset first")
    }
}

// ---- the stack on two runtimes ---------------------------------------------------

struct Bench {
    sim_rt: tokio::runtime::Runtime,
    /// Kept alive: the host serves on it.
    _host_rt: tokio::runtime::Runtime,
    sim: switchboard_sim::Running,
    host: std::net::SocketAddr,
    executor: switchboard::executor::Executor,
    _dir: tempfile::TempDir,
}

fn start(time_scale: f64) -> Bench {
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sim")
        .enable_all()
        .build()
        .expect("sim runtime");
    let host_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("host")
        .on_thread_start(|| HOST_THREAD.with(|h| h.set(true)))
        .enable_all()
        .build()
        .expect("host runtime");
    let mut builder = StackBuilder::ivr()
        .expect("ivr tenant")
        .host_toml("[store]\ndurable_calls = false");
    builder.sim = SimConfig {
        time_scale,
        ..SimConfig::default()
    };
    let sim = sim_rt
        .block_on(switchboard_sim::start(
            builder.sim.clone(),
            Listen::default(),
        ))
        .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = builder.settings(&sim, dir.path()).expect("settings");
    let (host, executor) = host_rt.block_on(async {
        let app = App::build(settings).await.expect("host");
        let addr = app.local_addr().expect("addr");
        let executor = app.executor().clone();
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        (addr, executor)
    });
    let sim_url = sim.http_url();
    sim_rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{sim_url}/sim/subscriptions"))
            .json(&json!({"endpoint": format!("http://{host}/eventgrid")}))
            .send()
            .await
            .expect("subscribe")
            .error_for_status()
            .expect("subscribed");
    });
    Bench {
        sim_rt,
        _host_rt: host_rt,
        sim,
        host,
        executor,
        _dir: dir,
    }
}

impl Bench {
    fn load(&self, calls: usize, rate: f64) -> (LoadReport, f64) {
        let mix = ["press-2-then-3", "silent", "press-1", "agent-busy"]
            .map(|name| ivr_script(name).expect("script"))
            .to_vec();
        let plan = LoadPlan {
            calls,
            rate,
            mix,
            timeout: Duration::from_secs(300),
        };
        let started = Instant::now();
        let report = self
            .sim_rt
            .block_on(switchboard_sim::load::run(&self.sim.sim, &plan))
            .expect("load");
        (report, started.elapsed().as_secs_f64())
    }
}

/// A caller who stays silent in the menu: at real time, a call that waits seconds.
fn held_caller(i: usize) -> Caller {
    let mut caller = ivr_script("silent").expect("silent");
    caller.from = format!("+1888{i:07}");
    caller
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    // `MEM_ONLY=1`: the load runs shrink to a few calls, to iterate on the memory figure.
    let small = quick || std::env::var_os("MEM_ONLY").is_some();
    let capture = Arc::new(Capture::default());
    metrics::set_global_recorder(Recorder(Arc::clone(&capture))).expect("first recorder");

    // 1. Latency with ~200 live calls. A call lasts ~1.5 s at ×10; 150 calls/s.
    let bench = start(10.0);
    let (calls, rate) = if small { (20, 20.0) } else { (3000, 150.0) };
    capture.reset();
    let (latency, _) = bench.load(calls, rate);
    let overhead = Capture::taken(&capture.overhead_us);
    let plugin = Capture::taken(&capture.plugin_us);
    println!("latency run: {}", latency.text());
    assert_eq!(latency.failed, 0, "calls failed: {latency:?}");

    // 2. Throughput: more calls than both sides can take, ×50 so calls are short.
    drop(bench);
    let bench = start(50.0);
    let (calls, rate) = if small { (20, 50.0) } else { (3000, 1000.0) };
    capture.reset();
    let (throughput, seconds) = bench.load(calls, rate);
    let events = capture.events.load(Ordering::Relaxed);
    let events_per_second = events as f64 / seconds;
    println!("throughput run: {}", throughput.text());
    assert_eq!(throughput.failed, 0, "calls failed: {throughput:?}");

    // 3. Memory per live call, in real time so calls stay.
    drop(bench);
    let bench = start(1.0);
    let held = if quick { 10 } else { 200 };
    let sim_url = bench.sim.http_url();
    let http = reqwest::Client::new();
    let before = settle(&bench);
    let mut ids = Vec::new();
    bench.sim_rt.block_on(async {
        for i in 0..held {
            let placed: serde_json::Value = http
                .post(format!("{sim_url}/sim/calls"))
                .json(&json!({"caller": held_caller(i)}))
                .send()
                .await
                .expect("place")
                .json()
                .await
                .expect("json");
            ids.push(placed["serverCallId"].as_str().expect("id").to_owned());
        }
    });
    // Every call answered and in the menu: nothing happens on them for seconds.
    // A silent caller hangs up after three 5 s timeouts: calls not all in the menu
    // by then never will be.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let active = bench.executor.active_calls();
        let menu = bench.sim_rt.block_on(in_menu(&http, &sim_url, &ids));
        if active >= held && menu >= held {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "held calls did not settle: {active} of {held} live on the host, {menu} in the menu"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let during = settle(&bench);
    let per_call = (during - before) as f64 / held as f64;
    bench.sim_rt.block_on(async {
        for id in &ids {
            let _ = http
                .post(format!("{sim_url}/sim/calls/{id}/hangup"))
                .send()
                .await;
        }
    });

    let us = |q: f64| overhead.value_at_quantile(q) as f64;
    let table = format!(
        "| measure | value | goal |\n|---|---|---|\n\
         | host overhead per event, p50 (callback received → first REST request sent) | {:.0} µs | ≤ 150 µs |\n\
         | host overhead per event, p99 | {:.0} µs | ≤ 1,000 µs |\n\
         | host overhead per event, max | {:.0} µs | |\n\
         | of which the plugin (fresh instance + call), p50 / p99 | {:.0} / {:.0} µs | |\n\
         | events with a REST request, measured | {} | |\n\
         | peak concurrent calls (latency run) | {} | 200 |\n\
         | simulator: event sent → next request, p50 / p99 | {:.2} / {:.2} ms | |\n\
         | calls passed (latency run, throughput run) | {}/{}, {}/{} | all |\n\
         | events handled per second (simulator on the same 2 cores) | {:.0} | ≥ 3,000 |\n\
         | host heap per active call ({held} held) | {:.1} KiB | ≤ 16 KiB |\n",
        us(0.50),
        us(0.99),
        overhead.max() as f64,
        plugin.value_at_quantile(0.5) as f64,
        plugin.value_at_quantile(0.99) as f64,
        overhead.len(),
        latency.peak_concurrent_calls,
        latency.event_to_request.p50_ms,
        latency.event_to_request.p99_ms,
        latency.passed,
        latency.placed,
        throughput.passed,
        throughput.placed,
        events_per_second,
        per_call / 1024.0,
    );
    println!("{table}");
    if let (false, Some(dir)) = (
        quick,
        std::env::var_os("BENCH_OUT").filter(|d| !d.is_empty()),
    ) {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("BENCH_OUT");
        let text = format!(
            "### Host under load (`make bench`: `cargo bench -p switchboard-e2e --bench host_load`; calls in memory: `durable_calls = false`)\n\n{table}"
        );
        std::fs::write(dir.join("host.md"), text).expect("write");
    }
}

/// The host's heap once it has been quiet for a moment.
fn settle(bench: &Bench) -> isize {
    std::thread::sleep(Duration::from_millis(300));
    let _ = &bench.host;
    HOST_HEAP.load(Ordering::Relaxed)
}

/// How many of the calls the simulator shows waiting in the menu.
async fn in_menu(http: &reqwest::Client, sim_url: &str, ids: &[String]) -> usize {
    let mut n = 0;
    for id in ids {
        let call: serde_json::Value = http
            .get(format!("{sim_url}/sim/calls/{id}"))
            .send()
            .await
            .expect("call")
            .json()
            .await
            .expect("json");
        let timeline = call["timeline"].as_array().cloned().unwrap_or_default();
        if timeline
            .iter()
            .any(|e| e["kind"] == "request" && e["name"] == "Recognize")
        {
            n += 1;
        }
    }
    n
}
