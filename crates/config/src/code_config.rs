//! In-code function configuration, read statically: `export const config = { ... }` and
//! `export const maxDuration = N` in a JS/TS entry file (vercel-compat §1.1). eddy never runs
//! the file to learn its config; like Vercel's `static-config`, it accepts only literals.

mod scan;

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{ConfigError, KeyPath};
use crate::vercel_json::validate::{validate_max_duration, validate_memory};
use crate::vercel_json::{MaxDuration, MaxKeyword};
use scan::{Kind, Token};

/// The settings a function's own source declares. `None` = not declared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodeConfig {
    pub runtime: Option<CodeRuntime>,
    pub memory: Option<u32>,
    /// From `config.maxDuration`, or `export const maxDuration` (which wins).
    pub max_duration: Option<MaxDuration>,
    pub max_concurrency: Option<u32>,
    /// `preferredRegion` wins over `regions`; `"all"` gives `["all"]`, `"auto"`/`"default"`
    /// give `None` (the project's regions).
    pub regions: Option<Vec<String>>,
    /// Routing Middleware `matcher` patterns (a single string becomes one entry).
    pub matcher: Option<Vec<String>>,
    pub use_web_api: Option<bool>,
    /// `supportsResponseStreaming` (or its old name `experimentalResponseStreaming`).
    pub supports_response_streaming: Option<bool>,
}

/// `config.runtime`: where a JS/TS function runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRuntime {
    /// `"nodejs"`: a Node.js (or Bun) serverless function.
    Nodejs,
    /// `"edge"` or `"experimental-edge"`: an Edge function.
    Edge,
}

/// Reads the in-code config of a JS/TS source; `file` is only used in messages.
///
/// Finds `export const config = <object literal>` (JS syntax: unquoted keys, either quote,
/// trailing commas, comments, `undefined`) and `export const maxDuration = <number>`; other
/// exports are ignored. A value that is not a literal (a call, a variable, a template string)
/// is an error naming the file and line, since eddy cannot know it without running the code.
pub fn read_code_config(source: &str, file: &Path) -> Result<CodeConfig, ConfigError> {
    let mut config = CodeConfig::default();
    // Most files declare nothing: skip the lexer for them.
    if !source.contains("config") && !source.contains("maxDuration") {
        return Ok(config);
    }
    let mut exported_max_duration = None;
    for export in scan::exported_consts(source) {
        match export.name {
            "config" => {
                let value = literal_value(source, &export, file)?;
                apply_config(&mut config, &value, file)?;
            }
            "maxDuration" => {
                let value = literal_value(source, &export, file)?;
                let key = KeyPath::root("maxDuration");
                exported_max_duration = Some(max_duration(&value, &key, file)?);
            }
            _ => {}
        }
    }
    if exported_max_duration.is_some() {
        config.max_duration = exported_max_duration;
    }
    Ok(config)
}

/// The value of an exported const, parsed as JSON5 after checking it is a literal.
fn literal_value(
    source: &str,
    export: &scan::ExportedConst<'_>,
    file: &Path,
) -> Result<Value, ConfigError> {
    let line = line_of(source, export.export_start);
    let not_literal = |reason: String| ConfigError::NotLiteral {
        file: file.to_path_buf(),
        name: export.name.to_owned(),
        line,
        reason,
    };
    let value = export.value;
    let tokens = match value.kind {
        Kind::Punct(b'{' | b'[') => scan::literal_tokens(source, value)
            .ok_or_else(|| not_literal("has no closing bracket".to_owned()))?,
        Kind::Punct(b'-' | b'+') => {
            let number = scan::token_after(source, value)
                .filter(|t| t.kind == Kind::Number)
                .ok_or_else(|| not_literal("is not a literal".to_owned()))?;
            vec![value, number]
        }
        _ => vec![value],
    };
    let mut text = String::new();
    let mut copied = value.start;
    for token in &tokens {
        check_literal_token(source, *token).map_err(&not_literal)?;
        if token.kind == Kind::Ident && &source[token.start..token.end] == "undefined" {
            // JSON5 has no `undefined`; in a config it means "not set", like null.
            text.push_str(&source[copied..token.start]);
            text.push_str("null");
            copied = token.end;
        }
    }
    let end = tokens.last().map_or(value.end, |t| t.end);
    text.push_str(&source[copied..end]);
    json5::from_str::<Value>(&text).map_err(|err| {
        let at = err
            .position()
            .map(|p| format!(" (line {} of the literal)", p.line + 1))
            .unwrap_or_default();
        let reason = err
            .code()
            .map_or_else(|| err.to_string(), |c| c.to_string());
        not_literal(format!("is not a valid literal: {reason}{at}"))
    })
}

