//! The one error of reading configuration: `vercel.json`, in-code `export const config`, and
//! the resolution of a function's settings. Every message names the file, the key and the
//! reason, and says how to fix it.

use std::fmt::Write as _;
use std::path::PathBuf;

/// A configuration file or value eddy cannot accept.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The text is not JSON at all (vercel.json is strict JSON).
    #[error(
        "{}: invalid JSON at line {line}, column {column}: {reason} (fix the syntax: vercel.json is strict JSON, without comments or trailing commas)",
        file.display()
    )]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    /// A value has the wrong type or shape for its key.
    #[error(
        "{}: `{key}` at line {line}, column {column}: {reason} (see the vercel.json reference for this key's type)",
        file.display()
    )]
    Type {
        file: PathBuf,
        key: String,
        line: usize,
        column: usize,
        reason: String,
    },
    /// A value is well-formed but not allowed (out of range, conflicting keys, ...).
    #[error("{}: `{key}` {reason} ({fix})", file.display())]
    Invalid {
        file: PathBuf,
        key: String,
        reason: String,
        fix: String,
    },
    /// An `export const <name> = ...` in source code that is not a literal eddy can read
    /// without running the file.
    #[error(
        "{}:{line}: `export const {name}` {reason} (eddy reads it without running the file: write a literal, e.g. `export const config = {{ maxDuration: 30 }}`)",
        file.display()
    )]
    NotLiteral {
        file: PathBuf,
        name: String,
        line: usize,
        reason: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(
        file: impl Into<PathBuf>,
        key: impl Into<String>,
        reason: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            file: file.into(),
            key: key.into(),
            reason: reason.into(),
            fix: fix.into(),
        }
    }
}

/// Builds key paths the way users write them: `functions."api/*.js".memory`, `redirects[2]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyPath(String);

impl KeyPath {
    pub(crate) fn root(key: &str) -> Self {
        let mut path = Self::default();
        path.push_key(key);
        path
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        let mut path = self.clone();
        path.push_key(key);
        path
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        // Writing to a String cannot fail.
        let _ = write!(path.0, "[{index}]");
        path
    }

    fn push_key(&mut self, key: &str) {
        if !self.0.is_empty() {
            self.0.push('.');
        }
        let plain = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        if plain {
            self.0.push_str(key);
        } else {
            // Debug formatting quotes and escapes the key like JSON would.
            let _ = write!(self.0, "{key:?}");
        }
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_quote_keys_that_are_not_identifiers() {
        let path = KeyPath::root("functions").key("api/*.js").key("memory");
        assert_eq!(path.to_string(), r#"functions."api/*.js".memory"#);
        assert_eq!(
            KeyPath::root("redirects").index(2).to_string(),
            "redirects[2]"
        );
    }
}
