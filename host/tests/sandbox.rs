//! Hostile guests: each misbehaviour ends in its typed outcome within its limit, and a
//! well-behaved plugin invoked right after in the same runtime is unaffected.

mod support;

use std::time::Duration;

use switchboard::contract::{Action, ConfigEntry, Context, Event};
use switchboard::runtime::{
    InvalidOutput, Invocation, Limits, LoadError, Outcome, Plugin, Runtime, RuntimeConfig,
};
use switchboard::scenario;

fn with_mode(mode: &str) -> Context {
    let mut ctx = scenario::context();
    ctx.config.push(ConfigEntry {
        key: "mode".into(),
        value: mode.into(),
    });
    ctx
}

fn invoke(plugin: &Plugin, mode: &str, limits: &Limits) -> Invocation {
    plugin.invoke(&scenario::incoming_call(), &with_mode(mode), limits)
}

/// A runtime and the hostile guest loaded in it.
fn hostile() -> (Runtime, Plugin) {
    let runtime = support::runtime();
    let hostile = support::load(&runtime, "hostile_guest");
    (runtime, hostile)
}

fn assert_decided(run: &Invocation) {
    assert!(
        matches!(run.outcome, Outcome::Decision(_)),
        "{}",
        run.outcome
    );
}

/// After any hostile invocation, the reference plugin still decides correctly.
fn assert_good_plugin_unaffected(runtime: &Runtime) {
    let ivr = support::load(runtime, "switchboard_ivr");
    let run = ivr.invoke(
        &scenario::incoming_call(),
        &scenario::context(),
        &Limits::default(),
    );
    match run.outcome {
        Outcome::Decision(d) => assert_eq!(d.actions[0].action, Action::Answer),
        other => panic!("good plugin affected: {other}"),
    }
}

#[test]
fn infinite_loop_is_stopped_by_the_deadline() {
    let (runtime, hostile) = hostile();
    let limits = Limits::default();
    assert_stopped_at_deadline(&invoke(&hostile, "loop", &limits), &limits);
    assert_good_plugin_unaffected(&runtime);
}

/// Stopped by its deadline, not before it, and not long after.
fn assert_stopped_at_deadline(run: &Invocation, limits: &Limits) {
    assert_eq!(run.outcome, Outcome::DeadlineExceeded(limits.deadline()));
    assert!(
        run.elapsed >= limits.deadline(),
        "stopped early: {:?}",
        run.elapsed
    );
    // How promptly is a benchmark figure (BENCHMARKS.md); here: it does stop.
    assert!(
        run.elapsed < Duration::from_secs(2),
        "not stopped: {:?}",
        run.elapsed
    );
}

/// A guest that waits (in WASI, running no Wasm) is not reached by epoch
/// interruption; the host's `poll` ends the wait at the deadline instead.
fn assert_sleep_stopped(hostile: &Plugin, limits: &Limits) {
    assert_stopped_at_deadline(&invoke(hostile, "sleep", limits), limits);
}

#[test]
fn a_guest_that_sleeps_is_stopped_by_the_deadline() {
    let (runtime, hostile) = hostile();
    let limits = Limits {
        deadline_ms: 30,
        ..Limits::default()
    };
    assert_sleep_stopped(&hostile, &limits);
    // A session's next invocation gets its whole time again, and uses a new instance.
    let mut session = hostile.session(&limits);
    for _ in 0..2 {
        let run = session.invoke(&scenario::incoming_call(), &with_mode("sleep"));
        assert_eq!(run.outcome, Outcome::DeadlineExceeded(limits.deadline()));
        assert!(run.elapsed >= limits.deadline(), "{:?}", run.elapsed);
    }
    let run = session.invoke(&scenario::incoming_call(), &with_mode("ok"));
    assert_decided(&run);
    assert_good_plugin_unaffected(&runtime);
}

/// The executor invokes plugins from inside its Tokio runtime (`block_in_place` and
/// `spawn_blocking`); the bounded wait must work there too.
#[test]
fn a_sleeping_guest_is_stopped_inside_the_async_runtime() {
    let (_runtime, hostile) = hostile();
    let limits = Limits {
        deadline_ms: 30,
        ..Limits::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        tokio::task::block_in_place(|| assert_sleep_stopped(&hostile, &limits));
        let (plugin, l) = (hostile.clone(), limits);
        tokio::task::spawn_blocking(move || assert_sleep_stopped(&plugin, &l))
            .await
            .expect("blocking task");
    });
}

