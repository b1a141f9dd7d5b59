//! The rules of `vercel.json` that its types cannot express (vercel-compat §9.1). Each rule
//! reports the first violation with its key path, the reason and the fix.

use std::path::Path;

use crate::error::{ConfigError, KeyPath};
use crate::limits;
use crate::vercel_json::{FunctionConfig, MaxDuration, VercelJson};

pub(super) fn validate(vercel: &VercelJson, file: &Path) -> Result<(), ConfigError> {
    validate_functions(vercel, file)?;
    validate_routes_not_mixed(vercel, file)?;
    validate_redirects(vercel, file)?;
    validate_crons(vercel, file)
}

fn validate_functions(vercel: &VercelJson, file: &Path) -> Result<(), ConfigError> {
    let Some(functions) = &vercel.functions else {
        return Ok(());
    };
    let root = KeyPath::root("functions");
    if functions.is_empty() {
        return Err(ConfigError::invalid(
            file,
            root.into_string(),
            "is empty",
            r#"add a glob with settings, e.g. "api/*.js": { "maxDuration": 30 }, or remove `functions`"#,
        ));
    }
    if functions.len() > limits::MAX_FUNCTION_GLOBS {
        return Err(ConfigError::invalid(
            file,
            root.into_string(),
            format!(
                "has {} globs, more than the {} allowed",
                functions.len(),
                limits::MAX_FUNCTION_GLOBS
            ),
            "merge globs, e.g. `api/**/*.js` instead of one key per file",
        ));
    }
    for (glob, config) in functions {
        let key = root.key(glob);
        validate_glob(glob, &key, file)?;
        validate_function(config, &key, file)?;
    }
    Ok(())
}

fn validate_glob(glob: &str, key: &KeyPath, file: &Path) -> Result<(), ConfigError> {
    if glob.len() > limits::MAX_FUNCTION_GLOB_LEN {
        return Err(ConfigError::invalid(
            file,
            key.to_string(),
            format!(
                "is {} characters long, more than the {} allowed",
                glob.len(),
                limits::MAX_FUNCTION_GLOB_LEN
            ),
            "use a shorter glob, e.g. with `*` or `**`",
        ));
    }
    if glob.starts_with('/') {
        return Err(ConfigError::invalid(
            file,
            key.to_string(),
            "starts with `/`",
            "write the glob relative to the project root, e.g. `api/*.js`",
        ));
    }
    if let Err(err) = globset::Glob::new(glob) {
        return Err(ConfigError::invalid(
            file,
            key.to_string(),
            format!("is not a valid glob: {}", err.kind()),
            "fix the pattern, e.g. `api/*.js` or `api/**/*.ts`",
        ));
    }
    Ok(())
}

fn validate_function(
    config: &FunctionConfig,
    key: &KeyPath,
    file: &Path,
) -> Result<(), ConfigError> {
    if *config == FunctionConfig::default() {
        return Err(ConfigError::invalid(
            file,
            key.to_string(),
            "has no settings",
            "set at least one of runtime, memory, maxDuration, maxConcurrency, regions, includeFiles, excludeFiles",
        ));
    }
    if let Some(runtime) = &config.runtime
        && runtime.trim().is_empty()
    {
        return Err(ConfigError::invalid(
            file,
            key.key("runtime").into_string(),
            "is empty",
            r#"name a runtime with its version, e.g. "@vercel/node@5", or remove the key"#,
        ));
    }
    if let Some(memory) = config.memory {
        validate_memory(memory, &key.key("memory"), file)?;
    }
    if let Some(MaxDuration::Seconds(seconds)) = config.max_duration {
        validate_max_duration(seconds, &key.key("maxDuration"), file)?;
    }
    if config.max_concurrency == Some(0) {
        return Err(ConfigError::invalid(
            file,
            key.key("maxConcurrency").into_string(),
            "is 0",
            "set 1 or more concurrent requests per instance, or remove the key for the default",
        ));
    }
    Ok(())
}

/// Shared with the in-code config, which has the same bounds.
pub(crate) fn validate_memory(memory: u32, key: &KeyPath, file: &Path) -> Result<(), ConfigError> {
    if (limits::MIN_MEMORY_MB..=limits::MAX_MEMORY_MB).contains(&memory) {
        return Ok(());
    }
    Err(ConfigError::invalid(
        file,
        key.to_string(),
        format!(
            "is {memory} MB, outside {}..={} MB",
            limits::MIN_MEMORY_MB,
            limits::MAX_MEMORY_MB
        ),
        format!(
            "set a value in that range, or remove it for the default of {} MB",
            limits::DEFAULT_MEMORY_MB
        ),
    ))
}

/// Shared with the in-code config, which has the same bounds.
pub(crate) fn validate_max_duration(
    seconds: u32,
    key: &KeyPath,
    file: &Path,
) -> Result<(), ConfigError> {
    if (1..=limits::MAX_DURATION_SCHEMA_SECS).contains(&seconds) {
        return Ok(());
    }
    Err(ConfigError::invalid(
        file,
        key.to_string(),
        format!(
            "is {seconds} s, outside 1..={} s",
            limits::MAX_DURATION_SCHEMA_SECS
        ),
        format!(
            r#"set a whole number of seconds in that range or "max" (eddy caps it at {} s)"#,
            limits::MAX_DURATION.as_secs()
        ),
    ))
}

