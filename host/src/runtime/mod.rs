//! The Wasm runtime: one engine per process, plugins loaded once, a fresh sandboxed
//! instance for every event.
//!
//! - [`Runtime`] owns the engine (pooling allocator, copy-on-write memory images,
//!   epoch interruption), the linker (WASI granting nothing, its waits cut off at the
//!   deadline, plus `log`) and the deadline watchdog ([`watchdog`]: advancing the
//!   epoch when a running plugin's deadline passes).
//! - [`Plugin`] is a loaded component checked against the `call-policy` world, held as
//!   an `InstancePre` so invoking it only instantiates.
//! - [`Plugin::invoke`] runs one event under [`Limits`] and reports an [`Outcome`].
//! - [`validate`]: the checks an uploaded component must pass to be accepted.
//!
//! Must not: know about tenants, calls or the service; that is the executor's job.

mod cache;
mod functions;
mod limits;
mod outcome;
mod poll;
mod sandbox;
pub mod validate;
mod watchdog;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
};

pub use cache::ArtifactCache;
pub use functions::FunctionCache;
pub use limits::{Limits, Reuse};
pub use outcome::{InvalidOutput, Invocation, LogLine, Outcome};
use sandbox::Sandbox;
use watchdog::Watchdog;

use crate::contract::{CallPolicy, CallPolicyPre, Context, Decision, Event};

/// How the process-wide engine is built. Per-invocation limits live in [`Limits`];
/// these are the ceilings the pooling allocator reserves for.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Meter fuel (costs throughput for every plugin; deadlines alone stop loops).
    pub fuel_metering: bool,
    /// Largest linear memory any plugin may be given.
    pub max_memory_bytes: usize,
    /// Component instances alive at once (concurrent invocations).
    pub max_concurrent_instances: u32,
    /// Where precompiled plugins are kept, and in `functions/` the compiled
    /// functions they are made of ([`FunctionCache`]: an upload compiles only the
    /// functions no earlier upload had); `None` compiles in memory every load.
    pub cache_dir: Option<PathBuf>,
    /// Find the pages an instance wrote with Linux's `PAGEMAP_SCAN` (kernel 6.7 or
    /// later) and reset only those, copied back from the memory image, keeping up to
    /// [`KEEP_RESIDENT_DIRTY`] of them mapped for the slot's next instance (Python and
    /// JavaScript write ~0.5–1.3 MiB scattered over a heap image of several MiB).
    /// Otherwise, or where the kernel lacks it, the first [`KEEP_RESIDENT_PREFIX`]
    /// bytes of each memory are reset and kept mapped, written or not (Rust policies
    /// live in the first few hundred KiB with the 64 KiB stack of
    /// `.cargo/config.toml`; see BENCHMARKS.md); the rest goes back to the kernel.
    pub dirty_pages_only: bool,
}

/// Dirty pages kept resident per slot where they can be found: a Python instance
/// writes ~1.3 MiB.
pub const KEEP_RESIDENT_DIRTY: usize = 4 << 20;
/// Bytes kept resident per slot where dirty pages cannot be found (each is reset by
/// copying, written or not).
pub const KEEP_RESIDENT_PREFIX: usize = 512 << 10;

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            fuel_metering: false,
            max_memory_bytes: 256 << 20,
            max_concurrent_instances: 1_000,
            cache_dir: None,
            dirty_pages_only: true,
        }
    }
}

/// Why a component could not become a plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly component{0}")]
    NotAComponent(&'static str),
    #[error("the component does not compile: {0:#}")]
    Compile(wasmtime::Error),
    #[error("the component imports something the host does not provide: {0:#}")]
    Imports(wasmtime::Error),
    #[error(
        "the component does not export the `call-policy` world of switchboard:policy@0.1.0: {0:#}"
    )]
    WrongWorld(wasmtime::Error),
    #[error("the plugin cache could not be used: {0}")]
    Cache(#[from] std::io::Error),
    #[error("warming the caches needs a cache directory")]
    NoCache,
}

