//! The Ruby launcher: `launchers/ruby/*.rb` run by `ruby`, serving a `Handler` (a Proc or a
//! WEBrick servlet) or a Rack `*.ru` app with WEBrick, one thread per connection.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eddy_runtime::{BoxFuture, InstanceSpec, SpawnError};

use super::{
    Launch, Prepared, find_program, parse_major_minor, probe_output, toolchain_missing,
    write_assets,
};
use crate::ProcessRuntime;

/// The Ruby launcher's files, written side by side into one directory; `launcher.rb` is the
/// entry point and loads the others with `require_relative`.
const RUBY_ASSETS: &[(&str, &str)] = &[
    (
        "launcher.rb",
        include_str!("../../launchers/ruby/launcher.rb"),
    ),
    ("ipc.rb", include_str!("../../launchers/ruby/ipc.rb")),
    ("server.rb", include_str!("../../launchers/ruby/server.rb")),
    (
        "rack_adapter.rb",
        include_str!("../../launchers/ruby/rack_adapter.rb"),
    ),
];

/// The oldest Ruby the launcher supports (it uses Ruby 3.0 syntax; Vercel's oldest live
/// runtime is `ruby3.2`, Debian bookworm ships 3.1).
const MIN_RUBY: (u32, u32) = (3, 0);

/// How to install what the launcher needs, for error messages.
const INSTALL: &str = "install Ruby 3 with WEBrick and Rack, e.g. `apt-get install ruby ruby-webrick ruby-rack ruby-bundler` (or run `./x setup`), or configure the ruby binary eddy uses";

/// Variables Vercel's Ruby runtime defaults (`vc_init.rb`, also under `vercel dev`); a value
/// the function's own environment sets wins.
const DEFAULT_ENV: &[(&str, &str)] = &[
    ("RACK_ENV", "production"),
    ("RAILS_ENV", "production"),
    ("RAILS_LOG_TO_STDOUT", "1"),
];

/// How eddy runs Ruby functions.
#[derive(Debug, Clone)]
pub struct RubyConfig {
    /// The `ruby` binary: a path, or a name looked up on eddy's `PATH`.
    pub ruby: PathBuf,
    /// How long an instance may take from spawn to `server-started`, loading the function and
    /// its bundle included.
    pub spawn_timeout: Duration,
}

impl Default for RubyConfig {
    fn default() -> Self {
        Self {
            ruby: PathBuf::from("ruby"),
            spawn_timeout: Duration::from_secs(20),
        }
    }
}

impl ProcessRuntime {
    /// Ruby functions (`ruby3.1`, `ruby3.3`, ...): `api/**/*.rb` defining `Handler` and Rack
    /// `*.ru` apps, served by eddy's WEBrick launcher with concurrent requests in one process.
    pub fn ruby(config: RubyConfig) -> Self {
        Self::with_launcher(config)
    }
}

impl Launch for RubyConfig {
    fn name(&self) -> &'static str {
        "ruby"
    }

    fn spawn_timeout(&self) -> Duration {
        self.spawn_timeout
    }

    fn prepare<'a>(
        &'a self,
        spec: &'a InstanceSpec,
    ) -> BoxFuture<'a, Result<Prepared, SpawnError>> {
        Box::pin(prepare_ruby(self, spec))
    }

    /// A function with a Gemfile (its handler is the build's bundle manifest, `.json`) needs
    /// RubyGems and Bundler; any other one can only use the standard library (as on Vercel,
    /// where gems come from the Gemfile alone) and starts without RubyGems.
    fn command(&self, prepared: &Prepared, spec: &InstanceSpec) -> (PathBuf, Vec<OsString>) {
        let args = match &prepared.lean_args {
            Some(lean) if !spec.handler.ends_with(".json") => lean.clone(),
            _ => prepared.args.clone(),
        };
        (prepared.program.clone(), args)
    }

    fn env(&self, spec: &InstanceSpec) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = DEFAULT_ENV
            .iter()
            .filter(|(key, _)| !spec.env.contains_key(*key))
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        env.push(("EDDY_HANDLER".into(), spec.handler.clone()));
        env
    }
}

async fn prepare_ruby(config: &RubyConfig, spec: &InstanceSpec) -> Result<Prepared, SpawnError> {
    let missing = |detail: String| toolchain_missing(spec, detail);
    let program = find_program(spec, &config.ruby, INSTALL)?;
    let probe = probe(&program).await.map_err(|error| {
        missing(format!(
            "`{}` cannot run the launcher: {error} ({INSTALL})",
            program.display()
        ))
    })?;
    let version = &probe.version;
    match parse_ruby_version(version) {
        Some(found) if found >= MIN_RUBY => {}
        Some(_) => {
            return Err(missing(format!(
                "ruby {version} is too old, eddy needs {}.{} or newer ({INSTALL})",
                MIN_RUBY.0, MIN_RUBY.1
            )));
        }
        None => {
            return Err(missing(format!(
                "`{}` reported an unexpected version {version:?} ({INSTALL})",
                program.display()
            )));
        }
    }
    let dir = write_assets(spec, "ruby", RUBY_ASSETS).await?;
    let launcher = dir.path().join("launcher.rb").into_os_string();
    // Without RubyGems (half of a bare `ruby`'s start-up), with WEBrick's and Rack's library
    // directories put on the load path by hand.
    let mut lean_args: Vec<OsString> = vec!["--disable-gems".into()];
    for path in &probe.server_paths {
        lean_args.extend(["-I".into(), path.into()]);
    }
    lean_args.push(launcher.clone());
    Ok(Prepared {
        program,
        // Skip did_you_mean and error_highlight: they only slow every start.
        args: vec![
            "--disable-did_you_mean".into(),
            "--disable-error_highlight".into(),
            launcher,
        ],
        lean_args: Some(lean_args),
        _assets: Some(dir),
    })
}

