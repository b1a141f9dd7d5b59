//! The rust build step. Not written yet: the source file is the handler.

use super::Step;
use crate::plan::FunctionError;

pub(crate) fn prepare(step: &Step<'_>) -> Result<String, FunctionError> {
    Ok(step.detected.source_rel.clone())
}