/// The process-wide Wasm engine and linker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<Sandbox>,
    config: RuntimeConfig,
    cache: Option<ArtifactCache>,
    functions: Option<Arc<FunctionCache>>,
    watchdog: Arc<Watchdog>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Self, LoadError> {
        let mut wasm = engine_config(&config);
        let functions = match &config.cache_dir {
            Some(dir) => {
                let functions = Arc::new(FunctionCache::new(dir.join("functions"))?);
                wasm.enable_incremental_compilation(functions.clone())
                    .map_err(LoadError::Compile)?;
                Some(functions)
            }
            None => None,
        };
        let engine = Engine::new(&wasm).map_err(LoadError::Compile)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(LoadError::Imports)?;
        poll::add_to_linker(&mut linker).map_err(LoadError::Imports)?;
        CallPolicy::add_to_linker::<_, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(LoadError::Imports)?;
        let cache = config
            .cache_dir
            .as_ref()
            .map(|dir| ArtifactCache::new(dir, &engine))
            .transpose()?;
        let watchdog = Watchdog::spawn(&engine);
        Ok(Self {
            engine,
            linker,
            config,
            cache,
            functions,
            watchdog,
        })
    }

    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    #[must_use]
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The compiled functions kept for later uploads (with a cache directory).
    #[must_use]
    pub fn function_cache(&self) -> Option<&FunctionCache> {
        self.functions.as_deref()
    }

    /// Compiles (or loads from the cache) a component and checks it is a call policy.
    pub fn load(&self, bytes: &[u8]) -> Result<Plugin, LoadError> {
        check_component_header(bytes)?;
        let digest = hex::encode(Sha256::digest(bytes));
        let component = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, &digest, bytes),
            None => Component::new(&self.engine, bytes),
        }
        .map_err(LoadError::Compile)?;
        self.prepare(component, digest)
    }

    /// Compiles a component into the caches without keeping it: later uploads sharing
    /// its code then compile only the rest (every Python plugin carries the same
    /// CPython, every JavaScript plugin the same engine; their own code is data). A
    /// component compiled before is only read back. Needs a cache directory.
    pub fn warm(&self, bytes: &[u8]) -> Result<Warmed, LoadError> {
        let functions = self.functions.as_deref().ok_or(LoadError::NoCache)?;
        let (kept, read) = (functions.len(), functions.hits());
        let started = Instant::now();
        self.load(bytes)?;
        Ok(Warmed {
            elapsed: started.elapsed(),
            functions_compiled: functions.len().saturating_sub(kept),
            functions_read: functions.hits().saturating_sub(read),
        })
    }

    /// Precompiles a component to an artifact `load_precompiled` accepts.
    pub fn precompile(&self, bytes: &[u8]) -> Result<Vec<u8>, LoadError> {
        check_component_header(bytes)?;
        self.engine
            .precompile_component(bytes)
            .map_err(LoadError::Compile)
    }

    fn prepare(&self, component: Component, digest: String) -> Result<Plugin, LoadError> {
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(LoadError::Imports)?;
        let handle = instance_pre
            .component()
            .get_export_index(None, "handle")
            .ok_or_else(|| LoadError::WrongWorld(wasmtime::format_err!("no export `handle`")))?;
        let pre = CallPolicyPre::new(instance_pre).map_err(LoadError::WrongWorld)?;
        Ok(Plugin {
            pre,
            handle,
            digest,
            watchdog: Arc::clone(&self.watchdog),
            fuel_metering: self.config.fuel_metering,
        })
    }
}

fn engine_config(config: &RuntimeConfig) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    let instances = config.max_concurrent_instances;
    pool.total_component_instances(instances)
        // Python components hold ~65 core instances each, JS ~10: enough for every
        // slot to hold a Python plugin (a count, not memory reserved up front).
        .total_core_instances(instances.saturating_mul(80))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(4))
        .total_stacks(instances)
        .max_core_instances_per_component(100)
        .max_memories_per_component(16)
        .max_tables_per_component(64)
        .max_memory_size(config.max_memory_bytes)
        .table_keep_resident(16 << 10);
    if config.dirty_pages_only && PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT_DIRTY);
    } else {
        pool.linear_memory_keep_resident(KEEP_RESIDENT_PREFIX);
    }
    let mut wasm = Config::new();
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        .epoch_interruption(true)
        .consume_fuel(config.fuel_metering)
        .max_wasm_stack(512 << 10);
    wasm
}

