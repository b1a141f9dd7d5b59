//! File watching for `eddy dev`: a change anywhere in the project (outside `node_modules`,
//! `.vercel` and `.git`) triggers one reload after a short quiet period.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use notify::{RecursiveMode, Watcher};

/// How long to wait for more events after the first one, so a save that touches several files
/// reloads once.
const SETTLE: Duration = Duration::from_millis(30);

/// Watches `dir` and calls `on_change` (on a blocking thread) after each burst of changes.
/// Dropping the returned watcher stops watching.
pub fn watch(
    dir: &Path,
    on_change: impl Fn() + Send + 'static,
) -> anyhow::Result<notify::RecommendedWatcher> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        if event.paths.iter().all(|p| ignored(p)) {
            return;
        }
        let _ = tx.send(());
    })
    .context("starting the file watcher")?;
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    std::thread::Builder::new()
        .name("eddy-watch".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                while rx.recv_timeout(SETTLE).is_ok() {}
                on_change();
            }
        })
        .context("starting the reload thread")?;
    Ok(watcher)
}

fn ignored(path: &Path) -> bool {
    path.components().any(|c| {
        let c = c.as_os_str();
        c == "node_modules" || c == ".vercel" || c == ".git"
    })
}
