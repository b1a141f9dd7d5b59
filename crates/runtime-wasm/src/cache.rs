//! `load`: component file → compiled [`Component`], compiled once and kept on disk.
//!
//! A component is compiled by Cranelift the first time its exact bytes are seen by an engine with
//! the same settings; the machine code is written to `<cache dir>/<content hash>-<engine
//! hash>.cwasm` and every later start (another instance, a restart of eddy) maps that file
//! instead of compiling. Mapping the file (rather than reading it) lets wasmtime initialise linear
//! memories copy-on-write straight from the file's pages.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// What a `.wasm` file holds, read from its 8-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A WebAssembly component (what eddy serves as a function).
    Component,
    /// A core WebAssembly module (what `?module` imports load; not a function on its own).
    CoreModule,
    /// Not WebAssembly at all.
    NotWasm,
}

/// Classifies `bytes` by the WebAssembly header: magic `\0asm`, then version 1 for core modules
/// or the component-model layer for components.
pub fn wasm_kind(bytes: &[u8]) -> WasmKind {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => WasmKind::CoreModule,
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => WasmKind::Component,
        _ => WasmKind::NotWasm,
    }
}

/// Where a loaded component came from, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// Already loaded by this runtime (another instance of the same bytes).
    Memory,
    /// Mapped from the on-disk cache: no compilation.
    Disk,
    /// Compiled now, and written to the cache.
    Compiled,
}

/// Why a component file could not be loaded. Messages name the file and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is not a WebAssembly file (it lacks the \\0asm header); build it for \
         wasm32-wasip2 or remove it from api/",
        path.display()
    )]
    NotWasm { path: PathBuf },
    #[error(
        "{} is a core WebAssembly module, not a wasi:http component; build a component that \
         exports wasi:http/incoming-handler (e.g. cargo build --target wasm32-wasip2 with the \
         wstd crate), or import the module from a JavaScript function with `?module`",
        path.display()
    )]
    CoreModule { path: PathBuf },
    #[error("{} failed to compile: {detail}", path.display())]
    Compile { path: PathBuf, detail: String },
}

/// Compiled components of one engine, in memory and on disk. Shared by every instance of the
/// runtime; `load` may be called concurrently.
pub(crate) struct ComponentCache {
    dir: PathBuf,
    /// Hex digest of the engine's compatibility hash: compiled code of another wasmtime version
    /// or other settings never matches.
    engine_key: String,
    loaded: Mutex<HashMap<String, Component>>,
}

