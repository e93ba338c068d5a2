//! Compiled function bodies kept on disk: Cranelift's incremental cache, keyed by the
//! SHA-256 of each function's IR together with the compiler's target and settings.
//!
//! Why: every Python plugin carries the same CPython (its own code is data in the heap
//! snapshot componentize-py takes) and every JavaScript plugin the same engine, so
//! most of an upload's 10–20 MB of code was compiled before, by another tenant's upload
//! or an earlier version. With this cache an upload compiles only the functions it does
//! not share; the rest are read back (BENCHMARKS.md measures both).
//!
//! Layout: append-only pack files in one directory, one per process that compiled
//! something (`<pid>-<random>.pack`, so replicas sharing the directory never write
//! the same file), each a run of records `[sha256 of the key: 32][length: u32 LE]
//! [compiled function]`. A process indexes every pack when it starts and appends to its
//! own; a record cut short (a crash mid-write) ends its pack's index. A record that does
//! not decode is compiled again (Cranelift checks a version marker). The directory holds
//! derived data only: deleting it loses nothing but time. Like the artifact cache
//! ([`super::ArtifactCache`]), only the host writes it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest as _, Sha256};

type Key = [u8; 32];

/// Where a compiled function is: pack, offset of its bytes, length.
#[derive(Debug, Clone, Copy)]
struct Location {
    pack: usize,
    offset: u64,
    len: u32,
}

/// A directory of compiled functions, indexed in memory.
#[derive(Debug)]
pub struct FunctionCache {
    dir: PathBuf,
    state: Mutex<State>,
    hits: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    index: HashMap<Key, Location>,
    packs: Vec<Arc<File>>,
    /// This process's pack (created at the first insert) and its length.
    own: Option<(usize, u64)>,
}

const HEADER: usize = 32 + 4;

impl FunctionCache {
    /// Opens the directory (created if missing) and indexes the packs in it.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let mut state = State::default();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "pack") {
                let pack = state.packs.len();
                let file = File::open(&path)?;
                index_pack(&file, pack, &mut state.index)?;
                state.packs.push(Arc::new(file));
            }
        }
        Ok(Self {
            dir,
            state: Mutex::new(state),
            hits: AtomicU64::new(0),
        })
    }

    /// Compiled functions known.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().index.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Functions read back instead of compiled, since this cache was opened.
    #[must_use]
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&self, key: Key, value: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(value.len()).map_err(std::io::Error::other)?;
        let mut record = Vec::with_capacity(HEADER + value.len());
        record.extend_from_slice(&key);
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(value);
        let mut state = self.lock();
        if state.index.contains_key(&key) {
            return Ok(());
        }
        let (pack, at) = match state.own {
            Some(own) => own,
            None => {
                let file = new_pack(&self.dir)?;
                state.packs.push(Arc::new(file));
                (state.packs.len() - 1, 0)
            }
        };
        // One write per record, under the lock: records never interleave.
        (&*state.packs[pack]).write_all(&record)?;
        state.own = Some((pack, at + record.len() as u64));
        state.index.insert(
            key,
            Location {
                pack,
                offset: at + HEADER as u64,
                len,
            },
        );
        Ok(())
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let key: Key = Sha256::digest(key).into();
        let (file, at) = {
            let state = self.lock();
            let at = *state.index.get(&key)?;
            (state.packs[at.pack].clone(), at)
        };
        let mut value = vec![0; at.len as usize];
        file.read_exact_at(&mut value, at.offset).ok()?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(Cow::Owned(value))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        match self.append(Sha256::digest(key).into(), &value) {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(dir = %self.dir.display(), %error, "runtime.function_cache: not kept");
                false
            }
        }
    }
}

/// A pack of this process's own, opened for appending and reading.
fn new_pack(dir: &Path) -> std::io::Result<File> {
    let name = format!("{}-{:016x}.pack", std::process::id(), rand::random::<u64>());
    File::options()
        .read(true)
        .append(true)
        .create_new(true)
        .open(dir.join(name))
}

/// Adds a pack's records to the index, up to the first one cut short.
fn index_pack(file: &File, pack: usize, index: &mut HashMap<Key, Location>) -> std::io::Result<()> {
    let size = file.metadata()?.len();
    let mut at = 0u64;
    let mut header = [0u8; HEADER];
    while at + HEADER as u64 <= size {
        file.read_exact_at(&mut header, at)?;
        let len = u32::from_le_bytes(header[32..].try_into().expect("4 bytes"));
        let offset = at + HEADER as u64;
        if offset + u64::from(len) > size {
            break;
        }
        let key: Key = header[..32].try_into().expect("32 bytes");
        index.entry(key).or_insert(Location { pack, offset, len });
        at = offset + u64::from(len);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use wasmtime::CacheStore as _;

    use super::*;

    #[test]
    fn what_is_kept_is_read_back_after_a_restart_and_a_torn_record_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = FunctionCache::new(dir.path()).expect("cache");
        assert!(cache.get(b"key").is_none());
        assert!(cache.insert(b"key", b"code".to_vec()));
        assert!(cache.insert(b"other", b"more code".to_vec()));
        assert_eq!(cache.get(b"key").as_deref(), Some(&b"code"[..]));
        assert_eq!(cache.get(b"other").as_deref(), Some(&b"more code"[..]));
        assert!(cache.get(b"unknown").is_none());
        drop(cache);

        // A crash in the middle of a record: the pack ends before it.
        let pack = std::fs::read_dir(dir.path())
            .expect("dir")
            .next()
            .expect("one pack")
            .expect("entry")
            .path();
        let mut file = File::options().append(true).open(&pack).expect("pack");
        file.write_all(&[7; 32]).expect("torn header");
        file.write_all(&100u32.to_le_bytes()).expect("torn length");
        file.write_all(b"short").expect("torn body");
        drop(file);

        let again = FunctionCache::new(dir.path()).expect("reopen");
        assert_eq!(again.len(), 2);
        assert_eq!(again.get(b"key").as_deref(), Some(&b"code"[..]));
        assert_eq!(again.get(b"other").as_deref(), Some(&b"more code"[..]));
        // New entries go to a pack of this process's own.
        assert!(again.insert(b"third", b"xyz".to_vec()));
        assert_eq!(again.get(b"third").as_deref(), Some(&b"xyz"[..]));
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 2);
    }
}
