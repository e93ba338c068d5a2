//! `wasi:io/poll` bounded by the invocation's deadline.
//!
//! Epoch interruption stops a plugin only while it runs Wasm code. A plugin that waits
//! instead (`std::thread::sleep`, Python's `time.sleep`, a clock pollable blocked on)
//! sits inside the host's `poll` or `block` with no Wasm running, and would hold its
//! thread for as long as it asked. This module replaces WASI's own `poll` and
//! `pollable.block`: each wait ends at the invocation's wall-clock deadline, and then
//! traps with [`Trap::Interrupt`], the same trap the epoch deadline raises, so the
//! invocation is reported as `DeadlineExceeded` whichever way the time was spent.

use std::time::Instant;

use wasmtime::Trap;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sync::io::poll as sync_poll;
use wasmtime_wasi::runtime::in_tokio;
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;
use wasmtime_wasi_io::poll::DynPollable;

use super::sandbox::Sandbox;

/// Shadows the `wasi:io/poll` that `wasmtime_wasi::p2::add_to_linker_sync` linked.
pub(super) fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = sync_poll::add_to_linker::<Sandbox, DeadlineBound>(linker, |s| {
        let deadline = s.deadline.at;
        BoundedPoll {
            table: s.table_mut(),
            deadline,
        }
    });
    linker.allow_shadowing(false);
    added
}

struct DeadlineBound;

impl HasData for DeadlineBound {
    type Data<'a> = BoundedPoll<'a>;
}

/// The store's resource table and the moment the current invocation must end.
pub(super) struct BoundedPoll<'a> {
    table: &'a mut ResourceTable,
    deadline: Instant,
}

impl BoundedPoll<'_> {
    /// Runs one wait of WASI's own implementation, cut off at the deadline.
    fn wait<T>(
        &mut self,
        wait: impl AsyncFnOnce(&mut ResourceTable) -> wasmtime::Result<T>,
    ) -> wasmtime::Result<T> {
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let table = &mut *self.table;
        in_tokio(async move {
            match tokio::time::timeout_at(deadline, wait(table)).await {
                Ok(result) => result,
                Err(_elapsed) => Err(Trap::Interrupt.into()),
            }
        })
    }
}

impl sync_poll::Host for BoundedPoll<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        self.wait(async |table| async_poll::Host::poll(table, pollables).await)
    }
}

impl sync_poll::HostPollable for BoundedPoll<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        // Never waits: answers whether the pollable is ready now.
        in_tokio(async_poll::HostPollable::ready(self.table, pollable))
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        self.wait(async |table| async_poll::HostPollable::block(table, pollable).await)
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.table, pollable)
    }
}