/// Rejects tokens that make a value depend on running code, with a message naming them.
fn check_literal_token(source: &str, token: Token) -> Result<(), String> {
    let text = &source[token.start..token.end];
    match token.kind {
        Kind::Template => Err(format!(
            "uses the template literal {text}; use a quoted string"
        )),
        Kind::Regex => Err(format!("uses the regular expression {text}")),
        Kind::Ident => {
            let is_key =
                scan::token_after(source, token).is_some_and(|next| next.kind == Kind::Punct(b':'));
            let literal = matches!(
                text,
                "true" | "false" | "null" | "undefined" | "Infinity" | "NaN"
            );
            if is_key || literal {
                Ok(())
            } else {
                Err(format!("uses `{text}`, which is not a literal"))
            }
        }
        Kind::Punct(b'(') => Err("calls a function".to_owned()),
        Kind::Punct(b'.') if source[token.end..].starts_with("..") => {
            Err("uses a spread (`...`)".to_owned())
        }
        _ => Ok(()),
    }
}

fn line_of(source: &str, offset: usize) -> usize {
    source.as_bytes()[..offset.min(source.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn apply_config(config: &mut CodeConfig, value: &Value, file: &Path) -> Result<(), ConfigError> {
    let root = KeyPath::root("config");
    let Value::Object(map) = value else {
        return Err(ConfigError::invalid(
            file,
            root.into_string(),
            "is not an object",
            "write `export const config = { ... }`",
        ));
    };
    let get = |name: &str| field(map, name);
    if let Some(v) = get("runtime") {
        config.runtime = Some(runtime(v, &root.key("runtime"), file)?);
    }
    if let Some(v) = get("memory") {
        let key = root.key("memory");
        let memory = whole_number(v, &key, file)?;
        validate_memory(memory, &key, file)?;
        config.memory = Some(memory);
    }
    if let Some(v) = get("maxDuration") {
        config.max_duration = Some(max_duration(v, &root.key("maxDuration"), file)?);
    }
    if let Some(v) = get("maxConcurrency") {
        let key = root.key("maxConcurrency");
        let concurrency = whole_number(v, &key, file)?;
        if concurrency == 0 {
            return Err(ConfigError::invalid(
                file,
                key.into_string(),
                "is 0",
                "set 1 or more, or remove it for the default",
            ));
        }
        config.max_concurrency = Some(concurrency);
    }
    config.regions = regions(map, &root, file)?;
    if let Some(v) = get("matcher") {
        config.matcher = Some(strings(v, &root.key("matcher"), file)?);
    }
    if let Some(v) = get("useWebApi") {
        config.use_web_api = Some(boolean(v, &root.key("useWebApi"), file)?);
    }
    for name in ["supportsResponseStreaming", "experimentalResponseStreaming"] {
        if let Some(v) = get(name) {
            config.supports_response_streaming = Some(boolean(v, &root.key(name), file)?);
        }
    }
    Ok(())
}

fn runtime(value: &Value, key: &KeyPath, file: &Path) -> Result<CodeRuntime, ConfigError> {
    match value.as_str() {
        Some("nodejs") => Ok(CodeRuntime::Nodejs),
        Some("edge" | "experimental-edge") => Ok(CodeRuntime::Edge),
        _ => Err(ConfigError::invalid(
            file,
            key.to_string(),
            format!("is {value}, not a known runtime"),
            r#"use "nodejs" or "edge"; other languages are chosen by file extension"#,
        )),
    }
}

/// A set field; `null` (and `undefined`) mean not set.
fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).filter(|v| !v.is_null())
}

fn regions(
    map: &Map<String, Value>,
    root: &KeyPath,
    file: &Path,
) -> Result<Option<Vec<String>>, ConfigError> {
    let (name, value) = match (field(map, "preferredRegion"), field(map, "regions")) {
        (Some(v), _) => ("preferredRegion", v),
        (None, Some(v)) => ("regions", v),
        (None, None) => return Ok(None),
    };
    match value.as_str() {
        Some("auto" | "default" | "home") => Ok(None),
        Some("all" | "global") => Ok(Some(vec!["all".to_owned()])),
        _ => strings(value, &root.key(name), file).map(Some),
    }
}

fn max_duration(value: &Value, key: &KeyPath, file: &Path) -> Result<MaxDuration, ConfigError> {
    if value.as_str() == Some("max") {
        return Ok(MaxDuration::Max(MaxKeyword::Max));
    }
    let seconds = whole_number(value, key, file)?;
    validate_max_duration(seconds, key, file)?;
    Ok(MaxDuration::Seconds(seconds))
}

fn whole_number(value: &Value, key: &KeyPath, file: &Path) -> Result<u32, ConfigError> {
    let number = value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
            // Checked just above: a whole number within u32, so the cast is exact.
            .map(|f| f as u64)
    });
    number.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
        ConfigError::invalid(
            file,
            key.to_string(),
            format!("is {value}, not a whole non-negative number"),
            "write a number literal such as 30",
        )
    })
}