fn validate_routes_not_mixed(vercel: &VercelJson, file: &Path) -> Result<(), ConfigError> {
    if vercel.routes.is_none() {
        return Ok(());
    }
    let mixed = [
        ("rewrites", vercel.rewrites.is_some()),
        ("redirects", vercel.redirects.is_some()),
        ("headers", vercel.headers.is_some()),
        ("cleanUrls", vercel.clean_urls.is_some()),
        ("trailingSlash", vercel.trailing_slash.is_some()),
    ];
    match mixed.iter().find(|(_, present)| *present) {
        Some((other, _)) => Err(ConfigError::invalid(
            file,
            "routes",
            format!("cannot be used together with `{other}`"),
            "move the legacy `routes` into `rewrites`, `redirects` and `headers`, or drop those keys and keep only `routes`",
        )),
        None => Ok(()),
    }
}

fn validate_redirects(vercel: &VercelJson, file: &Path) -> Result<(), ConfigError> {
    let root = KeyPath::root("redirects");
    for (index, redirect) in vercel.redirects.iter().flatten().enumerate() {
        if let Some(status) = redirect.status_code
            && !(300..=399).contains(&status)
        {
            return Err(ConfigError::invalid(
                file,
                root.index(index).key("statusCode").into_string(),
                format!("is {status}, not a redirect status"),
                "use a 3xx status such as 301, 302, 307 or 308, or `permanent` instead",
            ));
        }
    }
    Ok(())
}

