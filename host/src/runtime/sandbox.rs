//! The data of one `Store`: what a plugin can reach during one invocation.
//!
//! A plugin reaches `log` and a WASI context that grants nothing (no preopened
//! directories, no environment, no arguments, no sockets, no name lookup; stdio goes
//! nowhere). Python and JavaScript components import WASI even when they never use
//! it, so WASI is linked, but empty; its waits end at the invocation's deadline
//! (see `poll`). The guard enforces memory/table/instance limits and remembers which
//! one was hit, so a trap can be told apart from a limit.

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::Limits;
use super::outcome::LogLine;
use super::watchdog::Deadline;
use crate::contract::{Level, LogHost, TypesHost};

/// One invocation's store data.
pub struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) guard: Guard,
    pub(super) log: LogBuffer,
    /// When the current invocation must end (WASI waits are cut off at its `at`).
    pub(super) deadline: Deadline,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    pub(super) fn new(limits: &Limits) -> Self {
        let mut wasi = WasiCtxBuilder::new();
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        Self {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            guard: Guard {
                limits: *limits,
                memory_exceeded: false,
                peak_memory: 0,
            },
            log: LogBuffer::new(limits.max_log_bytes),
            deadline: Deadline::unarmed(limits.deadline()),
        }
    }

    pub(super) fn table_mut(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl LogHost for Sandbox {
    fn log(&mut self, level: Level, message: String) {
        self.log.push(level, message);
    }
}

/// The `types` interface has no functions; bindgen still wants it implemented.
impl TypesHost for Sandbox {}

/// Resource limits of one store, remembering whether memory was refused.
#[derive(Debug)]
pub(super) struct Guard {
    limits: Limits,
    pub(super) memory_exceeded: bool,
    pub(super) peak_memory: usize,
}

impl ResourceLimiter for Guard {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes {
            // An error (not `Ok(false)`) traps at once: a guest allocator that gets
            // `-1` from memory.grow may otherwise spin or abort confusingly.
            self.memory_exceeded = true;
            wasmtime::bail!(
                "memory limit: {desired} bytes requested, limit {}",
                self.limits.memory_bytes
            );
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.table_elements {
            self.memory_exceeded = true;
            wasmtime::bail!(
                "table limit: {desired} elements requested, limit {}",
                self.limits.table_elements
            );
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.limits.instances
    }

    fn tables(&self) -> usize {
        self.limits.instances
    }

    fn memories(&self) -> usize {
        self.limits.instances
    }
}

/// Log lines of one invocation, bounded in bytes.
#[derive(Debug)]
pub(super) struct LogBuffer {
    pub(super) lines: Vec<LogLine>,
    budget: usize,
    pub(super) dropped_bytes: usize,
}

impl LogBuffer {
    fn new(budget: usize) -> Self {
        Self {
            lines: Vec::new(),
            budget,
            dropped_bytes: 0,
        }
    }

    /// Starts over with a new budget; returns the bytes dropped so far.
    pub(super) fn reset(&mut self, budget: usize) -> usize {
        self.lines.clear();
        self.budget = budget;
        std::mem::take(&mut self.dropped_bytes)
    }

    fn push(&mut self, level: Level, mut message: String) {
        if message.len() > self.budget {
            let keep = floor_char_boundary(&message, self.budget);
            self.dropped_bytes += message.len() - keep;
            message.truncate(keep);
        }
        self.budget -= message.len();
        if !message.is_empty() {
            self.lines.push(LogLine { level, message });
        }
    }
}

fn floor_char_boundary(s: &str, mut index: usize) -> usize {
    while !s.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_buffer_keeps_budget_and_counts_the_rest() {
        let mut log = LogBuffer::new(10);
        log.push(Level::Info, "hello".into());
        log.push(Level::Warn, "wörld!!".into()); // 8 bytes, 5 left: "wörl" is 5 bytes
        log.push(Level::Error, "more".into());
        assert_eq!(log.lines.len(), 2);
        assert_eq!(log.lines[1].message, "wörl");
        assert_eq!(log.dropped_bytes, 3 + 4);
    }
}