/// Refuses core modules and non-Wasm bytes with a clear reason before compiling.
fn check_component_header(bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    match bytes.get(..8) {
        Some(h) if &h[..4] == MAGIC && h[6..8] == [0x01, 0x00] => Ok(()),
        Some(h) if &h[..4] == MAGIC && h[4..8] == [0x01, 0x00, 0x00, 0x00] => {
            Err(LoadError::NotAComponent(
                ": it is a core module; build a component (e.g. target wasm32-wasip2)",
            ))
        }
        Some(h) if &h[..4] == MAGIC => {
            Err(LoadError::NotAComponent(": unknown Wasm encoding version"))
        }
        _ => Err(LoadError::NotAComponent(": no `\\0asm` header")),
    }
}

/// What [`Runtime::warm`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warmed {
    pub elapsed: Duration,
    /// Functions compiled and kept (none if the component was compiled before).
    pub functions_compiled: usize,
    /// Functions read back from the cache instead of compiled.
    pub functions_read: u64,
}

/// A loaded call policy, ready to be instantiated for each event.
#[derive(Clone)]
pub struct Plugin {
    /// Type-checked against the world once, when loaded.
    pre: CallPolicyPre<Sandbox>,
    /// The `handle` export, found once.
    handle: wasmtime::component::ComponentExportIndex,
    digest: String,
    /// Enforces this plugin's deadlines; kept alive while the plugin is.
    watchdog: Arc<Watchdog>,
    fuel_metering: bool,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// The component's sha256, hex: the plugin version's identity.
    #[must_use]
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Instantiates the plugin in a fresh store and calls `handle` once: the normal
    /// way, so nothing of one event (or one tenant) survives into the next.
    pub fn invoke(&self, event: &Event, ctx: &Context, limits: &Limits) -> Invocation {
        self.session(limits).invoke(event, ctx)
    }

    /// A store for invoking this plugin repeatedly in one instance. Only for the
    /// events of one call: the instance keeps whatever the plugin left in its memory.
    #[must_use]
    pub fn session(&self, limits: &Limits) -> Session {
        Session {
            plugin: self.clone(),
            limits: *limits,
            store: self.store(limits),
            instance: None,
        }
    }

    fn store(&self, limits: &Limits) -> Store<Sandbox> {
        let mut store = Store::new(self.pre.engine(), Sandbox::new(limits));
        store.limiter(|s| &mut s.guard);
        store.epoch_deadline_callback(|store| Ok(watchdog::at_epoch(&store.data().deadline)));
        store
    }
}

/// One instance of a plugin, invoked for several events (see [`Plugin::session`]).
/// Limits apply to each invocation; memory limits to the instance's whole life. After
/// an invocation that does not end in a decision or plugin error, the next one starts
/// from a fresh instance.
pub struct Session {
    plugin: Plugin,
    limits: Limits,
    store: Store<Sandbox>,
    instance: Option<CallPolicy>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Instantiates now (otherwise the first `invoke` does), within the deadline.
    pub fn instantiate(&mut self) -> wasmtime::Result<()> {
        let _armed = self.arm();
        instance(&mut self.instance, &self.plugin, &mut self.store).map(|_| ())
    }

    /// Calls `handle` for one event.
    pub fn invoke(&mut self, event: &Event, ctx: &Context) -> Invocation {
        let started = Instant::now();
        let armed = self.arm();
        let fuel = armed.fuel;
        let result = instance(&mut self.instance, &self.plugin, &mut self.store)
            .and_then(|policy| policy.call_handle(&mut self.store, event, ctx));
        drop(armed);
        let elapsed = started.elapsed();
        let fuel_consumed = self
            .plugin
            .fuel_metering
            .then(|| fuel - self.store.get_fuel().unwrap_or(0));
        let limits = &self.limits;
        let trapped = result.is_err();
        let outcome = match result {
            Ok(Ok(decision)) => check_decision(decision, limits),
            Ok(Err(error)) => Outcome::PluginError(error),
            Err(error) => classify_failure(&error, self.store.data(), limits, fuel),
        };
        let sandbox = self.store.data_mut();
        let invocation = Invocation {
            outcome,
            logs: std::mem::take(&mut sandbox.log.lines),
            dropped_log_bytes: sandbox.log.reset(limits.max_log_bytes),
            elapsed,
            fuel_consumed,
            peak_memory_bytes: sandbox.guard.peak_memory,
        };
        if trapped {
            // A trapped instance must not run again.
            self.instance = None;
            self.store = self.plugin.store(limits);
        }
        invocation
    }

