//! In-code `export const config` of a JS/TS source. Never panics; a refusal names the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|source: &str| {
    if let Err(error) = eddy_config::read_code_config(source, Path::new("api/x.ts")) {
        assert!(error.to_string().contains("api/x.ts"), "{error}");
    }
});