#[test]
fn a_shorter_deadline_is_honoured() {
    let (_runtime, hostile) = hostile();
    let limits = Limits {
        deadline_ms: 5,
        ..Limits::default()
    };
    let run = invoke(&hostile, "loop", &limits);
    assert_eq!(
        run.outcome,
        Outcome::DeadlineExceeded(Duration::from_millis(5))
    );
    assert!(run.elapsed >= Duration::from_millis(5), "{:?}", run.elapsed);
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let (runtime, hostile) = hostile();
    let limits = Limits {
        memory_bytes: 16 << 20,
        // Time enough to fault in 16 MiB on a cold, busy machine: the memory limit,
        // not the deadline, must stop it.
        deadline_ms: 2_000,
        ..Limits::default()
    };
    let run = invoke(&hostile, "memory", &limits);
    assert_eq!(
        run.outcome,
        Outcome::MemoryLimit {
            limit_bytes: 16 << 20
        }
    );
    assert!(run.peak_memory_bytes <= 16 << 20);
    assert!(
        run.peak_memory_bytes > 8 << 20,
        "bomb barely grew: {}",
        run.peak_memory_bytes
    );
    assert_good_plugin_unaffected(&runtime);
}

#[test]
fn stack_overflow_traps() {
    let (runtime, hostile) = hostile();
    let run = invoke(&hostile, "stack", &Limits::default());
    assert!(matches!(run.outcome, Outcome::Trap(_)), "{:?}", run.outcome);
    assert_good_plugin_unaffected(&runtime);
}

