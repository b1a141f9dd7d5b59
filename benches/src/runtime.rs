//! The runtimes measured: for each, a hello project under `benches/<name>-hello/` that eddy
//! serves, and its peer: the same handler on the language's own server, started the way a
//! user would without eddy, with the clean environment eddy gives its instances.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::ValueEnum;

use crate::measure::{Guard, clean_env, start, start_listening};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Runtime {
    Node,
    Python,
    Go,
    Ruby,
    Rust,
    Bun,
    /// A wasi:http component, against `wasmtime serve` on the same component.
    Wasm,
    /// An Edge handler (QuickJS isolates in eddy), against Vercel's edge-runtime emulator and
    /// Cloudflare's workerd on the same handler.
    Edge,
}

impl Runtime {
    /// Every runtime `--runtime all` measures; wasm and edge are measured on request
    /// (`--runtime wasm`, `--runtime edge`) since their peers need tools installed (the
    /// wasmtime CLI; `npm install --prefix benches` for edge-runtime and workerd).
    pub const ALL: [Runtime; 6] = [
        Runtime::Node,
        Runtime::Python,
        Runtime::Go,
        Runtime::Ruby,
        Runtime::Rust,
        Runtime::Bun,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Runtime::Node => "node",
            Runtime::Python => "python",
            Runtime::Go => "go",
            Runtime::Ruby => "ruby",
            Runtime::Rust => "rust",
            Runtime::Bun => "bun",
            Runtime::Wasm => "wasm",
            Runtime::Edge => "edge",
        }
    }

    /// What the first peer is, for the printed figures.
    pub fn peer_name(self) -> &'static str {
        match self {
            Runtime::Node => "node http.createServer",
            Runtime::Python => "python ThreadingHTTPServer",
            Runtime::Go => "go net/http",
            Runtime::Ruby => "ruby WEBrick",
            Runtime::Rust => "vercel_runtime binary, no IPC",
            Runtime::Bun => "bun node:http",
            Runtime::Wasm => "wasmtime serve (same component)",
            Runtime::Edge => "edge-runtime (Vercel's emulator)",
        }
    }

    pub fn project(self, root: &Path) -> PathBuf {
        root.join("benches").join(format!("{}-hello", self.name()))
    }

    /// Every peer eddy is compared with: one for most runtimes, two for edge (the second is
    /// workerd, serving the same handler from `peer.capnp`).
    pub fn peers(self, root: &Path, work: &Path) -> anyhow::Result<Vec<(&'static str, Peer)>> {
        let first = (self.peer_name(), self.peer(root, work)?);
        if self != Runtime::Edge {
            return Ok(vec![first]);
        }
        let workerd = Peer {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                "exec \"$0\" serve peer.capnp --socket-addr \"http=127.0.0.1:$VERCEL_DEV_PORT\""
                    .into(),
                node_tool(root, "workerd")?.into(),
            ],
            dir: self.project(root),
            port: PortChoice::Connect,
        };
        Ok(vec![first, ("workerd (Cloudflare)", workerd)])
    }

    /// Builds what the peer needs (not timed) and says how to start it. Compiled runtimes
    /// expect eddy to have built its side already: the Rust peer reuses eddy's target dir.
    fn peer(self, root: &Path, work: &Path) -> anyhow::Result<Peer> {
        let dir = self.project(root);
        let script = |program: PathBuf, file: &str| Peer {
            program,
            args: vec![file.into()],
            dir: dir.clone(),
            port: PortChoice::Printed("listening "),
        };
        Ok(match self {
            Runtime::Node => script("node".into(), "peer.js"),
            Runtime::Python => script(python_executable()?, "peer.py"),
            Runtime::Ruby => script("ruby".into(), "peer.rb"),
            Runtime::Bun => script(bun(root), "peer.js"),
            Runtime::Edge => {
                node_tool(root, "edge-runtime")?;
                script("node".into(), "peer-edge-runtime.js")
            }
            // `wasmtime serve` prints its address on stderr and cannot pick a free port itself.
            Runtime::Wasm => Peer {
                program: "sh".into(),
                args: vec![
                    "-c".into(),
                    "exec \"$0\" serve --addr \"127.0.0.1:$VERCEL_DEV_PORT\" api/hello.wasm 2>&1"
                        .into(),
                    wasmtime()?.into(),
                ],
                dir,
                port: PortChoice::DevPort("Serving HTTP on"),
            },
            Runtime::Go => {
                let binary = work.join("go-peer");
                run(Command::new("go")
                    .args(["build", "-o"])
                    .arg(&binary)
                    .arg("./peer")
                    .current_dir(&dir))?;
                Peer {
                    program: binary,
                    args: Vec::new(),
                    dir,
                    port: PortChoice::Printed("listening "),
                }
            }
            Runtime::Rust => {
                let target = dir.join(".vercel/eddy/rust/target");
                run(Command::new("cargo")
                    .args(["build", "--release", "--quiet", "--bin", "hello"])
                    .arg("--manifest-path")
                    .arg(dir.join("Cargo.toml"))
                    .arg("--target-dir")
                    .arg(&target))?;
                Peer {
                    program: target.join("release/hello"),
                    args: Vec::new(),
                    dir,
                    port: PortChoice::DevPort("Dev server listening: "),
                }
            }
        })
    }
}

