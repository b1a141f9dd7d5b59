//! Property tests ("fuzzing" that runs in CI) for the configuration parsers: `vercel.json`,
//! in-code `export const config`, and a Build Output tree's `config.json` and
//! `.vc-config.json`. Whatever the text, they answer a value or an error whose message names
//! the file, and never panic. Case counts are bounded (`PROPTEST_CASES` overrides them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use eddy_config::{
    CodeConfig, FunctionEntry, ProjectConfig, parse_vercel_json, read_code_config, read_output,
    resolve_function,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Keys the parsers look at, so random objects reach their validation, not just serde.
const KEYS: &[&str] = &[
    "functions",
    "api/*.js",
    "api/**/*.ts",
    "api/[id].py",
    "memory",
    "maxDuration",
    "maxConcurrency",
    "runtime",
    "regions",
    "fluid",
    "env",
    "build",
    "rewrites",
    "redirects",
    "headers",
    "routes",
    "crons",
    "cleanUrls",
    "trailingSlash",
    "source",
    "destination",
    "permanent",
    "statusCode",
    "key",
    "value",
    "has",
    "missing",
    "type",
    "path",
    "schedule",
    "src",
    "dest",
    "handle",
    "status",
    "version",
    "handler",
    "launcherType",
    "shouldAddHelpers",
    "entrypoint",
    "supportsResponseStreaming",
    "filePathMap",
    "includeFiles",
    "excludeFiles",
    "deploymentId",
    "overrides",
];

/// JSON with the parsers' keys and edge-case values (huge numbers, negative, fractional,
/// strings where numbers go, "max", nested shapes).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just(3u64),
            Just(128),
            Just(1024),
            Just(3009),
            Just(800),
            Just(0),
            Just(u64::from(u32::MAX) + 1)
        ]
        .prop_map(Value::from),
        prop_oneof![
            Just("max".to_owned()),
            Just("nodejs20.x".to_owned()),
            Just("edge".to_owned()),
            Just("@vercel/python@4".to_owned()),
            Just("/(.*)".to_owned()),
            Just("/:path*".to_owned()),
            Just("*/5 * * * *".to_owned()),
            Just("index.js".to_owned()),
            Just("../x.js".to_owned()),
            Just("filesystem".to_owned()),
            "[ -~]{0,10}",
            any::<String>(),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 6, |inner| {
        let key = prop_oneof![
            4 => prop::sample::select(KEYS).prop_map(str::to_owned),
            1 => any::<String>(),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..7)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A `vercel.json`-shaped object: the top-level keys with random values.
fn vercel_json_value() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop::sample::select(KEYS[..19].to_vec()),
        json_value(),
        0..6,
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| ((*k).to_owned(), v)).collect()))
}

/// Text that is almost JSON: a serialised value cut, spliced or sprinkled with stray bytes.
fn mangled_json() -> impl Strategy<Value = String> {
    (
        vercel_json_value(),
        any::<prop::sample::Index>(),
        "[\\[\\]{}\",:\\\\ \u{feff}\u{0}a-z0-9]{0,4}",
    )
        .prop_map(|(value, at, noise)| {
            let text = value.to_string();
            let mut cut = at.index(text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}{noise}{}", &text[..cut], &text[cut..])
        })
}

/// JavaScript-like sources around `export const config` and `maxDuration`.
fn js_source() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("export".to_owned()),
        Just("const".to_owned()),
        Just("config".to_owned()),
        Just("maxDuration".to_owned()),
        Just("=".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just(";".to_owned()),
        Just("\n".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("`".to_owned()),
        Just("/*".to_owned()),
        Just("*/".to_owned()),
        Just("//".to_owned()),
        Just("\\".to_owned()),
        Just("runtime".to_owned()),
        Just("'edge'".to_owned()),
        Just("memory".to_owned()),
        Just("regions".to_owned()),
        Just("matcher".to_owned()),
        Just("undefined".to_owned()),
        Just("-".to_owned()),
        Just("1e309".to_owned()),
        Just("0x1F".to_owned()),
        Just("é".to_owned()),
        "[0-9.]{1,5}",
        "[a-zA-Z_$]{1,5}",
        any::<String>(),
    ];
    prop_oneof![
        prop::collection::vec(token, 0..40).prop_map(|t| t.join(" ")),
        json_value().prop_map(|v| format!("export const config = {v};\nexport default () => 1;")),
        any::<String>(),
    ]
}

