//! The deadline watchdog: one thread per engine that advances the engine's epoch when,
//! and only when, a running plugin's deadline has passed.
//!
//! Each instantiation and invocation registers its deadline ([`Watchdog::watch`]) and
//! sets its store to look at its deadline at the next epoch (`set_epoch_deadline(1)`
//! and a callback, [`at_epoch`]): the thread sleeps until the earliest deadline of the
//! plugins running, advances the epoch if that plugin still runs then, and each store
//! reached by the new epoch traps if its own deadline has passed and carries on
//! otherwise. A deadline is therefore enforced within the thread's wake-up latency of
//! the deadline itself, and the thread wakes about once per deadline under any load
//! instead of once per tick: a 1 ms ticker woke a thousand times a second on each
//! busy host, and three hosts on two cores paid that three times (BENCHMARKS.md,
//! replicas).
//!
//! A deadline measures the plugin's own running: the CPU time of the thread that runs
//! it (an invocation runs on one thread, start to end). The store looks when the
//! deadline has passed in wall time; a plugin found to have run less than its deadline
//! then, because the machine gave its thread less (a saturated host: other threads,
//! PostgreSQL, other processes on two cores), carries on, up to a wall-clock
//! [`ceiling`]. A tenant is not failed for the host's overload: with wall time alone,
//! one call in a few thousand on a saturated host got the fallback with a 20 ms
//! deadline, for a plugin that runs 50 µs (BENCHMARKS.md, replicas). Waits (WASI's
//! poll) still end at the deadline in wall time: waiting is the plugin's own doing.
//!
//! Registering costs a lock, a push and a read of the thread's CPU clock (~0.45 µs: a
//! system call), and wakes the thread only when the new deadline comes before the one
//! it sleeps towards: the thread, when nothing runs, naps for the shortest deadline it
//! has seen, so an invocation starting during a nap ends no earlier than the nap does.
//! After [`LINGER`] with nothing run it parks, and the next invocation wakes it (a
//! futex wake and a context switch, ~11–15 µs on a busy core: RELIABILITY.md); a host
//! with an event every 100 ms or more often never pays it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Thread;
use std::time::{Duration, Instant};

use wasmtime::{Engine, UpdateDeadline};

/// How long the thread keeps napping after the last plugin ran, before it parks.
const LINGER: Duration = Duration::from_millis(100);
/// How soon the epoch advances again while a plugin past its deadline still runs (it
/// may be in a host call, where no epoch reaches it; the host's waits end at the
/// deadline on their own: `poll.rs`).
const RETRY: Duration = Duration::from_millis(1);

/// How long, in wall time, a plugin the machine starved of CPU may run at most: its
/// deadline plus four times that, and at least 100 ms more (a busy two-core machine
/// deschedules a thread for tens of milliseconds at times).
fn ceiling(length: Duration) -> Duration {
    length + (length * 4).max(Duration::from_millis(100))
}

/// CPU time this thread has run, where the platform keeps it per thread.
fn thread_cpu() -> Option<Duration> {
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Some(Duration::new(
            u64::try_from(t.tv_sec).ok()?,
            u32::try_from(t.tv_nsec).ok()?,
        ))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        None
    }
}

/// An invocation's time limit, as its store looks at it ([`at_epoch`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Deadline {
    /// Its length after the start, in wall time: the store looks no earlier, and WASI
    /// waits end here.
    pub(super) at: Instant,
    length: Duration,
    /// The thread's CPU time at the start; `None`: wall time only.
    cpu_start: Option<Duration>,
    /// The latest it may end, starved or not.
    ceiling: Instant,
}

impl Deadline {
    /// Starting now, on this thread (the one that runs the plugin).
    fn starting_now(length: Duration) -> Self {
        let now = Instant::now();
        Self {
            at: now + length,
            length,
            cpu_start: thread_cpu(),
            ceiling: now + ceiling(length),
        }
    }

    /// A store's deadline before any invocation armed it: wall time only.
    pub(super) fn unarmed(length: Duration) -> Self {
        let at = Instant::now() + length;
        Self {
            at,
            length,
            cpu_start: None,
            ceiling: at,
        }
    }

    /// Whether the plugin must stop, looked at `now` on the thread that runs it: past
    /// the ceiling, or past the deadline having run its length.
    fn expired(&self, now: Instant) -> bool {
        if now < self.at {
            return false;
        }
        if now >= self.ceiling {
            return true;
        }
        match (self.cpu_start, thread_cpu()) {
            (Some(start), Some(cpu)) => cpu.saturating_sub(start) >= self.length,
            _ => true,
        }
    }
}

/// Owned by the runtime and every plugin it loaded: the thread stops once the last of
/// them is gone (no plugin left to run, nothing left to interrupt).
pub(super) struct Watchdog {
    shared: Arc<Shared>,
    thread: Thread,
}

