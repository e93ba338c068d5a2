//! The epoch ticker: advances the engine's epoch, which plugin deadlines count in,
//! once per tick while any plugin runs, and sleeps while none does. An idle host then
//! does not wake a thousand times a second; deadlines are set relative to the epoch
//! when an invocation starts, so ticks skipped while idle shorten none of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::Duration;

use wasmtime::Engine;

/// Owned by the runtime and every plugin it loaded: the thread stops once the last of
/// them is gone (no plugin left to run, nothing left to interrupt).
pub(super) struct EpochTicker {
    shared: Arc<Shared>,
    thread: Thread,
}

struct Shared {
    /// Invocations (and instantiations) running now.
    running: AtomicUsize,
    stopped: AtomicBool,
    /// Epochs advanced so far (for tests).
    ticks: AtomicU64,
}

impl EpochTicker {
    pub(super) fn spawn(engine: &Engine, tick: Duration) -> Arc<Self> {
        let shared = Arc::new(Shared {
            running: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            ticks: AtomicU64::new(0),
        });
        let engine = engine.weak();
        let state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !state.stopped.load(Ordering::Acquire) {
                    if state.running.load(Ordering::Acquire) == 0 {
                        // Woken by the next `running` (or spuriously: looped back).
                        std::thread::park();
                        continue;
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
        Arc::new(Self { shared, thread })
    }

    /// Ticks until the guard is dropped: hold it while Wasm runs.
    pub(super) fn running(&self) -> Running {
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

    #[test]
    fn ticks_only_while_something_runs() {
        let engine = Engine::default();
        let ticker = EpochTicker::spawn(&engine, TICK);
        std::thread::sleep(TICK * 30);
        assert_eq!(ticker.ticks(), 0, "ticked with nothing running");

        let running = ticker.running();
        let ticked = wait_for(&ticker, |t| t >= 5);
        assert!(ticked >= 5, "{ticked} ticks in a second while running");

        drop(running);
        // The tick under way when the guard went may still land (late, on a busy
        // machine): the count must settle, and then stay.
        let start = std::time::Instant::now();
        let settled = loop {
            let ticks = ticker.ticks();
            std::thread::sleep(TICK * 20);
            if ticker.ticks() == ticks {
                break ticks;
            }
            assert!(start.elapsed() < Duration::from_secs(1), "still ticking");
        };
        std::thread::sleep(TICK * 30);
        assert_eq!(
            ticker.ticks(),
            settled,
            "ticked after the guard was dropped"
        );

        // Nested guards: ticking until the last goes.
        let (a, b) = (ticker.running(), ticker.running());
        drop(a);
        let before = ticker.ticks();
        let ticked = wait_for(&ticker, |t| t >= before + 5);
        assert!(ticked >= before + 5, "stopped while a guard was held");
        drop(b);
    }
}
