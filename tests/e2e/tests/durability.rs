//! Calls outlive their host. A host killed with `kill -9` mid-call and started again
//! continues its calls from the store (SQLite): every call ends as its script expects
//! and no operation takes effect twice. Three replicas on one PostgreSQL, callbacks
//! spread over all of them: each event is handled once, in the order sent; and when
//! one of three replica processes is killed under load, the other two carry its
//! calls to their end.
//!
//! `SWITCHBOARD_KILL_CALLS_PER_SCRIPT` (default 2) sets the load of the kill tests:
//! calls placed per `ivr.md` script, all at once (`make reliability` places 10).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use switchboard::store::scratch::{LOCAL_POSTGRES, ScratchSchema};
use switchboard_e2e::{HostProcess, SimClient, StackBuilder, ivr_scripts};

/// A port nobody listens on now (the restarted host must come back at the address the
/// service has in its callback URIs).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Calls the simulator knows, and how many of them ended.
async fn progress(sim: &SimClient) -> (usize, usize, usize) {
    let report = sim.sim_get("report").await.expect("report");
    let calls = report["calls"].as_array().cloned().unwrap_or_default();
    let ended = calls.iter().filter(|c| c["ended"] == true).count();
    let answered = calls
        .iter()
        .filter(|c| {
            c["made"]
                .as_array()
                .is_some_and(|m| m.iter().any(|op| op == "AnswerCall"))
        })
        .count();
    (calls.len(), answered, ended)
}

fn assert_all_pass(report: &Value) {
    for call in report["calls"].as_array().expect("calls") {
        assert_eq!(
            call["pass"], true,
            "{} did not end as its script expects (or an operation took effect twice): {call:#}",
            call["script"]
        );
    }
}

/// After a `kill -9`: every call ended, and each operation that carries a
/// repeatability id (answer, transfer, terminate…) took effect exactly as the script
/// expects. A Play or Recognize caught in flight by the kill takes no repeatability
/// id: the restarted host cannot know whether the service got it, so it waits for its
/// completion, and if none comes the policy hears its outcome is unknown (the
/// reference IVR offers the menu again). Media operations are counted apart: any
/// that ran again is reported, and nothing else may differ from the script.
async fn assert_all_pass_after_kill(sim: &SimClient, report: &Value) -> usize {
    const MEDIA: [&str; 2] = ["Recognize", "Play"];
    let mut media_again = 0;
    let without_media = |ops: &Value| -> Vec<String> {
        ops.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|op| !MEDIA.contains(op))
            .map(str::to_owned)
            .collect()
    };
    for call in report["calls"].as_array().expect("calls") {
        if call["pass"] == true {
            continue;
        }
        if call["ended"] != true || without_media(&call["made"]) != without_media(&call["expected"])
        {
            print_timeline(sim, call).await;
            panic!(
                "{} did not end as its script expects (or an operation took effect twice): {call:#}",
                call["script"]
            );
        }
        eprintln!(
            "{}: a media operation caught in flight by the kill ran again: {}",
            call["script"], call["made"]
        );
        media_again += 1;
    }
    media_again
}

/// One row of RELIABILITY.md §3 (`RELIABILITY_OUT=dir`: written to `dir/NAME.md`).
fn report_kill(
    name: &str,
    what: &str,
    total: usize,
    in_flight: usize,
    held: f64,
    media_again: usize,
    resumed: f64,
) {
    let row = format!(
        "| {what} | {total} | {in_flight} | {held} | {total} | 0 | {media_again} | {resumed} |\n"
    );
    eprintln!("{row}");
    if let Ok(dir) = std::env::var("RELIABILITY_OUT") {
        std::fs::create_dir_all(&dir).expect("RELIABILITY_OUT");
        std::fs::write(format!("{dir}/{name}.md"), row).expect("write");
    }
}