fn boolean(value: &Value, key: &KeyPath, file: &Path) -> Result<bool, ConfigError> {
    value.as_bool().ok_or_else(|| {
        ConfigError::invalid(
            file,
            key.to_string(),
            format!("is {value}, not true or false"),
            "write `true` or `false`",
        )
    })
}

fn strings(value: &Value, key: &KeyPath, file: &Path) -> Result<Vec<String>, ConfigError> {
    let wrong = || {
        ConfigError::invalid(
            file,
            key.to_string(),
            format!("is {value}, not a string or a list of strings"),
            r#"write a string or an array of strings, e.g. ["iad1"]"#,
        )
    };
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect(),
        _ => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(source: &str) -> CodeConfig {
        read_code_config(source, Path::new("api/a.ts")).expect("config reads")
    }

    fn error(source: &str) -> String {
        match read_code_config(source, Path::new("api/a.ts")) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn reads_js_object_syntax_with_comments_and_trailing_commas() {
        let config = read(
            "import x from 'y';\n\
             // a comment mentioning export const config = 1\n\
             export const config = {\n\
               runtime: 'edge', // where it runs\n\
               /* block */ \"maxDuration\": 60,\n\
               regions: ['iad1', \"sfo1\",],\n\
               useWebApi: true,\n\
               api: { bodyParser: { sizeLimit: '1mb' } },\n\
             };\n\
             export default function handler() {}\n",
        );
        assert_eq!(config.runtime, Some(CodeRuntime::Edge));
        assert_eq!(config.max_duration, Some(MaxDuration::Seconds(60)));
        assert_eq!(config.regions, Some(vec!["iad1".into(), "sfo1".into()]));
        assert_eq!(config.use_web_api, Some(true));
    }

    #[test]
    fn reads_typescript_annotations_and_satisfies() {
        let config = read(
            "import type { Config } from './types';\n\
             export const config: Config = { memory: 1024, maxConcurrency: 4 } satisfies Config;\n",
        );
        assert_eq!(config.memory, Some(1024));
        assert_eq!(config.max_concurrency, Some(4));
    }

    #[test]
    fn exported_max_duration_wins_over_config() {
        let config =
            read("export const config = { maxDuration: 10 };\nexport const maxDuration = 45;");
        assert_eq!(config.max_duration, Some(MaxDuration::Seconds(45)));
        let max = read("export const config = { maxDuration: 'max' }");
        assert_eq!(max.max_duration, Some(MaxDuration::Max(MaxKeyword::Max)));
    }

    #[test]
    fn preferred_region_wins_and_keywords_are_normalised() {
        let config = read("export const config = { regions: ['iad1'], preferredRegion: 'fra1' }");
        assert_eq!(config.regions, Some(vec!["fra1".into()]));
        assert_eq!(
            read("export const config = { regions: 'all' }").regions,
            Some(vec!["all".into()])
        );
        assert_eq!(
            read("export const config = { regions: 'auto' }").regions,
            None
        );
    }

    #[test]
    fn middleware_matcher_and_streaming_flags_are_read() {
        let config = read(
            "export const config = { matcher: '/about/:path*', supportsResponseStreaming: false }",
        );
        assert_eq!(config.matcher, Some(vec!["/about/:path*".into()]));
        assert_eq!(config.supports_response_streaming, Some(false));
        let list = read(
            "export const config = { matcher: ['/a', '/b'], experimentalResponseStreaming: true }",
        );
        assert_eq!(list.matcher, Some(vec!["/a".into(), "/b".into()]));
        assert_eq!(list.supports_response_streaming, Some(true));
    }

    #[test]
    fn undefined_and_null_values_mean_not_set() {
        let config =
            read("export const config = { runtime: undefined, memory: null, useWebApi: true }");
        assert_eq!(config.runtime, None);
        assert_eq!(config.memory, None);
        assert_eq!(config.use_web_api, Some(true));
    }

    #[test]
    fn a_file_without_config_gives_the_empty_config() {
        assert_eq!(
            read("export default (req, res) => res.end('hi')"),
            CodeConfig::default()
        );
        assert_eq!(
            read("const config = { runtime: 'edge' }; export default config;"),
            CodeConfig::default()
        );
    }

    #[test]
    fn non_literal_values_are_errors_naming_file_line_and_cause() {
        let call = error("// header\nexport const config = makeConfig();");
        assert!(call.contains("api/a.ts:2"), "{call}");
        assert!(call.contains("`export const config`"), "{call}");
        assert!(call.contains("makeConfig"), "{call}");
        let variable = error("export const config = { maxDuration: LIMIT };");
        assert!(variable.contains("`LIMIT`"), "{variable}");
        let template = error("export const config = { runtime: `edge` };");
        assert!(template.contains("template literal"), "{template}");
        let spread = error("export const config = { ...base, memory: 1024 };");
        assert!(spread.contains("spread"), "{spread}");
        let duration = error("export const maxDuration = compute();");
        assert!(
            duration.contains("`export const maxDuration`"),
            "{duration}"
        );
        let unclosed = error("export const config = { memory: 1024");
        assert!(unclosed.contains("no closing bracket"), "{unclosed}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let runtime = error("export const config = { runtime: 'python' }");
        assert!(
            runtime.contains("config.runtime") && runtime.contains("\"python\""),
            "{runtime}"
        );
        let memory = error("export const config = { memory: 64 }");
        assert!(
            memory.contains("config.memory") && memory.contains("128..=10240"),
            "{memory}"
        );
        let duration = error("export const config = { maxDuration: 'long' }");
        assert!(duration.contains("config.maxDuration"), "{duration}");
        let not_object = error("export const config = [1]");
        assert!(not_object.contains("not an object"), "{not_object}");
    }
}