/// What one run of `ruby` told about itself.
#[derive(Debug, PartialEq)]
struct Probe {
    version: String,
    /// Where the installed WEBrick and Rack load from (RubyGems' view).
    server_paths: Vec<String>,
}

/// Runs `ruby` once: its version, whether WEBrick (the launcher's server) loads, and where
/// WEBrick and Rack live.
async fn probe(program: &Path) -> std::io::Result<Probe> {
    let script = "begin; require 'webrick'; rescue LoadError; print 'no-webrick'; exit 3; end; \
                  puts RUBY_VERSION; \
                  %w[webrick rack].each { |n| begin; Gem::Specification.find_by_name(n).full_require_paths.each { |p| puts 'I ' + p }; rescue Gem::MissingSpecError; end }";
    let output = probe_output(
        tokio::process::Command::new(program)
            .args([OsString::from("-e"), OsString::from(script)])
            .env_clear()
            .envs(std::env::var_os("PATH").map(|path| ("PATH", path)))
            .envs(std::env::var_os("HOME").map(|home| ("HOME", home))),
        Duration::from_secs(20),
        "it hung for 20 s",
    )
    .await?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if stdout == "no-webrick" {
        return Err(std::io::Error::other(
            "the webrick library is not installed",
        ));
    }
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "it failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(parse_probe(&stdout))
}

fn parse_probe(stdout: &str) -> Probe {
    let mut lines = stdout.lines();
    let version = lines.next().unwrap_or_default().trim().to_string();
    let server_paths = lines
        .filter_map(|line| line.strip_prefix("I "))
        .map(str::to_string)
        .collect();
    Probe {
        version,
        server_paths,
    }
}

/// `3.1.7` → `(3, 1)`.
fn parse_ruby_version(version: &str) -> Option<(u32, u32)> {
    parse_major_minor(version)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn spec(env: &[(&str, &str)]) -> InstanceSpec {
        InstanceSpec {
            function: "api/hello".into(),
            runtime: "ruby3.1".into(),
            root: PathBuf::from("/project"),
            handler: "api/hello.rb".into(),
            source: PathBuf::from("/project/api/hello.rb"),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            memory_mb: 1024,
            max_duration: Duration::from_secs(10),
            options: serde_json::Value::Null,
        }
    }

    #[test]
    fn reads_the_version_and_the_server_library_paths_from_the_probe() {
        let probe = parse_probe("3.1.7\nI /gems/webrick-1.8.1/lib\nI /gems/rack-2.2.22/lib\n");
        assert_eq!(
            probe,
            Probe {
                version: "3.1.7".into(),
                server_paths: vec![
                    "/gems/webrick-1.8.1/lib".into(),
                    "/gems/rack-2.2.22/lib".into()
                ],
            }
        );
    }

    #[test]
    fn parses_ruby_version_strings() {
        assert_eq!(parse_ruby_version("3.1.7"), Some((3, 1)));
        assert_eq!(parse_ruby_version("2.7.0"), Some((2, 7)));
        assert_eq!(parse_ruby_version("no-webrick"), None);
    }

    #[test]
    fn rack_env_defaults_to_production_unless_the_function_sets_it() {
        let env = RubyConfig::default().env(&spec(&[("RACK_ENV", "staging")]));
        let get = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        assert_eq!(get("RACK_ENV"), None, "the function's own value is kept");
        assert_eq!(get("RAILS_ENV"), Some("production"));
        assert_eq!(get("EDDY_HANDLER"), Some("api/hello.rb"));
    }

    #[test]
    fn every_required_launcher_file_is_embedded() {
        let mut requires = 0;
        for (name, source) in RUBY_ASSETS {
            for (at, pattern) in source.match_indices("require_relative '") {
                let rest = &source[at + pattern.len()..];
                let required = &rest[..rest.find('\'').unwrap_or(rest.len())];
                let file = format!("{required}.rb");
                assert!(
                    RUBY_ASSETS.iter().any(|(n, _)| *n == file),
                    "{name} requires {file}, which is not embedded"
                );
                requires += 1;
            }
        }
        assert_eq!(requires, RUBY_ASSETS.len() - 1);
    }
}
