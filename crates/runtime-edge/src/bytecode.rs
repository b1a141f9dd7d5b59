//! The bytecode cache: every bundle is compiled to QuickJS bytecode once per file version
//! (keyed by path, modification time and size), kept in memory and on disk next to the bundle
//! as `<bundle>.qjsbc`, so a new isolate only loads bytecode and never parses JavaScript.
//!
//! Compiling needs a context with the eval intrinsic; isolates have none. Compilation therefore
//! runs in a throwaway runtime of its own, and isolates only read the result.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use rquickjs::{Context, Ctx, Module, Runtime, WriteOptions};

/// A compiled module, shared by every isolate that loads it. QuickJS reads bytecode without
/// copying its constant data, so the bytes must outlive each context that loaded them: isolates
/// keep an `Arc` of every `Bytecode` they load until their runtime is gone.
pub(crate) type Bytecode = Arc<Vec<u8>>;

/// Magic prefix of `.qjsbc` files: eddy's format, then the QuickJS version the bytes are for, so
/// a file from another build is recompiled instead of loaded.
const MAGIC: &str = concat!("eddy-qjsbc-1 quickjs-ng ", "0.14", "\n");

/// Why a bundle could not be compiled or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("cannot read the edge bundle {path}: {source} (was the function built?)")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the edge bundle {path} does not compile: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("quickjs could not start to compile {path}: {message}")]
    Engine { path: PathBuf, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    path: PathBuf,
    modified: Option<SystemTime>,
    len: u64,
}

/// In-memory map of compiled bundles, backed by `.qjsbc` files. Shared by all isolates of one
/// [`crate::EdgeRuntime`].
#[derive(Debug, Default)]
pub(crate) struct BytecodeCache {
    entries: Mutex<HashMap<PathBuf, (Key, Bytecode)>>,
    /// Whether `.qjsbc` files are read and written next to bundles.
    pub(crate) on_disk: bool,
}

impl BytecodeCache {
    pub(crate) fn new(on_disk: bool) -> Self {
        Self {
            entries: Mutex::default(),
            on_disk,
        }
    }

