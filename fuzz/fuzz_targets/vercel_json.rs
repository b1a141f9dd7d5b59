//! `vercel.json` text: parse, then derive routes and compile them. Never panics; a refusal
//! names the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let vercel = match eddy_config::parse_vercel_json(text, Path::new("vercel.json")) {
        Ok(vercel) => vercel,
        Err(error) => {
            assert!(error.to_string().contains("vercel.json"), "{error}");
            return;
        }
    };
    if let Ok(routes) = eddy_router::project_routes(&vercel, &["api/index.js", "api/[id].js"]) {
        let _ = eddy_router::Router::new(&routes);
    }
});
