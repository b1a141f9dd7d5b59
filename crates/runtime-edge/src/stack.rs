//! Stack traces in terms of the user's files: frames that point into the bundle
//! (`…/api/x.edge.js:12:7`) are rewritten through the bundle's source map (esbuild writes
//! `<bundle>.map`) to `api/x.ts:5:3`. The map is read on the first error only, so isolates
//! that never fail never pay for it.

use std::cell::OnceCell;
use std::path::{Component, Path, PathBuf};

/// Rewrites stack frames of one bundle.
pub(crate) struct StackMapper {
    /// The bundle's name as QuickJS prints it in frames (the path it was compiled under).
    bundle: String,
    map_file: PathBuf,
    root: PathBuf,
    map: OnceCell<Option<sourcemap::SourceMap>>,
}

impl StackMapper {
    pub(crate) fn new(bundle: &Path, root: &Path) -> Self {
        let mut map_file = bundle.as_os_str().to_os_string();
        map_file.push(".map");
        Self {
            bundle: bundle.to_string_lossy().into_owned(),
            map_file: PathBuf::from(map_file),
            root: root.to_path_buf(),
            map: OnceCell::new(),
        }
    }

    /// `text` with every `bundle:line:col` the map knows replaced by `source:line:col`.
    pub(crate) fn map(&self, text: &str) -> String {
        if !text.contains(&self.bundle) {
            return text.to_string();
        }
        let Some(map) = self
            .map
            .get_or_init(|| {
                let bytes = std::fs::read(&self.map_file).ok()?;
                sourcemap::SourceMap::from_slice(&bytes).ok()
            })
            .as_ref()
        else {
            return text.to_string();
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(&self.bundle) {
            out.push_str(&rest[..at]);
            let after = &rest[at + self.bundle.len()..];
            match position(after).and_then(|(line, col, used)| {
                let token = map.lookup_token(line.checked_sub(1)?, col.saturating_sub(1))?;
                let source = self.display(token.get_source()?);
                Some((
                    format!(
                        "{source}:{}:{}",
                        token.get_src_line() + 1,
                        token.get_src_col() + 1
                    ),
                    used,
                ))
            }) {
                Some((mapped, used)) => {
                    out.push_str(&mapped);
                    rest = &after[used..];
                }
                None => {
                    out.push_str(&self.bundle);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// A map source (relative to the map's folder) as a path relative to the function root.
    fn display(&self, source: &str) -> String {
        let dir = self.map_file.parent().unwrap_or(Path::new(""));
        let mut full = PathBuf::new();
        for component in dir.join(source).components() {
            match component {
                Component::ParentDir => {
                    full.pop();
                }
                Component::CurDir => {}
                other => full.push(other),
            }
        }
        full.strip_prefix(&self.root)
            .unwrap_or(&full)
            .to_string_lossy()
            .into_owned()
    }
}

/// `:line:col` at the start of `s`: the numbers and how many bytes they took.
fn position(s: &str) -> Option<(u32, u32, usize)> {
    let s1 = s.strip_prefix(':')?;
    let line_len = s1.bytes().take_while(u8::is_ascii_digit).count();
    let line = s1[..line_len].parse().ok()?;
    let s2 = s1[line_len..].strip_prefix(':')?;
    let col_len = s2.bytes().take_while(u8::is_ascii_digit).count();
    let col = s2[..col_len].parse().ok()?;
    Some((line, col, 2 + line_len + col_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_in_the_bundle_point_at_the_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join(".vercel/eddy/api")).expect("mkdir");
        let bundle = root.join(".vercel/eddy/api/x.edge.js");
        // Line 2, column 5 of the bundle comes from line 1, column 3 of ../../../api/x.ts.
        let map = r#"{"version":3,"sources":["../../../api/x.ts"],"names":[],"mappings":";IAAE"}"#;
        std::fs::write(root.join(".vercel/eddy/api/x.edge.js.map"), map).expect("write");
        let mapper = StackMapper::new(&bundle, root);
        let trace = format!(
            "Error: boom\n    at handler ({}:2:5)\n    at other (eddy:prelude:9:1)",
            bundle.display()
        );
        let mapped = mapper.map(&trace);
        assert_eq!(
            mapped,
            "Error: boom\n    at handler (api/x.ts:1:3)\n    at other (eddy:prelude:9:1)"
        );
    }

    #[test]
    fn text_without_frames_or_without_a_map_is_left_alone() {
        let mapper = StackMapper::new(Path::new("/nowhere/x.edge.js"), Path::new("/nowhere"));
        assert_eq!(mapper.map("plain"), "plain");
        assert_eq!(
            mapper.map("at (/nowhere/x.edge.js:1:1)"),
            "at (/nowhere/x.edge.js:1:1)"
        );
    }
}
