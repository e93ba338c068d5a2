//! The epoch ticker: advances the engine's epoch, which plugin deadlines count in,
//! once per tick while plugins run, and sleeps once none has run for [`LINGER`]. An
//! idle host then does not wake a thousand times a second; deadlines are set relative
//! to the epoch when an invocation starts, so ticks skipped while idle shorten none.
//! Waking the parked thread costs the invocation that does it ~11–15 µs (a futex
//! wake and a context switch on a busy core, measured; RELIABILITY.md): lingering, a
//! host with an event every 100 ms or more often never pays it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::Duration;

use wasmtime::Engine;

/// How long the ticker keeps ticking after the last plugin ran.
const LINGER: Duration = Duration::from_millis(100);

/// Owned by the runtime and every plugin it loaded: the thread stops once the last of
/// them is gone (no plugin left to run, nothing left to interrupt).
pub(super) struct EpochTicker {
    shared: Arc<Shared>,
    thread: Thread,
    tick: Duration,
}

struct Shared {
    /// Invocations (and instantiations) running now.
    running: AtomicUsize,
    /// Set by each invocation, taken by the ticker: something ran since its last look
    /// (invocations shorter than a tick start and end between two looks).
    ran: AtomicBool,
    stopped: AtomicBool,
    /// Epochs advanced so far (for tests).
    ticks: AtomicU64,
}

impl EpochTicker {
    pub(super) fn spawn(engine: &Engine, tick: Duration) -> Arc<Self> {
        let shared = Arc::new(Shared {
            running: AtomicUsize::new(0),
            ran: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            ticks: AtomicU64::new(0),
        });
        let engine = engine.weak();
        let state = Arc::clone(&shared);
        let linger = u32::try_from(LINGER.as_nanos() / tick.as_nanos().max(1)).unwrap_or(u32::MAX);
        let thread = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                // Parked from the start: nothing has run yet.
                let mut idle_ticks = linger;
                while !state.stopped.load(Ordering::Acquire) {
                    let ran = state.ran.swap(false, Ordering::AcqRel);
                    if ran || state.running.load(Ordering::Acquire) > 0 {
                        idle_ticks = 0;
                    } else if idle_ticks >= linger {
                        // Woken by the next `running` (or spuriously: looped back).
                        std::thread::park();
                        idle_ticks = 0;
                        continue;
                    } else {
                        idle_ticks += 1;
                    }
                    std::thread::sleep(tick);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    }
                    state.ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
            .expect("spawning the epoch ticker thread")
            .thread()
            .clone();
        Arc::new(Self {
            shared,
            thread,
            tick,
        })
    }

    /// How often the epoch advances while plugins run: the unit deadlines count in.
    pub(super) fn tick(&self) -> Duration {
        self.tick
    }

    /// Ticks until the guard is dropped: hold it while Wasm runs.
    pub(super) fn running(&self) -> Running {
        self.shared.ran.store(true, Ordering::Release);
        if self.shared.running.fetch_add(1, Ordering::AcqRel) == 0 {
            // If the ticker has not parked yet, its next park returns at once.
            self.thread.unpark();
        }
        Running {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Epochs advanced since the ticker started.
    #[cfg(test)]
    fn ticks(&self) -> u64 {
        self.shared.ticks.load(Ordering::Relaxed)
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Keeps the ticker ticking (see [`EpochTicker::running`]).
pub(super) struct Running {
    shared: Arc<Shared>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.running.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(1);

    /// Waits up to a second for `ticks` to satisfy `done`.
    fn wait_for(ticker: &EpochTicker, done: impl Fn(u64) -> bool) -> u64 {
        let start = std::time::Instant::now();
        loop {
            let ticks = ticker.ticks();
            if done(ticks) || start.elapsed() > Duration::from_secs(1) {
                return ticks;
            }
            std::thread::sleep(TICK);
        }
    }

    /// Waits (up to a second) until the ticker has parked; the ticks then.
    fn parked(ticker: &EpochTicker) -> u64 {
        let start = std::time::Instant::now();
        loop {
            let ticks = ticker.ticks();
            std::thread::sleep(TICK * 20);
            if ticker.ticks() == ticks {
                return ticks;
            }
            assert!(start.elapsed() < Duration::from_secs(1), "still ticking");
        }
    }

    #[test]
    fn ticks_while_plugins_run_and_a_while_after() {
        let linger = LINGER.as_millis() as u64;
        let engine = Engine::default();
        let ticker = EpochTicker::spawn(&engine, TICK);
        std::thread::sleep(TICK * 30);
        assert_eq!(ticker.ticks(), 0, "ticked before anything ran");

        let running = ticker.running();
        let ticked = wait_for(&ticker, |t| t >= 5);
        assert!(ticked >= 5, "{ticked} ticks in a second while running");
        drop(running);
        let at_drop = ticker.ticks();
        let settled = parked(&ticker);
        assert!(
            (linger..=linger + 3).contains(&(settled - at_drop)),
            "{} ticks after the last guard went, not the {linger} of the linger",
            settled - at_drop
        );
        std::thread::sleep(TICK * 30);
        assert_eq!(ticker.ticks(), settled, "ticked once parked");

        // An invocation shorter than a tick wakes it too, and counts as activity.
        drop(ticker.running());
        let after_short = parked(&ticker);
        assert!(
            after_short - settled >= linger,
            "{} ticks after a short invocation",
            after_short - settled
        );

        // Nested guards: ticking until the last goes.
        let (a, b) = (ticker.running(), ticker.running());
        drop(a);
        std::thread::sleep(LINGER * 2);
        let held = ticker.ticks();
        let ticked = wait_for(&ticker, |t| t >= held + 5);
        assert!(ticked >= held + 5, "stopped while a guard was held");
        drop(b);
    }
}
