//! Edge functions (`export const config = { runtime: 'edge' }`): bundled whole by esbuild for
//! the browser platform into one script that publishes the module's exports as
//! `globalThis.__eddy_edge` (the input contract of `eddy-runtime-edge`), npm dependencies and
//! TypeScript included. The Node built-ins Vercel allows at the edge (vercel-compat 7.1:
//! `buffer`, `events`, `async_hooks`, `assert`, `util`, with or without `node:`) resolve to
//! small shims written into the cache; any other built-in fails the build with a message that
//! names it. Runs through the same esbuild job machinery as `transpile`.

use std::path::{Path, PathBuf};

/// The Node built-ins an Edge function may import, with the shim that provides each.
const SHIMS: &[(&str, &str)] = &[
    ("buffer", include_str!("edge/buffer.js")),
    ("events", include_str!("edge/events.js")),
    ("async_hooks", include_str!("edge/async_hooks.js")),
    ("assert", include_str!("edge/assert.js")),
    ("util", include_str!("edge/util.js")),
];

/// The suffix of an Edge bundle in the cache, next to the function's path.
pub(crate) const BUNDLE_SUFFIX: &str = ".edge.js";

/// Writes the shims into `cache_dir/edge-shims/` (only those whose content changed, so
/// esbuild's freshness check keeps working) and returns that directory.
pub(crate) fn write_shims(cache_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = cache_dir.join("edge-shims");
    std::fs::create_dir_all(&dir)?;
    for (name, source) in SHIMS {
        let file = dir.join(format!("{name}.js"));
        if std::fs::read_to_string(&file).ok().as_deref() != Some(*source) {
            std::fs::write(&file, source)?;
        }
    }
    Ok(dir)
}

/// esbuild's arguments for one Edge function.
pub(crate) fn arguments(
    source_rel: &str,
    bundle: &Path,
    metafile: &Path,
    shims: &Path,
) -> Vec<String> {
    let mut args = vec![
        source_rel.to_owned(),
        "--bundle".into(),
        "--platform=browser".into(),
        "--format=iife".into(),
        "--global-name=__eddy_edge".into(),
        "--conditions=edge-light,browser,module,import".into(),
        "--main-fields=browser,module,main".into(),
        "--target=es2023".into(),
        "--sourcemap".into(),
        "--log-level=error".into(),
        format!("--outfile={}", bundle.display()),
        format!("--metafile={}", metafile.display()),
        // `import.meta.url` has no meaning in a bundle; Vercel replaces it by a string too.
        "--define:import.meta.url=\"file:///edge-function.js\"".into(),
    ];
    for (name, _) in SHIMS {
        let shim = shims.join(format!("{name}.js"));
        args.push(format!("--alias:{name}={}", shim.display()));
        args.push(format!("--alias:node:{name}={}", shim.display()));
    }
    args
}

/// esbuild's stderr, with what to do when the function imports a Node built-in the Edge
/// runtime does not have.
pub(crate) fn explain(stderr: String) -> String {
    let unsupported = stderr
        .lines()
        .filter_map(|line| line.split_once("Could not resolve \"")?.1.split_once('"'))
        .map(|(name, _)| name)
        .find(|name| name.starts_with("node:") || is_node_builtin(name));
    match unsupported {
        Some(name) => format!(
            "{stderr}\nthe edge runtime has no {name:?}: edge functions may import only buffer, events, async_hooks, assert and util of Node's built-ins (remove the import, or drop `runtime: 'edge'` to run the function on Node.js)"
        ),
        None => stderr,
    }
}

fn is_node_builtin(name: &str) -> bool {
    const BUILTINS: &[&str] = &[
        "fs",
        "fs/promises",
        "path",
        "os",
        "net",
        "tls",
        "http",
        "https",
        "http2",
        "crypto",
        "child_process",
        "stream",
        "zlib",
        "dns",
        "dgram",
        "cluster",
        "worker_threads",
        "vm",
        "readline",
        "url",
        "querystring",
        "string_decoder",
        "tty",
        "module",
        "process",
        "perf_hooks",
    ];
    BUILTINS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_allowed_builtin_is_aliased_with_and_without_the_node_prefix() {
        let args = arguments(
            "api/e.ts",
            Path::new("/c/api/e.edge.js"),
            Path::new("/c/api/e.meta.json"),
            Path::new("/c/edge-shims"),
        );
        for name in ["buffer", "events", "async_hooks", "assert", "util"] {
            assert!(args.contains(&format!("--alias:{name}=/c/edge-shims/{name}.js")));
            assert!(args.contains(&format!("--alias:node:{name}=/c/edge-shims/{name}.js")));
        }
        assert!(args.contains(&"--global-name=__eddy_edge".to_owned()));
        assert!(args.contains(&"--platform=browser".to_owned()));
    }

    #[test]
    fn an_unsupported_builtin_is_named_with_what_to_do() {
        let stderr = "✘ [ERROR] Could not resolve \"node:fs\"\n\n    api/e.js:1:15:".to_owned();
        let message = explain(stderr);
        assert!(
            message.contains("the edge runtime has no \"node:fs\""),
            "{message}"
        );
        assert!(message.contains("runtime: 'edge'"), "{message}");
        let other = explain("✘ [ERROR] Could not resolve \"left-pad\"".to_owned());
        assert!(!other.contains("edge runtime has no"), "{other}");
    }

    #[test]
    fn shims_are_written_once_and_left_alone_when_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shims = write_shims(dir.path()).expect("written");
        let file = shims.join("buffer.js");
        let before = std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .expect("mtime");
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_shims(dir.path()).expect("written");
        let after = std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .expect("mtime");
        assert_eq!(before, after);
    }
}