    /// Sets the deadline (and fuel) for the next invocation and has the watchdog
    /// enforce it until the returned guard is dropped.
    fn arm(&mut self) -> Armed {
        let watched = self.plugin.watchdog.watch(self.limits.deadline());
        self.store.data_mut().deadline = watched.deadline();
        // The next epoch is one the watchdog advanced because a deadline passed: this
        // store then looks at its own (`watchdog::at_epoch`).
        self.store.set_epoch_deadline(1);
        let fuel = self.limits.fuel.unwrap_or(u64::MAX);
        if self.plugin.fuel_metering {
            self.store.set_fuel(fuel).expect("fuel metering is enabled");
        }
        Armed {
            fuel,
            _watched: watched,
        }
    }
}

/// An armed invocation: the fuel it was given, and its deadline watched while it runs.
struct Armed {
    fuel: u64,
    _watched: watchdog::Watched,
}

/// The session's instance, created on first use.
fn instance<'a>(
    slot: &'a mut Option<CallPolicy>,
    plugin: &Plugin,
    store: &mut Store<Sandbox>,
) -> wasmtime::Result<&'a CallPolicy> {
    if slot.is_none() {
        let instance = plugin.pre.instance_pre().instantiate(&mut *store)?;
        let handle = instance
            .get_func(&mut *store, plugin.handle)
            .ok_or_else(|| wasmtime::format_err!("the instance has no `handle` export"))?;
        *slot = Some(CallPolicy::from_checked(handle));
    }
    Ok(slot.as_ref().expect("just instantiated"))
}

fn classify_failure(
    error: &wasmtime::Error,
    sandbox: &Sandbox,
    limits: &Limits,
    fuel: u64,
) -> Outcome {
    if sandbox.guard.memory_exceeded {
        return Outcome::MemoryLimit {
            limit_bytes: limits.memory_bytes,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Outcome::DeadlineExceeded(limits.deadline()),
        Some(Trap::OutOfFuel) => Outcome::OutOfFuel(fuel),
        Some(trap) => Outcome::Trap(trap.to_string()),
        None => Outcome::Trap(format!("{error:#}")),
    }
}

/// A decision as the host takes it: within the limits on actions, state and output,
/// or the `InvalidOutput` that names the limit it broke.
#[must_use]
pub fn check_decision(decision: Decision, limits: &Limits) -> Outcome {
    let count = decision.actions.len();
    if count > limits.max_actions {
        return Outcome::InvalidOutput(InvalidOutput::TooManyActions {
            count,
            max: limits.max_actions,
        });
    }
    if let Some(state) = &decision.state
        && state.len() > limits.max_state_bytes
    {
        return Outcome::InvalidOutput(InvalidOutput::StateTooLarge {
            bytes: state.len(),
            max: limits.max_state_bytes,
        });
    }
    let bytes = json_size(&decision.actions);
    if bytes > limits.max_output_bytes {
        return Outcome::InvalidOutput(InvalidOutput::OutputTooLarge {
            bytes,
            max: limits.max_output_bytes,
        });
    }
    Outcome::Decision(decision)
}

/// The length of a value's JSON encoding, without building it.
fn json_size(value: &impl serde::Serialize) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value).map_or(usize::MAX, |()| counter.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_names_what_is_wrong() {
        let core = b"\0asm\x01\0\0\0";
        let component = b"\0asm\x0d\0\x01\0";
        assert!(check_component_header(component).is_ok());
        assert!(
            matches!(check_component_header(core), Err(LoadError::NotAComponent(m)) if m.contains("core module"))
        );
        assert!(
            matches!(check_component_header(b"PK\x03\x04zip!"), Err(LoadError::NotAComponent(m)) if m.contains("header"))
        );
        assert!(matches!(
            check_component_header(b""),
            Err(LoadError::NotAComponent(_))
        ));
    }
}