fn validate_crons(vercel: &VercelJson, file: &Path) -> Result<(), ConfigError> {
    let root = KeyPath::root("crons");
    for (index, cron) in vercel.crons.iter().flatten().enumerate() {
        let key = root.index(index);
        if !cron.path.starts_with('/') {
            return Err(ConfigError::invalid(
                file,
                key.key("path").into_string(),
                format!("is {:?}, which does not start with `/`", cron.path),
                "write the path the cron requests, e.g. \"/api/cron\"",
            ));
        }
        if cron.path.len() > limits::MAX_CRON_PATH_LEN {
            return Err(ConfigError::invalid(
                file,
                key.key("path").into_string(),
                format!("is longer than {} characters", limits::MAX_CRON_PATH_LEN),
                "use a shorter path",
            ));
        }
        let fields = cron.schedule.split_whitespace().count();
        if fields != 5 {
            return Err(ConfigError::invalid(
                file,
                key.key("schedule").into_string(),
                format!("{:?} has {fields} fields, not 5", cron.schedule),
                "write a 5-field cron expression (minute hour day-of-month month day-of-week), e.g. \"0 5 * * *\"",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::vercel_json::parse_vercel_json;

    fn error_of(text: &str) -> String {
        match parse_vercel_json(text, Path::new("proj/vercel.json")) {
            Ok(parsed) => panic!("expected an error for {text}, got {parsed:?}"),
            Err(err) => err.to_string(),
        }
    }

    fn assert_mentions(message: &str, parts: &[&str]) {
        for part in parts {
            assert!(message.contains(part), "{message:?} lacks {part:?}");
        }
    }

    #[test]
    fn memory_out_of_range_names_file_key_and_range() {
        let message = error_of(r#"{"functions": {"api/*.js": {"memory": 99999}}}"#);
        assert_mentions(
            &message,
            &[
                "proj/vercel.json",
                r#"functions."api/*.js".memory"#,
                "99999",
                "128..=10240",
            ],
        );
    }

    #[test]
    fn max_duration_zero_and_too_large_are_rejected() {
        let zero = error_of(r#"{"functions": {"api/a.js": {"maxDuration": 0}}}"#);
        assert_mentions(&zero, &[r#"functions."api/a.js".maxDuration"#, "is 0 s"]);
        let huge = error_of(r#"{"functions": {"api/a.js": {"maxDuration": 5000}}}"#);
        assert_mentions(&huge, &["maxDuration", "5000", "1..=1800"]);
    }

    #[test]
    fn max_duration_of_the_wrong_type_says_what_is_expected() {
        let message = error_of(r#"{"functions": {"api/a.js": {"maxDuration": "forever"}}}"#);
        assert_mentions(
            &message,
            &[
                r#"functions."api/a.js".maxDuration"#,
                "forever",
                r#"whole number of seconds or "max""#,
                "line 1",
            ],
        );
        let fractional = error_of(r#"{"functions": {"api/a.js": {"maxDuration": 1.5}}}"#);
        assert_mentions(&fractional, &["maxDuration", "1.5"]);
    }

    #[test]
    fn max_duration_accepts_max_and_whole_seconds() {
        let parsed = parse_vercel_json(
            r#"{"functions": {"api/a.js": {"maxDuration": "max"}, "api/b.js": {"maxDuration": 60}}}"#,
            Path::new("vercel.json"),
        )
        .expect("valid");
        let functions = parsed.functions.expect("functions present");
        assert!(matches!(
            functions["api/a.js"].max_duration,
            Some(crate::vercel_json::MaxDuration::Max(_))
        ));
        assert_eq!(
            functions["api/b.js"].max_duration,
            Some(crate::vercel_json::MaxDuration::Seconds(60))
        );
    }

    #[test]
    fn glob_rules_are_enforced() {
        let leading = error_of(r#"{"functions": {"/api/*.js": {"memory": 1024}}}"#);
        assert_mentions(&leading, &[r#"functions."/api/*.js""#, "starts with `/`"]);
        let long = format!(
            r#"{{"functions": {{"{}": {{"memory": 1024}}}}}}"#,
            "a".repeat(257)
        );
        assert_mentions(&error_of(&long), &["257 characters"]);
        let empty_value = error_of(r#"{"functions": {"api/*.js": {}}}"#);
        assert_mentions(
            &empty_value,
            &[r#"functions."api/*.js""#, "has no settings"],
        );
        let empty = error_of(r#"{"functions": {}}"#);
        assert_mentions(&empty, &["`functions` is empty"]);
        let bad = error_of(r#"{"functions": {"api/[.js": {"memory": 1024}}}"#);
        assert_mentions(&bad, &["not a valid glob"]);
    }

    #[test]
    fn more_than_fifty_globs_are_rejected() {
        let entries: Vec<String> = (0..51)
            .map(|i| format!(r#""api/f{i}.js": {{"memory": 1024}}"#))
            .collect();
        let message = error_of(&format!(r#"{{"functions": {{{}}}}}"#, entries.join(",")));
        assert_mentions(&message, &["51 globs", "50 allowed"]);
    }

    #[test]
    fn unknown_function_setting_is_rejected_with_its_key() {
        let message =
            error_of("{\n  \"functions\": {\n    \"api/*.js\": {\"memmory\": 1024}\n  }\n}");
        assert_mentions(
            &message,
            &[
                r#"functions."api/*.js""#,
                "unknown field `memmory`",
                "line 3",
            ],
        );
    }

    #[test]
    fn max_concurrency_zero_is_rejected() {
        let message = error_of(r#"{"functions": {"api/*.js": {"maxConcurrency": 0}}}"#);
        assert_mentions(
            &message,
            &[r#"functions."api/*.js".maxConcurrency"#, "is 0"],
        );
    }

    #[test]
    fn routes_cannot_be_mixed_with_rewrites() {
        let message = error_of(
            r#"{"routes": [{"src": "/a", "dest": "/b"}], "rewrites": [{"source": "/c", "destination": "/d"}]}"#,
        );
        assert_mentions(&message, &["`routes`", "`rewrites`"]);
        let clean = error_of(r#"{"routes": [], "cleanUrls": true}"#);
        assert_mentions(&clean, &["`cleanUrls`"]);
    }

    #[test]
    fn redirect_status_must_be_3xx() {
        let message = error_of(
            r#"{"redirects": [{"source": "/a", "destination": "/b"}, {"source": "/c", "destination": "/d", "statusCode": 200}]}"#,
        );
        assert_mentions(&message, &["redirects[1].statusCode", "200", "3xx"]);
    }

    #[test]
    fn cron_path_and_schedule_shape_are_checked() {
        let path = error_of(r#"{"crons": [{"path": "api/cron", "schedule": "0 5 * * *"}]}"#);
        assert_mentions(&path, &["crons[0].path", "`/`"]);
        let schedule = error_of(r#"{"crons": [{"path": "/api/cron", "schedule": "0 5 * *"}]}"#);
        assert_mentions(&schedule, &["crons[0].schedule", "4 fields"]);
    }

    #[test]
    fn invalid_json_reports_line_and_column_without_panicking() {
        let message = error_of("{\n  \"cleanUrls\": true,\n}");
        assert_mentions(&message, &["proj/vercel.json", "invalid JSON", "line 3"]);
        assert_mentions(&error_of(""), &["invalid JSON", "EOF"]);
        assert_mentions(&error_of("{} x"), &["trailing characters"]);
        assert_mentions(&error_of("[1]"), &["(top level)"]);
    }

    #[test]
    fn wrong_types_name_the_key_path() {
        let message = error_of(r#"{"rewrites": [{"source": "/a", "destination": 5}]}"#);
        assert_mentions(&message, &["rewrites[0].destination", "invalid type"]);
    }

    #[test]
    fn unknown_top_level_keys_are_ignored_and_function_order_is_kept() {
        let parsed = parse_vercel_json(
            r#"{"framework": null, "functions": {"api/z.js": {"memory": 256}, "api/*.js": {"memory": 512}}}"#,
            Path::new("vercel.json"),
        )
        .expect("valid");
        assert_eq!(parsed.functions_order, ["api/z.js", "api/*.js"]);
    }
}
