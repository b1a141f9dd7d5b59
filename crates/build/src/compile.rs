//! Per-language build steps that run before a function can start: compiling Go and Rust,
//! vendoring Python and Ruby dependencies. Each language owns one module; [`prepare`] picks it.
//! TypeScript is transpiled separately (see `transpile`), in one esbuild batch.
//!
//! A step returns the function's handler relative to the project (the source file itself, or a
//! built binary under the cache dir) and must be cheap when nothing changed, because `eddy dev`
//! plans again on every file save.

use std::path::{Path, PathBuf};

use crate::detect::{Detected, Language};
use crate::plan::{FunctionError, PlanOptions};

mod go;
mod python;
mod ruby;
mod rust;

/// What a build step needs to know.
#[expect(
    dead_code,
    reason = "the language steps that read these are being written; remove this when one does"
)]
pub(crate) struct Step<'a> {
    pub project: &'a Path,
    pub detected: &'a Detected,
    pub options: &'a PlanOptions,
    /// The cache dir (absolute), where build outputs go.
    pub cache: &'a Path,
}

/// Runs the build step of `step.detected`'s language; languages without one keep their source
/// as the handler.
pub(crate) fn prepare(step: &Step<'_>) -> Result<String, FunctionError> {
    match step.detected.language {
        Language::Go => go::prepare(step),
        Language::Rust => rust::prepare(step),
        Language::Python => python::prepare(step),
        Language::Ruby => ruby::prepare(step),
        Language::JavaScript | Language::TypeScript | Language::Wasm => {
            Ok(step.detected.source_rel.clone())
        }
    }
}

/// Whether `language` has a build step that [`prepare`] runs (TypeScript has its own batch).
pub(crate) fn has_step(language: Language) -> bool {
    matches!(
        language,
        Language::Go | Language::Rust | Language::Python | Language::Ruby
    )
}

/// The cache sub-directory for one function's build outputs, e.g. `<cache>/go/api/users/[id]`.
pub(crate) fn output_dir(step: &Step<'_>, language: &str) -> PathBuf {
    step.cache.join(language).join(&step.detected.path)
}