#[test]
fn panic_traps() {
    let (runtime, hostile) = hostile();
    let run = invoke(&hostile, "panic", &Limits::default());
    match &run.outcome {
        Outcome::Trap(reason) => assert!(reason.contains("unreachable"), "{reason}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_good_plugin_unaffected(&runtime);
}

#[test]
fn plugin_error_is_reported_as_such() {
    let (_runtime, hostile) = hostile();
    let run = invoke(&hostile, "error", &Limits::default());
    match run.outcome {
        Outcome::PluginError(e) => assert_eq!(e.code, "error"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn huge_action_list_is_invalid_output() {
    let (runtime, hostile) = hostile();
    let limits = Limits {
        // Time enough to make and lift 10,000 actions in a debug build on a busy
        // machine (a CI run once took over 20 ms): the action limit, not the
        // deadline, must stop it.
        deadline_ms: 2_000,
        ..Limits::default()
    };
    let run = invoke(&hostile, "actions", &limits);
    assert_eq!(
        run.outcome,
        Outcome::InvalidOutput(InvalidOutput::TooManyActions {
            count: 10_000,
            max: 64
        }),
        "after {:?}",
        run.elapsed
    );
    assert_good_plugin_unaffected(&runtime);
}

#[test]
fn oversized_actions_are_invalid_output() {
    let (_runtime, hostile) = hostile();
    let run = invoke(&hostile, "output", &Limits::default());
    match run.outcome {
        Outcome::InvalidOutput(InvalidOutput::OutputTooLarge { bytes, max }) => {
            assert_eq!(max, 256 << 10);
            assert!(bytes > 8 * (64 << 10), "{bytes}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversized_state_is_invalid_output() {
    let (runtime, hostile) = hostile();
    let run = invoke(&hostile, "state", &Limits::default());
    match run.outcome {
        Outcome::InvalidOutput(InvalidOutput::StateTooLarge { bytes, max }) => {
            assert_eq!(max, 64 << 10);
            assert!(bytes > 100 << 10, "{bytes}");
        }
        other => panic!("{other:?}"),
    }
    assert_good_plugin_unaffected(&runtime);
}

#[test]
fn log_flood_is_truncated_to_the_log_limit() {
    let (_runtime, hostile) = hostile();
    let run = invoke(&hostile, "logs", &Limits::default());
    assert_decided(&run);
    let kept: usize = run.logs.iter().map(|l| l.message.len()).sum();
    assert_eq!(kept, 4 << 10);
    assert_eq!(kept + run.dropped_log_bytes, 1_000 * 100);
}

/// The sandbox grants nothing: each probe must come back `denied`.
fn assert_denied(mode: &str) {
    let (_runtime, hostile) = hostile();
    let run = invoke(&hostile, mode, &Limits::default());
    match run.outcome {
        Outcome::PluginError(e) => {
            assert_eq!(e.code, mode);
            assert!(
                e.message.starts_with("denied: "),
                "sandbox hole: {}",
                e.message
            );
        }
        other => panic!("{other:?}"),
    }
}

/// An instance's memory is reset before its slot serves another: the pages it wrote
/// are copied back from the image (found by `PAGEMAP_SCAN` where the kernel has it).
/// A call's own instance keeps its memory between events, which shows the probe sees
/// what is left.
#[test]
fn nothing_an_instance_wrote_reaches_the_next_one() {
    let (_runtime, hostile) = hostile();
    let probe = |run: Invocation| match run.outcome {
        Outcome::PluginError(e) if e.code == "residue" => e.message,
        other => panic!("{other:?}"),
    };
    for _ in 0..20 {
        assert_eq!(
            probe(invoke(&hostile, "residue", &Limits::default())),
            "granted: calls=1 dirty=0"
        );
    }
    let mut session = hostile.session(&Limits::default());
    let ctx = with_mode("residue");
    let event = scenario::incoming_call();
    assert_eq!(
        probe(session.invoke(&event, &ctx)),
        "granted: calls=1 dirty=0"
    );
    assert_eq!(
        probe(session.invoke(&event, &ctx)),
        "granted: calls=2 dirty=128"
    );
}

#[test]
fn environment_is_not_visible() {
    // The guest reads PATH, which the host process has: it must not leak.
    assert!(std::env::var("PATH").is_ok());
    assert_denied("env");
}

#[test]
fn filesystem_is_not_reachable() {
    assert_denied("file");
}

#[test]
fn network_is_not_reachable() {
    // Listen on the port the guest tries, so only the sandbox can refuse it.
    let _listener = std::net::TcpListener::bind("127.0.0.1:5432");
    assert_denied("socket");
}

#[test]
fn udp_is_not_reachable() {
    assert_denied("udp");
}

#[test]
fn names_cannot_be_looked_up() {
    // `localhost` resolves on any host that looks it up.
    assert_denied("dns");
}

#[test]
fn there_are_no_arguments_and_no_initial_directory() {
    assert_denied("args");
}

#[test]
fn stdin_is_empty_and_there_is_no_terminal() {
    assert_denied("stdin");
}

#[test]
fn stdout_and_stderr_take_writes_and_keep_nothing() {
    let (_runtime, hostile) = hostile();
    let run = invoke(&hostile, "stdout", &Limits::default());
    assert_decided(&run);
    assert!(run.logs.is_empty(), "stdio reached the log: {:?}", run.logs);
}

#[test]
fn exit_ends_the_invocation_as_a_trap() {
    let (runtime, hostile) = hostile();
    let run = invoke(&hostile, "exit", &Limits::default());
    assert!(matches!(run.outcome, Outcome::Trap(_)), "{}", run.outcome);
    assert_good_plugin_unaffected(&runtime);
}

#[test]
fn fuel_limits_a_loop_when_metering_is_on() {
    let runtime = Runtime::new(RuntimeConfig {
        fuel_metering: true,
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let hostile = support::load(&runtime, "hostile_guest");
    let limits = Limits {
        fuel: Some(1_000_000),
        deadline_ms: 10_000,
        ..Limits::default()
    };
    let run = invoke(&hostile, "loop", &limits);
    assert_eq!(run.outcome, Outcome::OutOfFuel(1_000_000));
    // A good invocation reports the fuel it used.
    let ivr = support::load(&runtime, "switchboard_ivr");
    let run = ivr.invoke(&scenario::incoming_call(), &scenario::context(), &limits);
    assert!(matches!(run.outcome, Outcome::Decision(_)));
    let used = run.fuel_consumed.expect("metered");
    assert!(used > 0 && used < 1_000_000, "{used}");
}

#[test]
fn bad_components_are_refused_with_the_reason() {
    let runtime = support::runtime();
    let err = |bytes: &[u8]| runtime.load(bytes).expect_err("must refuse").to_string();
    assert!(err(b"hello").contains("not a WebAssembly component"));
    // A core module (the smallest valid one).
    assert!(err(b"\0asm\x01\0\0\0").contains("core module"));
    // A truncated component.
    let ivr = support::guest_bytes("switchboard_ivr");
    assert!(matches!(
        runtime.load(&ivr[..ivr.len() / 2]),
        Err(LoadError::Compile(_))
    ));
    // A component that is not a call policy: the empty component.
    assert!(matches!(
        runtime.load(b"\0asm\x0d\0\x01\0"),
        Err(LoadError::WrongWorld(_))
    ));
}

/// A test-sized runtime keeping what it compiles in `dir`.
fn cached_in(dir: &std::path::Path) -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    }
}

#[test]
fn warming_compiles_into_the_caches_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = cached_in(dir.path());
    let bytes = support::guest_bytes("switchboard_ivr");
    let runtime = Runtime::new(config.clone()).expect("runtime");
    let first = runtime.warm(&bytes).expect("warm");
    // (Some functions are read back even on a first compile: a component holds
    // identical bodies, such as adapters.)
    assert!(first.functions_compiled > 10, "{first:?}");
    // Warmed before (as at a restart): the artifact is read back, nothing compiled.
    let again = Runtime::new(config)
        .expect("runtime")
        .warm(&bytes)
        .expect("warm");
    assert_eq!(
        (again.functions_compiled, again.functions_read),
        (0, 0),
        "{again:?}"
    );
    // Nowhere to keep what it compiles: warming would be wasted work.
    let uncached = Runtime::new(RuntimeConfig {
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    assert!(matches!(uncached.warm(&bytes), Err(LoadError::NoCache)));
}

#[test]
fn precompiled_artifacts_are_cached_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = cached_in(dir.path());
    let bytes = support::guest_bytes("switchboard_ivr");
    let first = Runtime::new(config.clone()).expect("runtime");
    let plugin = first.load(&bytes).expect("load");
    let artifacts: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .filter(|name| name.to_string_lossy().ends_with(".cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 1);
    let name = artifacts[0].clone();
    assert!(name.to_string_lossy().starts_with(plugin.digest()));
    // Beside it, the functions it was compiled from: another upload of the same code
    // (another digest), even after a restart, compiles few of them again (nearly all
    // compile to the same code; some of wasmtime's glue is compiled apart).
    let kept = first.function_cache().expect("function cache").len();
    assert!(kept > 10, "{kept} functions kept");
    let restarted = Runtime::new(config.clone()).expect("runtime");
    let mut again = bytes.clone();
    again.extend_from_slice(&[0x00, 0x06, 0x05, b'a', b'g', b'a', b'i', b'n']);
    restarted.load(&again).expect("another version");
    let functions = restarted.function_cache().expect("function cache");
    let compiled = functions.len() - kept;
    assert!(
        functions.hits() >= kept as u64 && compiled * 5 < kept,
        "{} functions read back, {compiled} compiled again, of {kept}",
        functions.hits()
    );

    // A second runtime (a restart) loads the artifact; a corrupt one is replaced.
    let second = Runtime::new(config.clone()).expect("runtime");
    assert_eq!(
        second.load(&bytes).expect("cached load").digest(),
        plugin.digest()
    );
    let path = dir.path().join(&name);
    // Replace the file (as a crash mid-copy by another tool would), never rewrite it
    // in place: loaded artifacts are memory-mapped.
    let tmp = dir.path().join("corrupt.tmp");
    std::fs::write(&tmp, b"garbage").expect("corrupt");
    std::fs::rename(&tmp, &path).expect("rename");
    let third = Runtime::new(config).expect("runtime");
    let reloaded = third.load(&bytes).expect("recompiled");
    let run = reloaded.invoke(
        &scenario::incoming_call(),
        &scenario::context(),
        &Limits::default(),
    );
    assert!(matches!(run.outcome, Outcome::Decision(_)));
    assert!(std::fs::read(&path).expect("artifact").len() > 1000);
}

#[test]
fn events_reach_the_plugin_and_logs_come_back() {
    let runtime = support::runtime();
    let ivr = support::load(&runtime, "switchboard_ivr");
    let mut ctx = scenario::context();
    let run = ivr.invoke(
        &scenario::pressed(&[switchboard::contract::DtmfTone::Nine]),
        &ctx,
        &Limits::default(),
    );
    assert!(
        run.logs.iter().any(|l| l.message.contains("\"9\"")),
        "{:?}",
        run.logs
    );
    ctx.state = b"not json".to_vec();
    let run = ivr.invoke(
        &Event::CallConnected(scenario::info(None, 200, 0, "")),
        &ctx,
        &Limits::default(),
    );
    match run.outcome {
        Outcome::PluginError(e) => assert_eq!(e.code, "bad-state"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_session_reuses_one_instance_and_recovers_after_a_trap() {
    let (_runtime, hostile) = hostile();
    let mut session = hostile.session(&Limits::default());
    session.instantiate().expect("instantiate");
    for _ in 0..3 {
        let run = session.invoke(&scenario::incoming_call(), &with_mode("ok"));
        assert_decided(&run);
    }
    let run = session.invoke(&scenario::incoming_call(), &with_mode("loop"));
    assert!(matches!(run.outcome, Outcome::DeadlineExceeded(_)));
    // The deadline is re-armed for every invocation, and the trapped instance replaced.
    let run = session.invoke(&scenario::incoming_call(), &with_mode("ok"));
    assert_decided(&run);
    let run = session.invoke(&scenario::incoming_call(), &with_mode("logs"));
    assert_eq!(
        run.logs.iter().map(|l| l.message.len()).sum::<usize>(),
        4 << 10,
        "log budget per invocation"
    );
}
