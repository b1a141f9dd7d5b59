//! The filesystem check: which outputs a routed path may name, asked of the deployment's
//! [`Filesystem`] (implemented by the gateway).

/// The deployment's outputs, as the router asks about them. The gateway implements it.
pub trait Filesystem {
    /// The output at `path`: relative to the deployment root, `/`-separated, percent-decoded,
    /// never empty, never with empty, `.` or `..` segments (e.g. `about/index.html`,
    /// `api/users/[id]`). `None` for directories and for paths that do not exist.
    /// Called a few times per request: keep it to an in-memory lookup.
    fn lookup(&self, path: &str) -> Option<Hit>;
}

/// What exists at a filesystem path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    /// A static file, by its path relative to the static root.
    Static(String),
    /// A function, by its path, e.g. `api/users/[id]`.
    Function(String),
}

/// The outputs a path may name, in order: the path itself (a function only, when it ends in
/// `/`), `<path>/index.html`, a `<path>/index` function, and with clean URLs `<path>.html`.
pub(crate) fn lookup_path(fs: &dyn Filesystem, path: &str, clean_urls: bool) -> Option<Hit> {
    let trailing_slash = path.len() > 1 && path.ends_with('/');
    let mut base = String::with_capacity(path.len() + 11);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." || segment.contains('\0') {
            return None;
        }
        if !base.is_empty() {
            base.push('/');
        }
        base.push_str(segment);
    }
    if base.is_empty() {
        return fs
            .lookup("index.html")
            .or_else(|| fs.lookup("index").filter(|h| matches!(h, Hit::Function(_))));
    }
    match fs.lookup(&base) {
        Some(Hit::Static(_)) if trailing_slash => {}
        Some(hit) => return Some(hit),
        None => {}
    }
    let len = base.len();
    base.push_str("/index.html");
    if let Some(hit) = fs.lookup(&base) {
        return Some(hit);
    }
    base.truncate(len);
    base.push_str("/index");
    if let Some(hit @ Hit::Function(_)) = fs.lookup(&base) {
        return Some(hit);
    }
    if clean_urls {
        base.truncate(len);
        base.push_str(".html");
        return fs.lookup(&base);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::FakeFs;

    fn find(fs: &FakeFs, path: &str, clean_urls: bool) -> Option<Hit> {
        lookup_path(fs, path, clean_urls)
    }

    #[test]
    fn a_path_names_itself_its_index_html_and_its_index_function() {
        let fs = FakeFs::new(&["a.txt", "docs/index.html", "index.html"], &["api/index"]);
        assert_eq!(
            find(&fs, "/a.txt", false),
            Some(Hit::Static("a.txt".to_owned()))
        );
        assert_eq!(
            find(&fs, "/docs", false),
            Some(Hit::Static("docs/index.html".to_owned()))
        );
        assert_eq!(
            find(&fs, "/", false),
            Some(Hit::Static("index.html".to_owned()))
        );
        assert_eq!(
            find(&fs, "/api/", false),
            Some(Hit::Function("api/index".to_owned()))
        );
    }

    #[test]
    fn a_trailing_slash_names_functions_but_not_files() {
        let fs = FakeFs::new(&["a.txt"], &["api/x"]);
        assert_eq!(find(&fs, "/a.txt/", false), None);
        assert_eq!(
            find(&fs, "/api/x/", false),
            Some(Hit::Function("api/x".to_owned()))
        );
    }

    #[test]
    fn html_files_are_found_without_extension_only_with_clean_urls() {
        let fs = FakeFs::new(&["about.html"], &[]);
        assert_eq!(find(&fs, "/about", false), None);
        assert_eq!(
            find(&fs, "/about", true),
            Some(Hit::Static("about.html".to_owned()))
        );
    }

    #[test]
    fn empty_and_dot_segments_are_never_asked_about() {
        let fs = FakeFs::new(&["a/b"], &[]);
        assert_eq!(
            find(&fs, "//a//b", false),
            Some(Hit::Static("a/b".to_owned()))
        );
        assert_eq!(find(&fs, "/a/../b", false), None);
        assert_eq!(find(&fs, "/a/./b", false), None);
    }
}