/// Places every `ivr.md` script `SWITCHBOARD_KILL_CALLS_PER_SCRIPT` times; the calls.
async fn place_load(sim: &SimClient) -> usize {
    let per_script: usize = std::env::var("SWITCHBOARD_KILL_CALLS_PER_SCRIPT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2);
    let scripts = ivr_scripts().expect("scripts");
    for _ in 0..per_script {
        for caller in &scripts {
            sim.place(caller).await.expect("place");
        }
    }
    scripts.len() * per_script
}

/// Waits until half the calls are answered while most are still in progress (the
/// scripts must be slow enough for that).
async fn wait_until_half_answered(sim: &SimClient, total: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, answered, ended) = progress(sim).await;
        assert!(
            ended < total / 2,
            "{ended} of {total} calls ended before the kill: slow the scripts down"
        );
        if answered >= total / 2 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "calls were not answered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The timelines of the calls that have not ended (why a kill test timed out).
async fn print_unended(sim: &SimClient) {
    let report = sim.sim_get("report").await.expect("report");
    for call in report["calls"].as_array().into_iter().flatten() {
        if call["ended"] == true {
            continue;
        }
        print_timeline(sim, call).await;
    }
}

/// What the service saw of a call of the report, on stderr.
async fn print_timeline(sim: &SimClient, call: &Value) {
    let id = call["serverCallId"].as_str().unwrap_or_default();
    eprintln!("call {id} ({}), ended: {}:", call["script"], call["ended"]);
    for entry in sim.timeline(id).await.unwrap_or_default() {
        eprintln!("  {entry}");
    }
}

/// A play or recognize caught in flight by a kill is awaited; if the service never
/// got it, the policy hears its outcome is unknown after this (at simulated time ×10
/// the longest media operation of `ivr.md` takes under 2 s; the default is 5 min).
const IN_FLIGHT_WAIT: &str = "completion_timeout_ms = 5000";

/// The IVR stack for these tests. The plugin gets 250 ms rather than 20: a debug
/// build of three hosts, PostgreSQL and the simulator on two cores, with a restart's
/// cold instances, can take more than 20 ms for an IncomingCall, and a fallback
/// (reject) there is not what these tests are about.
fn loaded_ivr() -> StackBuilder {
    StackBuilder::ivr().expect("ivr").deadline_ms(250)
}

/// A PostgreSQL schema of its own, or `None` (the reason printed: the test is skipped)
/// where no server answers.
async fn scratch_schema(prefix: &str) -> Option<ScratchSchema> {
    match ScratchSchema::create(LOCAL_POSTGRES, prefix).await {
        Ok(schema) => Some(schema),
        Err(e) => {
            eprintln!("SKIPPED: no PostgreSQL at {LOCAL_POSTGRES}: {e}");
            None
        }
    }
}

/// A metric's value (summed over its labels) in a host's `/metrics`.
async fn counter(host: &HostProcess, name: &str) -> f64 {
    switchboard_e2e::metric_sum(&host.metrics().await.expect("metrics"), name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_three_replica_processes_killed_under_load_the_others_finish_its_calls() {
    let Some(schema) = scratch_schema("sb_kill").await else {
        return;
    };
    let mut builder = loaded_ivr();
    builder.sim.time_scale = 10.0;
    builder.sim.callback_attempts = 60;
    // A short lease: the survivors take the dead replica's calls within 1.5 s.
    let builder = builder.host_toml(&format!(
        "[server]\ncall_lease_ms = 1500\nshutdown_grace_seconds = 1\n{IN_FLIGHT_WAIT}\n[store]\nurl = \"{}\"",
        schema.url
    ));
    let exe = Path::new(env!("CARGO_BIN_EXE_e2e-host"));
    let mut stack = builder.spawn_replicas(3, exe).await.expect("replicas");
    let total = place_load(&stack).await;
    wait_until_half_answered(&stack, total).await;
    // Kill the replica holding the most calls (which one takes a call is a race).
    let mut taken = Vec::new();
    for replica in &stack.hosts {
        taken.push(counter(replica, "switchboard_active_calls").await);
    }
    let victim = (0..3)
        .max_by(|a, b| taken[*a].total_cmp(&taken[*b]))
        .expect("three");
    assert!(taken[victim] >= 1.0, "no replica holds a call: {taken:?}");
    let killed = stack.hosts.remove(victim);
    killed.kill().await.expect("kill -9");
    let (_, _, ended) = progress(&stack).await;

    let report = match stack.report_when_ended(total).await {
        Ok(report) => report,
        Err(e) => {
            print_unended(&stack).await;
            panic!("{e:#}");
        }
    };
    let media_again = assert_all_pass_after_kill(&stack, &report).await;
    let mut resumed = 0.0;
    for replica in &stack.hosts {
        resumed += counter(replica, "switchboard_calls_resumed_total").await;
    }
    assert!(
        resumed >= 1.0,
        "the surviving replicas took over none of the killed one's calls"
    );
    report_kill(
        "kill-replica",
        "`kill -9` of one of three replicas (PostgreSQL); the other two go on",
        total,
        total - ended,
        taken[victim],
        media_again,
        resumed,
    );
    stack.stop().await.expect("stop the replicas");
    schema.drop().await.expect("drop schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_mid_call_and_started_again_finishes_every_call_once() {
    let mut builder = loaded_ivr();
    // Calls last seconds, and the service keeps redelivering while the host is down.
    builder.sim.time_scale = 10.0;
    builder.sim.callback_attempts = 60;
    let port = free_port();
    let builder = builder.host_toml(&format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nreplica = \"solo\"\nshutdown_grace_seconds = 1\n{IN_FLIGHT_WAIT}"
    ));
    let (sim, dir, _temp) = builder.start_sim().await.expect("simulator");
    let settings = dir.join("host.toml");
    std::fs::write(
        &settings,
        builder.settings_toml(&sim.sim, &dir).expect("settings"),
    )
    .expect("write settings");
    let exe = Path::new(env!("CARGO_BIN_EXE_e2e-host"));
    let host = HostProcess::spawn(exe, &settings).await.expect("host");
    sim.subscribe(host.addr).await.expect("subscribe");

    let total = place_load(&sim).await;
    // Kill it once most calls are answered and none has ended.
    wait_until_half_answered(&sim, total).await;
    host.kill().await.expect("kill -9");
    let (_, _, ended) = progress(&sim).await;
    assert!(ended < total, "every call had ended before the kill");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let host = HostProcess::spawn(exe, &settings)
        .await
        .expect("host again");
    let report = sim.report_when_ended(total).await.expect("report");
    let media_again = assert_all_pass_after_kill(&sim, &report).await;
    let resumed = counter(&host, "switchboard_calls_resumed_total").await;
    assert!(resumed >= 1.0, "the restarted host continued no call");
    report_kill(
        "kill-host",
        "`kill -9` of the one host (SQLite), started again",
        total,
        total - ended,
        // Calls the host held: every call not ended.
        (total - ended) as f64,
        media_again,
        resumed,
    );
    host.kill().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_postgres_handle_each_event_once_in_order() {
    let Some(schema) = scratch_schema("sb_e2e").await else {
        return;
    };
    let stack = loaded_ivr()
        .host_toml(&format!("[store]\nurl = \"{}\"", schema.url))
        .start_replicas(3)
        .await
        .expect("three replicas");
    // Two more subscriptions: every IncomingCall reaches the replicas three times, and
    // one of them takes the call.
    for _ in 0..2 {
        stack.subscribe(stack.host).await.expect("subscribe");
    }
    let mut journals: Vec<_> = stack.hosts.iter().map(|h| h.executor.journal()).collect();
    let scripts = ivr_scripts().expect("scripts");
    let total = scripts.len() * 2;
    for caller in scripts.iter().chain(&scripts) {
        stack.place(caller).await.expect("place");
    }
    let report = stack.report_when_ended(total).await.expect("report");
    assert_all_pass(&report);

    // What each replica handled, by call. The last events were answered 200 by the
    // replica they reached, and may still be on their way to their owner: collect
    // until the journals have been quiet for half a second.
    let mut handled: HashMap<String, Vec<(u32, String)>> = HashMap::new();
    let mut handlers: HashMap<String, Vec<usize>> = HashMap::new();
    let mut quiet_polls = 0;
    while quiet_polls < 5 {
        let mut any = false;
        for (replica, journal) in journals.iter_mut().enumerate() {
            while let Ok(event) = journal.try_recv() {
                any = true;
                handled
                    .entry(event.server_call_id.clone())
                    .or_default()
                    .push((event.seq, event.event.clone()));
                handlers
                    .entry(event.server_call_id)
                    .or_default()
                    .push(replica);
            }
        }
        quiet_polls = if any { 0 } else { quiet_polls + 1 };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut receivers_seen = std::collections::BTreeSet::new();
    for call in report["calls"].as_array().expect("calls") {
        let id = call["serverCallId"].as_str().expect("id");
        let timeline = stack.timeline(id).await.expect("timeline");
        // Callbacks the service got a 200 for, in the order sent, and where they went.
        let delivered: Vec<String> = timeline
            .iter()
            .filter(|e| {
                e["kind"] == "delivery"
                    && e["detail"]["status"] == 200
                    && e["detail"]["url"]
                        .as_str()
                        .is_some_and(|u| u.contains("/callbacks/"))
            })
            .map(|e| {
                let url = e["detail"]["url"].as_str().unwrap_or_default();
                receivers_seen.insert(url.split("/callbacks").next().unwrap_or("").to_owned());
                e["name"].as_str().unwrap_or("?").to_owned()
            })
            .collect();
        let mut events = handled.remove(id).unwrap_or_default();
        events.sort();
        let seqs: Vec<u32> = events.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(
            seqs,
            (1..=u32::try_from(seqs.len()).expect("few")).collect::<Vec<_>>(),
            "call {id}: each event handled once, numbered without gaps"
        );
        let names: Vec<String> = events
            .into_iter()
            .map(|(_, name)| name)
            .filter(|name| name != "IncomingCall" && name != "ActionFailed")
            .collect();
        assert_eq!(
            names, delivered,
            "call {id}: the events handled, in the order the service sent them"
        );
    }
    assert_eq!(
        receivers_seen.len(),
        3,
        "callbacks were spread over the three replicas: {receivers_seen:?}"
    );
    // One replica handled each call (the others passed its events on), and calls went
    // to more than one replica (which one takes a call is a race between the copies
    // of its IncomingCall).
    let owners: std::collections::BTreeSet<usize> = handlers
        .values()
        .filter_map(|r| r.first().copied())
        .collect();
    assert!(owners.len() >= 2, "calls were owned by replicas {owners:?}");
    for (call, replicas) in &handlers {
        assert!(
            replicas.windows(2).all(|w| w[0] == w[1]),
            "call {call} was handled by several replicas: {replicas:?}"
        );
    }
    let mut stack = stack;
    for host in &mut stack.hosts {
        host.stop().await.expect("stop");
    }
    schema.drop().await.expect("drop schema");
}