struct Shared {
    state: Mutex<State>,
    stopped: AtomicBool,
    /// Epochs advanced so far (read by the tests).
    interrupts: AtomicU64,
    /// Times the thread woke (idem).
    wakes: AtomicU64,
}

struct State {
    /// The deadlines of the instantiations and invocations running now, each with its
    /// registration's id (two may end at the same instant). Few at once (one per
    /// thread running Wasm): a vector, not a heap.
    running: Vec<(Instant, u64)>,
    next_id: u64,
    /// Something registered since the thread last looked (a plugin shorter than a
    /// nap starts and ends between two looks).
    started: bool,
    /// When the thread wakes at the latest; `None`: parked until woken.
    wake_at: Option<Instant>,
    /// The thread's nap while nothing runs: the shortest deadline registered so far.
    nap: Duration,
}

impl State {
    fn earliest(&self) -> Option<Instant> {
        self.running.iter().map(|&(at, _)| at).min()
    }
}

impl Watchdog {
    pub(super) fn spawn(engine: &Engine) -> Arc<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                running: Vec::new(),
                next_id: 0,
                started: false,
                // Parked from the start: nothing has run yet.
                wake_at: None,
                nap: LINGER,
            }),
            stopped: AtomicBool::new(false),
            interrupts: AtomicU64::new(0),
            wakes: AtomicU64::new(0),
        });
        let engine = engine.weak();
        let state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("wasm-deadlines".into())
            .spawn(move || {
                let mut idle_since: Option<Instant> = None;
                // What the last look decided (parked from the start: nothing has run
                // yet). A registration that needs the thread earlier unparks it, so
                // the park returns at once and the next look sees it.
                let mut wake_at: Option<Instant> = None;
                loop {
                    match wake_at {
                        None => std::thread::park(),
                        Some(at) => {
                            std::thread::park_timeout(at.saturating_duration_since(Instant::now()));
                        }
                    }
                    if state.stopped.load(Ordering::Acquire) {
                        return;
                    }
                    state.wakes.fetch_add(1, Ordering::Relaxed);
                    let expired;
                    (expired, wake_at) = state.look(&mut idle_since);
                    if expired {
                        match engine.upgrade() {
                            Some(engine) => engine.increment_epoch(),
                            None => return,
                        }
                        state.interrupts.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .expect("spawning the deadline watchdog thread")
            .thread()
            .clone();
        Arc::new(Self { shared, thread })
    }

    /// Registers a plugin that starts running now with `length` to run: its deadline
    /// is enforced until the returned guard is dropped. Set the store's deadline to
    /// [`Watched::deadline`] and its epoch deadline to 1, with [`at_epoch`] as its
    /// callback.
    pub(super) fn watch(&self, length: Duration) -> Watched {
        let limit = Deadline::starting_now(length);
        let deadline = limit.at;
        let (id, wake) = {
            let mut state = self.shared.lock();
            let id = state.next_id;
            state.next_id += 1;
            state.running.push((deadline, id));
            state.started = true;
            state.nap = state.nap.min(length);
            let wake = state.wake_at.is_none_or(|at| deadline < at);
            if wake {
                // Later registrations with later deadlines need not wake it again.
                state.wake_at = Some(deadline);
            }
            (id, wake)
        };
        if wake {
            self.thread.unpark();
        }
        Watched {
            shared: Arc::clone(&self.shared),
            deadline: limit,
            id,
        }
    }

    #[cfg(test)]
    fn interrupts(&self) -> u64 {
        self.shared.interrupts.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn wakes(&self) -> u64 {
        self.shared.wakes.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing held under the lock can be left half-done by a panic.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The thread's look after a wake-up: whether to advance the epoch (a running
    /// plugin's deadline has passed), and when to wake next.
    fn look(&self, idle_since: &mut Option<Instant>) -> (bool, Option<Instant>) {
        let now = Instant::now();
        let mut state = self.lock();
        let earliest = state.earliest();
        if earliest.is_some() || std::mem::take(&mut state.started) {
            *idle_since = None;
        }
        let expired = earliest.is_some_and(|at| at <= now);
        state.wake_at = match earliest {
            Some(_) if expired => Some(now + RETRY),
            Some(at) => Some(at),
            None if idle_since.get_or_insert(now).elapsed() >= LINGER => None,
            None => Some(now + state.nap),
        };
        (expired, state.wake_at)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// A registered deadline (see [`Watchdog::watch`]); unregistered when dropped.
pub(super) struct Watched {
    shared: Arc<Shared>,
    deadline: Deadline,
    id: u64,
}

impl Watched {
    pub(super) fn deadline(&self) -> Deadline {
        self.deadline
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if let Some(i) = state.running.iter().position(|&(_, id)| id == self.id) {
            state.running.swap_remove(i);
        }
    }
}

/// What a store does when the epoch reaches it (on the thread running its plugin),
/// its invocation's deadline being `deadline`: trap if that has expired (the epoch
/// advanced for it, or for another store's deadline that passed at the same time),
/// otherwise look again at the next epoch (the watchdog advances it every [`RETRY`]
/// while a plugin past its deadline in wall time still runs).
pub(super) fn at_epoch(deadline: &Deadline) -> UpdateDeadline {
    if deadline.expired(Instant::now()) {
        UpdateDeadline::Interrupt
    } else {
        UpdateDeadline::Continue(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits up to a second for `done`.
    fn wait_for(done: impl Fn() -> bool) -> bool {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > Duration::from_secs(1) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    #[test]
    fn the_epoch_advances_when_a_deadline_passes_and_not_before() {
        let engine = Engine::default();
        let watchdog = Watchdog::spawn(&engine);
        let started = Instant::now();
        let watched = watchdog.watch(Duration::from_millis(30));
        std::thread::sleep(Duration::from_millis(20));
        // A busy machine may oversleep past the deadline: only an advance seen
        // before it is wrong.
        let (advanced, at) = (watchdog.interrupts(), started.elapsed());
        assert!(
            advanced == 0 || at >= Duration::from_millis(30),
            "advanced before the deadline ({at:?})"
        );
        assert!(wait_for(|| watchdog.interrupts() > 0), "never advanced");
        let late = started.elapsed();
        assert!(
            late >= Duration::from_millis(30) && late < Duration::from_millis(150),
            "advanced after {late:?} for a 30 ms deadline"
        );
        // Still running past its deadline (in a host call): advanced again, every
        // `RETRY`, until it is gone.
        let before = watchdog.interrupts();
        assert!(wait_for(|| watchdog.interrupts() >= before + 3));
        drop(watched);
        std::thread::sleep(RETRY * 5);
        let settled = watchdog.interrupts();
        std::thread::sleep(RETRY * 20);
        assert_eq!(watchdog.interrupts(), settled, "advanced with nothing late");
    }

    #[test]
    fn a_plugin_starved_of_cpu_carries_on_until_the_ceiling_and_one_that_ran_its_length_stops() {
        let length = Duration::from_millis(10);
        let starved = Deadline::starting_now(length);
        // Past its deadline in wall time having run almost nothing, as a thread the
        // machine descheduled.
        std::thread::sleep(length * 2);
        if thread_cpu().is_some() {
            assert!(
                !starved.expired(starved.at + Duration::from_millis(1)),
                "stopped for time it did not run"
            );
        }
        assert!(starved.expired(starved.ceiling), "ran past the ceiling");
        assert!(
            starved.ceiling >= starved.at + Duration::from_millis(100),
            "the ceiling leaves a starved plugin too little"
        );
        // Running its length: stopped as soon as the deadline passes.
        let busy = Deadline::starting_now(length);
        let spin = Instant::now();
        while !busy.expired(Instant::now().max(busy.at)) {
            assert!(
                spin.elapsed() < Duration::from_secs(5),
                "10 ms of running never expired"
            );
            std::hint::spin_loop();
        }
        let cpu = thread_cpu()
            .zip(busy.cpu_start)
            .map(|(now, start)| now - start);
        assert!(
            cpu.is_none_or(|cpu| cpu >= length),
            "stopped after {cpu:?} of running"
        );
    }

    #[test]
    fn plugins_ending_in_time_advance_nothing_and_wake_the_thread_about_once_per_deadline() {
        let engine = Engine::default();
        let watchdog = Watchdog::spawn(&engine);
        let deadline = Duration::from_millis(20);
        // 200 ms of plugins starting back to back, each ending well before its
        // deadline (a busy host).
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(200) {
            let watched = watchdog.watch(deadline);
            std::thread::sleep(Duration::from_micros(50));
            drop(watched);
        }
        assert_eq!(watchdog.interrupts(), 0);
        // 200 ms / 20 ms, plus the first wake-up and some slack for a busy machine; a
        // 1 ms ticker woke ~200 times.
        let wakes = watchdog.wakes();
        assert!(wakes <= 20, "{wakes} wake-ups in 200 ms");
    }

    #[test]
    fn a_shorter_deadline_wakes_the_thread_early_and_idle_it_parks() {
        let engine = Engine::default();
        let watchdog = Watchdog::spawn(&engine);
        let long = watchdog.watch(Duration::from_secs(10));
        let started = Instant::now();
        let short = watchdog.watch(Duration::from_millis(10));
        assert!(wait_for(|| watchdog.interrupts() > 0), "never advanced");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "the 10 ms deadline waited for the 10 s one: {:?}",
            started.elapsed()
        );
        drop((short, long));
        // Lingers, then parks: no wake-up at all once parked.
        std::thread::sleep(LINGER * 3);
        let parked = watchdog.wakes();
        std::thread::sleep(LINGER * 2);
        assert_eq!(watchdog.wakes(), parked, "woke while parked");
        // And a new plugin wakes it.
        let before = watchdog.interrupts();
        let _late = watchdog.watch(Duration::from_millis(5));
        assert!(
            wait_for(|| watchdog.interrupts() > before),
            "not woken from its park"
        );
    }
}