    /// The bytecode of the bundle at `path`, compiled now if the file changed since last time.
    /// Blocking: call it off the async executor.
    pub(crate) fn get(&self, path: &Path) -> Result<Bytecode, CompileError> {
        let meta = std::fs::metadata(path).map_err(|source| CompileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let key = Key {
            path: path.to_path_buf(),
            modified: meta.modified().ok(),
            len: meta.len(),
        };
        if let Some((cached, bytes)) = self.lock().get(path)
            && *cached == key
        {
            return Ok(bytes.clone());
        }
        let stamp = stamp(&key);
        let disk = disk_path(path);
        let bytes = match self.on_disk.then(|| read_disk(&disk, &stamp)).flatten() {
            Some(bytes) => bytes,
            None => {
                let source = std::fs::read(path).map_err(|source| CompileError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let bytes = compile_bundle(path, &source)?;
                if self.on_disk {
                    write_disk(&disk, &stamp, &bytes);
                }
                bytes
            }
        };
        let bytes = Arc::new(bytes);
        self.lock().insert(path.to_path_buf(), (key, bytes.clone()));
        Ok(bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (Key, Bytecode)>> {
        // A panic while holding the lock leaves a consistent map (inserts are single calls).
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn stamp(key: &Key) -> String {
    let modified = key
        .modified
        .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{MAGIC}{modified} {}\n", key.len)
}

fn disk_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.as_os_str().to_os_string();
    name.push(".qjsbc");
    PathBuf::from(name)
}

fn read_disk(path: &Path, stamp: &str) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    bytes.strip_prefix(stamp.as_bytes()).map(<[u8]>::to_vec)
}

fn write_disk(path: &Path, stamp: &str, bytes: &[u8]) {
    let mut out = Vec::with_capacity(stamp.len() + bytes.len());
    out.extend_from_slice(stamp.as_bytes());
    out.extend_from_slice(bytes);
    // Written beside and renamed, so a concurrent reader never sees half a file. A read-only
    // directory only costs the disk cache.
    let tmp = path.with_extension(format!("qjsbc.{}", std::process::id()));
    if std::fs::write(&tmp, &out).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Compiles an esbuild IIFE bundle (`var __eddy_edge = (() => …)()`) as a module that
/// publishes its exports on `globalThis.__eddy_edge`.
fn compile_bundle(path: &Path, source: &[u8]) -> Result<Vec<u8>, CompileError> {
    let mut module = source.to_vec();
    module.extend_from_slice(
        b"\n;globalThis.__eddy_edge = typeof __eddy_edge === 'undefined' ? undefined : __eddy_edge;\n",
    );
    let name = path.to_string_lossy().into_owned();
    compile_module(&name, module).map_err(|e| match e {
        ModuleCompileError::Engine(message) => CompileError::Engine {
            path: path.to_path_buf(),
            message,
        },
        ModuleCompileError::Syntax(message) => CompileError::Syntax {
            path: path.to_path_buf(),
            message,
        },
    })
}

enum ModuleCompileError {
    Engine(String),
    Syntax(String),
}

fn compile_module(name: &str, source: Vec<u8>) -> Result<Vec<u8>, ModuleCompileError> {
    let rt = Runtime::new().map_err(|e| ModuleCompileError::Engine(e.to_string()))?;
    let ctx = Context::full(&rt).map_err(|e| ModuleCompileError::Engine(e.to_string()))?;
    ctx.with(|ctx| {
        let module = Module::declare(ctx.clone(), name, source)
            .map_err(|e| ModuleCompileError::Syntax(describe(&ctx, e)))?;
        module
            .write(WriteOptions::default())
            .map_err(|e| ModuleCompileError::Engine(describe(&ctx, e)))
    })
}

/// The Web API prelude, compiled once per process.
pub(crate) fn prelude() -> Bytecode {
    static PRELUDE: OnceLock<Bytecode> = OnceLock::new();
    PRELUDE
        .get_or_init(|| {
            let source = crate::prelude::SOURCE.as_bytes().to_vec();
            match compile_module("eddy:prelude", source) {
                Ok(bytes) => Arc::new(bytes),
                Err(ModuleCompileError::Engine(m) | ModuleCompileError::Syntax(m)) => {
                    panic!("the embedded edge prelude must compile: {m}")
                }
            }
        })
        .clone()
}

/// Declares a module from bytecode written by [`compile_module`] in this process or read back
/// from a `.qjsbc` file carrying our stamp.
#[expect(
    unsafe_code,
    reason = "QuickJS has no safe bytecode reader; the bytes are our own compiler's output"
)]
pub(crate) fn load<'js>(ctx: &Ctx<'js>, bytes: &Bytecode) -> rquickjs::Result<Module<'js>> {
    // SAFETY: `bytes` is output of `Module::write` by this QuickJS build: either produced in
    // this process or read from a `.qjsbc` file whose stamp names this format and QuickJS
    // version. The caller keeps `bytes` alive as long as the runtime (QuickJS reads it as ROM
    // data without copying).
    unsafe { Module::load(ctx.clone(), bytes) }
}

/// The message and stack of the pending exception, or the error itself.
pub(crate) fn describe(ctx: &Ctx<'_>, error: rquickjs::Error) -> String {
    if !matches!(error, rquickjs::Error::Exception) {
        return error.to_string();
    }
    describe_value(&ctx.catch())
}

/// A thrown or rejected value as text: an error's message and stack, else the value itself.
pub(crate) fn describe_value(value: &rquickjs::Value<'_>) -> String {
    if let Some(exception) = value.as_exception() {
        let message = exception.message().unwrap_or_default();
        let name = exception
            .get::<_, String>("name")
            .unwrap_or_else(|_| "Error".into());
        return match exception.stack() {
            Some(stack) if !stack.is_empty() => format!("{name}: {message}\n{stack}"),
            _ => format!("{name}: {message}"),
        };
    }
    if let Some(text) = value.as_string().and_then(|s| s.to_string().ok()) {
        return text;
    }
    value
        .ctx()
        .json_stringify(value.clone())
        .ok()
        .flatten()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| format!("{value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_once_and_reuses_the_disk_copy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle = dir.path().join("fn.js");
        std::fs::write(&bundle, "var __eddy_edge = { answer: 42 };").expect("write");
        let cache = BytecodeCache::new(true);
        let first = cache.get(&bundle).expect("compiles");
        assert!(disk_path(&bundle).exists(), "a .qjsbc file is written");
        let again = BytecodeCache::new(true)
            .get(&bundle)
            .expect("reads the disk copy");
        assert_eq!(first, again);
    }

    #[test]
    fn a_syntax_error_names_the_bundle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle = dir.path().join("broken.js");
        std::fs::write(&bundle, "var = ;").expect("write");
        let err = BytecodeCache::new(false).get(&bundle).expect_err("fails");
        assert!(err.to_string().contains("broken.js"), "{err}");
        assert!(matches!(err, CompileError::Syntax { .. }));
    }

    #[test]
    fn a_stale_disk_copy_is_recompiled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle = dir.path().join("fn.js");
        std::fs::write(disk_path(&bundle), b"garbage").expect("write");
        std::fs::write(&bundle, "var __eddy_edge = {};").expect("write");
        let bytes = BytecodeCache::new(true).get(&bundle).expect("compiles");
        assert!(!bytes.is_empty());
        let disk = std::fs::read(disk_path(&bundle)).expect("rewritten");
        assert!(disk.starts_with(MAGIC.as_bytes()));
    }
}