/// How a peer's port is known.
#[derive(Debug, Clone, Copy)]
enum PortChoice {
    /// The peer binds port 0 and prints the port after this marker.
    Printed(&'static str),
    /// The peer binds `VERCEL_DEV_PORT` (vercel_runtime, which reports `0` as is) and prints
    /// this marker once listening.
    DevPort(&'static str),
    /// The peer binds `VERCEL_DEV_PORT` and prints nothing (workerd): it is up once a TCP
    /// connection to the port succeeds.
    Connect,
}

/// How to start one runtime's peer.
#[derive(Debug, Clone)]
pub struct Peer {
    program: PathBuf,
    args: Vec<OsString>,
    dir: PathBuf,
    port: PortChoice,
}

impl Peer {
    /// Starts the peer and returns it with its base URL once it listens.
    pub fn start(&self) -> anyhow::Result<(Guard, String)> {
        let mut command = Command::new(&self.program);
        command.args(&self.args).current_dir(&self.dir);
        clean_env(&mut command);
        let (guard, port) = match self.port {
            PortChoice::Printed(marker) => start(command, marker)?,
            PortChoice::DevPort(marker) => {
                let port = free_port()?;
                command.env("VERCEL_DEV_PORT", port.to_string());
                (start(command, marker)?.0, port.to_string())
            }
            PortChoice::Connect => {
                let port = free_port()?;
                command.env("VERCEL_DEV_PORT", port.to_string());
                (start_listening(command, port)?, port.to_string())
            }
        };
        Ok((guard, format!("http://127.0.0.1:{port}")))
    }
}

/// A port free right now (released before the peer binds it; nothing else here races for it).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The real interpreter behind `python3`, as eddy runs it (a pyenv shim adds ~50 ms a start).
fn python_executable() -> anyhow::Result<PathBuf> {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .context("running python3")?;
    let path = String::from_utf8(output.stdout)?.trim().to_string();
    if !output.status.success() || path.is_empty() {
        bail!("python3 did not print its sys.executable");
    }
    Ok(path.into())
}

/// The `bun` eddy finds for a project in this repository: `node_modules/.bin/bun` at the root
/// (`./x setup` installs it), else `bun` on `PATH`.
fn bun(root: &Path) -> PathBuf {
    let local = root.join("node_modules/.bin/bun");
    if local.exists() {
        local
    } else {
        PathBuf::from("bun")
    }
}

/// A tool benches/package.json installs (`npm install --prefix benches`, run by `./x bench`), by its
/// `node_modules/.bin` name; an error saying how to install it when it is missing.
fn node_tool(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = root.join("benches/node_modules/.bin").join(name);
    if !path.exists() {
        bail!(
            "the edge peers need {name}: run `./x bench` (or `npm install --prefix benches`) ({} is missing)",
            path.display()
        );
    }
    Ok(path)
}

/// The `wasmtime` CLI: `$WASMTIME`, else `wasmtime` on `PATH`.
fn wasmtime() -> anyhow::Result<PathBuf> {
    let program = std::env::var_os("WASMTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("wasmtime"));
    let found = Command::new(&program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        bail!(
            "the wasm peer needs the wasmtime CLI: `cargo install wasmtime-cli@48.0.8 --locked`, \
             or set WASMTIME to its path"
        );
    }
    Ok(program)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let what = format!("{command:?}");
    let output = command
        .output()
        .with_context(|| format!("running {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