impl ComponentCache {
    pub(crate) fn new(engine: &Engine, dir: PathBuf) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex(&hasher.0.finalize()[..8]);
        Self {
            dir,
            engine_key,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache file for a component with these bytes.
    pub(crate) fn file_for(&self, bytes: &[u8]) -> PathBuf {
        self.dir.join(format!(
            "{}-{}.cwasm",
            hex(&Sha256::digest(bytes)[..16]),
            self.engine_key
        ))
    }

    /// Loads the component at `path`: from memory, else from the disk cache, else by compiling
    /// it (and writing the cache). Blocking (compilation takes up to seconds): call it from a
    /// blocking thread.
    ///
    /// `name` is the file as users know it (e.g. `api/hello.wasm`), for error messages.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        path: &Path,
        name: &Path,
    ) -> Result<(Component, Loaded), LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: name.to_owned(),
            source,
        })?;
        match wasm_kind(&bytes) {
            WasmKind::Component => {}
            WasmKind::CoreModule => {
                return Err(LoadError::CoreModule {
                    path: name.to_owned(),
                });
            }
            WasmKind::NotWasm => {
                return Err(LoadError::NotWasm {
                    path: name.to_owned(),
                });
            }
        }
        let file = self.file_for(&bytes);
        let key = file.to_string_lossy().into_owned();
        if let Some(component) = self.memo().get(&key) {
            return Ok((component.clone(), Loaded::Memory));
        }
        let (component, loaded) = match file.is_file().then(|| deserialize(engine, &file)) {
            Some(Ok(component)) => (component, Loaded::Disk),
            Some(Err(error)) => {
                tracing::warn!(name: "spawn", cache = %file.display(), "ignoring an unreadable compiled component, compiling again: {error}");
                (self.compile(engine, name, &bytes, &file)?, Loaded::Compiled)
            }
            None => (self.compile(engine, name, &bytes, &file)?, Loaded::Compiled),
        };
        self.memo().insert(key, component.clone());
        Ok((component, loaded))
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, HashMap<String, Component>> {
        // A panic while holding the lock cannot leave the map half-updated (one insert).
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Compiles `bytes`, writes the result to `file` (atomically, via a temporary file in the same
    /// directory) and maps it back. When the cache directory is not writable the component is
    /// still served, from memory.
    fn compile(
        &self,
        engine: &Engine,
        path: &Path,
        bytes: &[u8],
        file: &Path,
    ) -> Result<Component, LoadError> {
        let started = std::time::Instant::now();
        let compiled = engine
            .precompile_component(bytes)
            .map_err(|error| LoadError::Compile {
                path: path.to_owned(),
                detail: format!("{error:?}"),
            })?;
        tracing::info!(name: "spawn", component = %path.display(), elapsed_ms = started.elapsed().as_millis() as u64, "compiled wasm component");
        match write_atomically(&self.dir, file, &compiled) {
            Ok(()) => match deserialize(engine, file) {
                Ok(component) => return Ok(component),
                Err(error) => {
                    tracing::warn!(name: "spawn", cache = %file.display(), "cannot map the compiled component just written: {error}");
                }
            },
            Err(error) => {
                tracing::warn!(name: "spawn", cache = %self.dir.display(), "cannot write the wasm compile cache (components will compile again on the next start): {error}");
            }
        }
        // Compiling from bytes again is cheaper than failing the function.
        Component::new(engine, bytes).map_err(|error| LoadError::Compile {
            path: path.to_owned(),
            detail: format!("{error:?}"),
        })
    }
}

/// Maps a compiled component written by [`ComponentCache::compile`].
#[expect(
    unsafe_code,
    reason = "wasmtime can only load precompiled machine code through an unsafe constructor"
)]
fn deserialize(engine: &Engine, file: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be machine code produced by
    // `Engine::precompile_component` and not to change while mapped. The file lives in eddy's own
    // cache directory, is only ever created by `compile` above through an atomic rename (so it is
    // never seen half-written and is replaced, not modified, when rewritten), and its name carries
    // the SHA-256 of the component's bytes plus this engine's compatibility hash, so it can only
    // be the output of compiling exactly these bytes with exactly these engine settings. wasmtime
    // additionally checks the header's version and settings and refuses a mismatch.
    unsafe { Component::deserialize_file(engine, file) }
}

fn write_atomically(dir: &Path, file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Feeds `Hash` data into SHA-256, so the engine key is stable across processes (std's
/// `DefaultHasher` is not promised to be).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(
            digest[..8]
                .try_into()
                .expect("a sha256 digest has 32 bytes"),
        )
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_tell_components_from_core_modules_and_other_files() {
        assert_eq!(
            wasm_kind(&[0, b'a', b's', b'm', 0x0d, 0, 1, 0, 0]),
            WasmKind::Component
        );
        assert_eq!(
            wasm_kind(&[0, b'a', b's', b'm', 1, 0, 0, 0]),
            WasmKind::CoreModule
        );
        assert_eq!(wasm_kind(b"\0asm"), WasmKind::NotWasm);
        assert_eq!(wasm_kind(b"#!/bin/sh\nexit 0\n"), WasmKind::NotWasm);
    }

    #[test]
    fn cache_file_names_change_with_the_component_bytes() {
        let engine = Engine::default();
        let cache = ComponentCache::new(&engine, PathBuf::from("/cache"));
        let a = cache.file_for(b"component a");
        assert_eq!(a, cache.file_for(b"component a"));
        assert_ne!(a, cache.file_for(b"component b"));
        assert!(a.starts_with("/cache"));
        assert_eq!(a.extension().and_then(|e| e.to_str()), Some("cwasm"));
    }

    #[test]
    fn a_core_module_is_refused_with_a_message_that_says_how_to_fix_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.wasm");
        std::fs::write(&path, [0, b'a', b's', b'm', 1, 0, 0, 0]).expect("write");
        let engine = Engine::default();
        let cache = ComponentCache::new(&engine, dir.path().join("cache"));
        let Err(error) = cache.load(&engine, &path, Path::new("api/x.wasm")) else {
            panic!("a core module was loaded as a component");
        };
        let message = error.to_string();
        assert!(
            message
                .starts_with("api/x.wasm is a core WebAssembly module, not a wasi:http component"),
            "{message}"
        );
        assert!(message.contains("?module"), "{message}");
    }
}
