//! Edge functions (`export const config = { runtime: 'edge' }`): bundled whole by esbuild for
//! the browser platform into one script that publishes the module's exports as
//! `globalThis.__eddy_edge` (the input contract of `eddy-runtime-edge`), npm dependencies and
//! TypeScript included. The Node built-ins Vercel allows at the edge (vercel-compat 7.1:
//! `buffer`, `events`, `async_hooks`, `assert`, `util`, with or without `node:`) resolve to
//! small shims written into the cache; any other built-in fails the build with a message that
//! names it. Runs through the same esbuild job machinery as `transpile`.

use std::path::{Path, PathBuf};

use eddy_config::route::{Route, SourceRoute};

use crate::detect::{Detected, Language};

/// The function path Routing Middleware is planned under; `eddy-runtime-edge` treats a
/// function of this name as middleware (returning nothing means "continue").
pub(crate) const MIDDLEWARE: &str = "middleware";

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

/// Whether `vercel.json` `functions` makes the file an Edge function (`"runtime": "edge"`).
pub(crate) fn configured_edge(config: &eddy_config::ProjectConfig, source_rel: &str) -> bool {
    config
        .function_config(source_rel)
        .and_then(|(_, function)| function.runtime.as_deref())
        .is_some_and(|runtime| matches!(runtime.trim(), "edge" | "experimental-edge"))
}

/// The project's root Routing Middleware file (`middleware.ts|mts|js|mjs`), if any.
pub(crate) fn detect_middleware(project: &Path) -> Option<Detected> {
    [
        ("middleware.ts", Language::TypeScript),
        ("middleware.mts", Language::TypeScript),
        ("middleware.js", Language::JavaScript),
        ("middleware.mjs", Language::JavaScript),
    ]
    .into_iter()
    .find(|(name, _)| project.join(name).is_file())
    .map(|(name, language)| Detected {
        path: MIDDLEWARE.to_owned(),
        language,
        source: project.join(name),
        source_rel: name.to_owned(),
    })
}

/// The route that runs the middleware before every other (vercel-compat 7.4): `src` from the
/// `config.matcher` patterns, all paths without one.
pub(crate) fn middleware_route(matcher: Option<&[String]>) -> Route {
    let src = match matcher {
        Some(patterns) if !patterns.is_empty() => {
            let alternatives: Vec<String> = patterns.iter().map(|p| matcher_regex(p)).collect();
            format!("^(?:{})$", alternatives.join("|"))
        }
        _ => "^/.*$".to_owned(),
    };
    Route::Source(SourceRoute {
        src,
        middleware_path: Some(MIDDLEWARE.to_owned()),
        middleware_raw_src: matcher.map(<[String]>::to_vec),
        continue_: Some(true),
        r#override: Some(true),
        ..SourceRoute::default()
    })
}

/// One path-to-regexp matcher (`/docs/:path*`, `/api/:id`, `/(.*)`) as a regex body. `/` also
/// matches `/index`, as on Vercel.
fn matcher_regex(pattern: &str) -> String {
    if pattern == "/" {
        return "/|/index".to_owned();
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && chars.get(i + 1) == Some(&':') {
            // `/:name` with an optional modifier: the slash belongs to the parameter.
            let mut j = i + 2;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let (body, next) = group_after(&chars, j).unwrap_or(("[^/]+".to_owned(), j));
            match chars.get(next) {
                Some('*') => out.push_str(&format!("(?:/({body}(?:/{body})*))?")),
                Some('+') => out.push_str(&format!("/({body}(?:/{body})*)")),
                Some('?') => out.push_str(&format!("(?:/({body}))?")),
                _ => {
                    out.push_str(&format!("/({body})"));
                    i = next;
                    continue;
                }
            }
            i = next + 1;
        } else if c == '(' {
            let (body, next) = group_after(&chars, i).unwrap_or((String::new(), i + 1));
            out.push_str(&format!("({body})"));
            i = next;
        } else {
            if ".+*?^$|[]{}\\".contains(c) {
                out.push('\\');
            }
            out.push(c);
            i += 1;
        }
    }
    out
}

/// A balanced `( … )` group starting at `at`: its inner text and the index after it.
fn group_after(chars: &[char], at: usize) -> Option<(String, usize)> {
    if chars.get(at) != Some(&'(') {
        return None;
    }
    let mut depth = 0;
    for (k, c) in chars.iter().enumerate().skip(at) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some((chars[at + 1..k].iter().collect(), k + 1));
                }
            }
            _ => {}
        }
    }
    None
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

    fn matches(matcher: &[&str], path: &str) -> bool {
        let matcher: Vec<String> = matcher.iter().map(|s| (*s).to_owned()).collect();
        let Route::Source(route) = middleware_route(Some(&matcher)) else {
            panic!("a source route");
        };
        fancy_regex::Regex::new(&route.src)
            .expect("compiles")
            .is_match(path)
            .expect("matches")
    }

    #[test]
    fn matchers_follow_path_to_regexp() {
        assert!(matches(&["/docs/:path*"], "/docs"));
        assert!(matches(&["/docs/:path*"], "/docs/a/b"));
        assert!(!matches(&["/docs/:path*"], "/docsx"));
        assert!(matches(&["/api/:id"], "/api/7"));
        assert!(!matches(&["/api/:id"], "/api/7/8"));
        assert!(matches(&["/a/:x+"], "/a/1/2"));
        assert!(!matches(&["/a/:x+"], "/a"));
        assert!(matches(&["/", "/about"], "/index"));
        assert!(matches(&["/", "/about"], "/about"));
        assert!(!matches(&["/", "/about"], "/other"));
        assert!(matches(&["/((?!api|_next).*)"], "/page"));
        assert!(!matches(&["/((?!api|_next).*)"], "/api/x"));
    }

    #[test]
    fn without_a_matcher_the_middleware_runs_everywhere() {
        let Route::Source(route) = middleware_route(None) else {
            panic!("a source route");
        };
        assert_eq!(route.src, "^/.*$");
        assert_eq!(route.middleware_path.as_deref(), Some("middleware"));
        assert_eq!(route.continue_, Some(true));
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
