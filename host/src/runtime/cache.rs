//! Precompiled plugins on disk, keyed by the component's sha256 and the engine's
//! fingerprint, so a restart or a second replica loads a plugin without compiling it.
//!
//! Entries are written to a temporary file and renamed into place, so a reader never
//! sees half an artifact. An entry that fails to load (another wasmtime, a corrupt
//! file) is compiled again and replaced.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of precompiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    pub fn new(dir: impl Into<PathBuf>, engine: &Engine) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        // `DefaultHasher::new()` is deterministic for one build of the host; a host built
        // otherwise gets other keys (and would fail wasmtime's own check on load anyway).
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    /// Where the artifact for a component with this digest lives.
    #[must_use]
    pub fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// Loads the cached artifact, or compiles `bytes` and stores the result.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        let path = self.path(digest);
        if path.exists() {
            match load(engine, &path) {
                Ok(component) => return Ok(component),
                Err(error) => tracing::warn!(
                    path = %path.display(), %error,
                    "cached plugin artifact unusable; compiling again"
                ),
            }
        }
        let artifact = engine.precompile_component(bytes)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &artifact)?;
        std::fs::rename(&tmp, &path)?;
        load(engine, &path)
    }
}

#[allow(unsafe_code)]
fn load(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts its input to be wasmtime's own output. Only
    // this module writes the cache directory, from `precompile_component`, under a
    // name carrying the sha256 of the component it came from; wasmtime still checks
    // the engine version and configuration and refuses a mismatch.
    unsafe { Component::deserialize_file(engine, path) }
}
