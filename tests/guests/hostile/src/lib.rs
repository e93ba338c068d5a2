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
//! | `udp` | creates a UDP socket (`wasi:sockets`) | plugin error `denied: …` |
//! | `dns` | resolves `localhost` (`wasi:sockets/ip-name-lookup`) | plugin error `denied: …` |
//! | `args` | reads its arguments and initial directory (`wasi:cli/environment`) | plugin error `denied: …` |
//! | `stdin` | reads stdin, looks for a terminal (`wasi:cli`) | plugin error `denied: …` |
//! | `stdout` | writes 64 KiB to stdout and to stderr, then answers | decision (the bytes go nowhere) |
//! | `exit` | calls `exit(3)` (`wasi:cli/exit`) | trap |
//!
//! With `misbehave_on = "CallConnected"` (or another event name) the guest behaves
//! until that event (answers the incoming call, does nothing else), then misbehaves:
//! how the fallback of a connected call is tested.

use std::hint::black_box;

use wasip2::sockets;

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
            "udp" => Err(probe_result(
                "udp",
                sockets::udp_create_socket::create_udp_socket(
                    sockets::network::IpAddressFamily::Ipv4,
                )
                .map(|_| "a UDP socket".to_owned())
                .map_err(|e| format!("{e:?}")),
            )),
            "dns" => Err(probe_result("dns", resolve("localhost"))),
            "args" => {
                let args = wasip2::cli::environment::get_arguments();
                let cwd = wasip2::cli::environment::initial_cwd();
                Err(probe_result(
                    "args",
                    if args.is_empty() && cwd.is_none() {
                        Err("no arguments, no initial directory".into())
                    } else {
                        Ok(format!("{args:?} in {cwd:?}"))
                    },
                ))
            }
            "stdin" => {
                let read = wasip2::cli::stdin::get_stdin().blocking_read(1024);
                let terminal = wasip2::cli::terminal_stdin::get_terminal_stdin().is_some();
                Err(probe_result(
                    "stdin",
                    match read {
                        Ok(bytes) if !bytes.is_empty() || terminal => {
                            Ok(format!("{} bytes, terminal {terminal}", bytes.len()))
                        }
                        Ok(_) => Err("empty".into()),
                        Err(e) => Err(format!("{e:?}")),
                    },
                ))
            }
            "stdout" => {
                use std::io::Write as _;
                let block = vec![b'z'; 64 << 10];
                let _ = std::io::stdout().write_all(&block);
                let _ = std::io::stderr().write_all(&block);
                Ok(vec![act::answer()])
            }
            "exit" => std::process::exit(3),
            "residue" => Err(probe_result("residue", Ok(residue()))),
            other => Err(PluginError {
                code: "mode".into(),
                message: format!("unknown mode {other}"),
            }),
        }
    }
}

/// Reports what a probe of the sandbox saw: `granted: …` would be a sandbox hole.
/// What earlier handlers in this instance left behind: a counter, and 1 MiB of
/// scratch memory (zero in the image) of which this handler then writes one byte
/// every 8 KiB, in 128 scattered pages. A fresh instance must see `calls=1 dirty=0`,
/// however many instances used its memory slot before.
fn residue() -> String {
    use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
    static CALLS: AtomicU32 = AtomicU32::new(0);
    static SCRATCH: [AtomicU8; 1 << 20] = [const { AtomicU8::new(0) }; 1 << 20];
    let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    let dirty = SCRATCH
        .iter()
        .filter(|b| b.load(Ordering::Relaxed) != 0)
        .count();
    for byte in SCRATCH.iter().step_by(8192) {
        byte.store(0xAA, Ordering::Relaxed);
    }
    format!("calls={calls} dirty={dirty}")
}

fn probe_result(what: &str, result: Result<String, String>) -> PluginError {
    PluginError {
        code: what.into(),
        message: match result {
            Ok(value) => format!("granted: {value}"),
            Err(error) => format!("denied: {error}"),
        },
    }
}

/// Every address `name` resolves to, through WASI directly (the standard library has
/// no name lookup on this target).
fn resolve(name: &str) -> Result<String, String> {
    let network = sockets::instance_network::instance_network();
    let stream =
        sockets::ip_name_lookup::resolve_addresses(&network, name).map_err(|e| format!("{e:?}"))?;
    let mut found = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(address)) => found.push(format!("{address:?}")),
            Ok(None) if found.is_empty() => return Err("no address".into()),
            Ok(None) => return Ok(found.join(", ")),
            Err(sockets::network::ErrorCode::WouldBlock) => stream.subscribe().block(),
            Err(e) => return Err(format!("{e:?}")),
        }
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