fn message_names(error: &impl std::fmt::Display, file: &str) -> Result<(), TestCaseError> {
    let message = error.to_string();
    prop_assert!(message.contains(file), "{message:?} does not name {file}");
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn vercel_json_of_arbitrary_text_parses_or_names_the_file(text in prop_oneof![any::<String>(), mangled_json()]) {
        if let Err(error) = parse_vercel_json(&text, Path::new("proj/vercel.json")) {
            message_names(&error, "proj/vercel.json")?;
        }
    }

    #[test]
    fn vercel_json_of_random_shapes_parses_or_names_the_file_and_resolves(value in vercel_json_value()) {
        let file = Path::new("proj/vercel.json");
        let parsed = match parse_vercel_json(&value.to_string(), file) {
            Ok(parsed) => parsed,
            Err(error) => return message_names(&error, "proj/vercel.json"),
        };
        // What parsed must also prepare and resolve a function without panicking.
        let project = match ProjectConfig::new(&parsed, file, &BTreeMap::new()) {
            Ok(project) => project,
            Err(error) => return message_names(&error, "proj/vercel.json"),
        };
        let entry = FunctionEntry {
            path: "api/[id]".to_owned(),
            runtime: "nodejs20.x".to_owned(),
            root: PathBuf::from("proj"),
            handler: "api/[id].js".to_owned(),
            source: PathBuf::from("proj/api/[id].js"),
            source_rel: "api/[id].js".to_owned(),
        };
        if let Err(error) = resolve_function(entry, &CodeConfig::default(), &project) {
            message_names(&error, "proj/vercel.json")?;
        }
    }

    #[test]
    fn in_code_config_of_arbitrary_sources_reads_or_names_the_file(source in js_source()) {
        if let Err(error) = read_code_config(&source, Path::new("api/x.ts")) {
            message_names(&error, "api/x.ts")?;
        }
    }
}

proptest! {
    // Each case writes a small tree to a temp dir.
    #![proptest_config(config(128))]

    #[test]
    fn build_output_trees_with_arbitrary_json_read_or_fail_with_a_message(
        config_json in prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            json_value().prop_map(|mut v| {
                if let Value::Object(map) = &mut v {
                    map.insert("version".to_owned(), json!(3));
                }
                v.to_string()
            }),
            mangled_json(),
            any::<String>(),
        ],
        vc_config in prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            json_value().prop_map(|mut v| {
                if let Value::Object(map) = &mut v {
                    map.insert("handler".to_owned(), json!("index.js"));
                    map.insert("runtime".to_owned(), json!("nodejs20.x"));
                }
                v.to_string()
            }),
            any::<String>(),
        ],
    ) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let func = dir.path().join("functions/api/x.func");
        std::fs::create_dir_all(&func).expect("create the function folder");
        std::fs::write(dir.path().join("config.json"), &config_json).expect("write config.json");
        std::fs::write(func.join(".vc-config.json"), &vc_config).expect("write .vc-config.json");
        std::fs::write(func.join("index.js"), "module.exports = () => {}").expect("write handler");
        match read_output(dir.path()) {
            Ok(output) => {
                for error in &output.errors {
                    prop_assert!(error.to_string().contains("api/x"), "{error}");
                }
                let served = output.deployment.functions.contains_key("api/x");
                prop_assert!(served != output.errors.iter().any(|e| e.function == "api/x"));
            }
            Err(error) => message_names(&error, "config.json")?,
        }
    }
}
