//! Shared by the integration tests: where the guest components are, and a runtime
//! sized for tests.

#![allow(dead_code)]

use std::path::PathBuf;

use switchboard::runtime::{Plugin, Runtime, RuntimeConfig};

/// Where a guest component built by `make guests` (profile `guest`, wasm32-wasip2) is.
pub fn guest_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("SWITCHBOARD_GUESTS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/guest"),
        PathBuf::from,
    );
    dir.join(format!("{name}.wasm"))
}

/// Reads a guest component built by `make guests`.
pub fn guest_bytes(name: &str) -> Vec<u8> {
    let path = guest_path(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "guest component {} is missing ({e}); build the guests first with `make guests`",
            path.display()
        )
    })
}

pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_concurrent_instances: 32,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

pub fn load(runtime: &Runtime, name: &str) -> Plugin {
    runtime
        .load(&guest_bytes(name))
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}
