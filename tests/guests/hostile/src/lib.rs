//! A hostile (and, in mode `ok`, well-behaved) test guest. The tenant config key
//! `mode` picks the misbehaviour, so each limit is tested with one small component:
//!
//! | mode | does | expected outcome |
//! |---|---|---|
//! | `ok` | answers | decision |
//! | `loop` | spins forever | deadline exceeded |
//! | `sleep` | sleeps an hour (waits in WASI, runs no Wasm) | deadline exceeded |
//! | `memory` | allocates 1 MiB blocks forever | memory limit |
//! | `stack` | recurses without end | trap |
//! | `panic` | panics | trap |
//! | `error` | returns a plugin error | plugin error |
//! | `actions` | returns 10,000 actions | invalid output (too many actions) |
//! | `output` | returns 8 actions of 64 KiB text | invalid output (too large) |
//! | `state` | returns 100 KiB of state (≈200 KiB as JSON) | invalid output (state too large) |
//! | `logs` | logs 1,000 lines of 100 bytes per event; answers, then terminates | decision, logs truncated |
//! | `env` | reads `PATH` (set in every host process) | plugin error `denied: …` |
//! | `file` | reads `/etc/passwd` and lists `/` | plugin error `denied: …` |
//! | `socket` | connects to 127.0.0.1:5432 | plugin error `denied: …` |
//!
//! With `misbehave_on = "CallConnected"` (or another event name) the guest behaves
//! until that event (answers the incoming call, does nothing else), then misbehaves:
//! how the fallback of a connected call is tested.

use std::hint::black_box;

use switchboard_sdk::{
    ActionRequest, Context, Event, PluginError, Policy, act, export_policy, log,
};

#[derive(Debug)]
pub struct Hostile;

impl Policy for Hostile {
    type State = Vec<u8>;

    fn handle(
        event: Event,
        ctx: &Context,
        state: &mut Vec<u8>,
    ) -> Result<Vec<ActionRequest>, PluginError> {
        let mode = match ctx.config("misbehave_on") {
            Some(on) if on != name(&event) => "ok",
            _ => ctx.config("mode").unwrap_or("ok"),
        };
        match mode {
            "ok" if matches!(event, Event::IncomingCall(_)) => Ok(vec![act::answer()]),
            "ok" if ctx.config("misbehave_on").is_some() => Ok(vec![]),
            "ok" => Ok(vec![act::answer()]),
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(vec![act::answer()])
            }
            "memory" => {
                let mut blocks = Vec::new();
                loop {
                    blocks.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "stack" => Ok(vec![act::play(act::text(
                recurse(black_box(0)).to_string(),
            ))]),
            "panic" => panic!("hostile guest panics on purpose"),
            "error" => Err(probe_result("error", Err("the policy refuses".into()))),
            "actions" => Ok((0..10_000).map(|_| act::hang_up()).collect()),
            "output" => Ok((0..8)
                .map(|_| act::play(act::text("x".repeat(64 << 10))))
                .collect()),
            "state" => {
                *state = vec![7u8; 100 << 10];
                Ok(vec![act::answer()])
            }
            "logs" => {
                for i in 0..1_000 {
                    log::info(&format!("{i:04} {}", "y".repeat(95)));
                }
                // Otherwise a well-formed call: answered, then ended.
                Ok(match event {
                    Event::IncomingCall(_) => vec![act::answer()],
                    Event::CallConnected(_) => vec![act::terminate()],
                    _ => vec![],
                })
            }
            "env" => Err(probe_result(
                "env",
                std::env::var("PATH").map_err(|e| e.to_string()),
            )),
            "file" => Err(probe_result(
                "file",
                std::fs::read_to_string("/etc/passwd")
                    .and_then(|_| std::fs::read_dir("/").map(|d| d.count().to_string()))
                    .map_err(|e| e.to_string()),
            )),
            "socket" => Err(probe_result(
                "socket",
                std::net::TcpStream::connect("127.0.0.1:5432")
                    .map(|s| format!("{:?}", s.peer_addr()))
                    .map_err(|e| e.to_string()),
            )),
            other => Err(PluginError {
                code: "mode".into(),
                message: format!("unknown mode {other}"),
            }),
        }
    }
}

/// Reports what a probe of the sandbox saw: `granted: …` would be a sandbox hole.
fn probe_result(what: &str, result: Result<String, String>) -> PluginError {
    PluginError {
        code: what.into(),
        message: match result {
            Ok(value) => format!("granted: {value}"),
            Err(error) => format!("denied: {error}"),
        },
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let buf = black_box([depth; 64]);
    recurse(black_box(depth + 1)).wrapping_add(buf[(depth % 64) as usize])
}

export_policy!(Hostile);

/// The service's name of the events `misbehave_on` may name.
fn name(event: &Event) -> &'static str {
    match event {
        Event::IncomingCall(_) => "IncomingCall",
        Event::CallConnected(_) => "CallConnected",
        Event::ParticipantsUpdated(_) => "ParticipantsUpdated",
        Event::PlayCompleted(_) => "PlayCompleted",
        Event::RecognizeCompleted(_) => "RecognizeCompleted",
        Event::RecognizeFailed(_) => "RecognizeFailed",
        Event::CallDisconnected(_) => "CallDisconnected",
        _ => "other",
    }
}
