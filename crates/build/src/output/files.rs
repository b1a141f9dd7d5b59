//! Placing files into the output, and the walk that lists a folder's files.
//!
//! The user's own files are copied: editors often rewrite a file in place, which would change
//! a hard-linked output too. Installed packages and build products (anything under a
//! `node_modules` or `.vercel` folder: the plan's bundles, binaries, vendored dependencies)
//! are replaced, never rewritten, by the tools that make them, so they are hard-linked when
//! source and output share a filesystem: no bytes copied, and the output still stands when
//! the project is moved or deleted. A source file many functions need is copied once; the
//! others link to that copy.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::WriteOutputError;

/// Files and bytes placed so far.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tally {
    pub files: u64,
    pub bytes: u64,
}

/// Places files, remembering the first copy of each source file so that the next function
/// needing it gets a hard link to that copy (inside the output, which nothing edits) instead
/// of another copy.
#[derive(Debug, Default)]
pub(super) struct Placer {
    copies: RefCell<HashMap<PathBuf, PathBuf>>,
}

impl Placer {
    /// Puts `from` at `to` (parents created): a hard link to a package, a build product or an
    /// earlier copy when the filesystem allows one, else a copy. Symlinks are followed: the
    /// output holds content.
    pub(super) fn place(
        &self,
        from: &Path,
        to: &Path,
        tally: &mut Tally,
    ) -> Result<(), WriteOutputError> {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(write_error(parent))?;
        }
        let metadata = std::fs::metadata(from).map_err(read_error(from))?;
        let link_from = if linkable(from) {
            Some(from.to_path_buf())
        } else {
            self.copies.borrow().get(from).cloned()
        };
        let linked = link_from.is_some_and(|source| std::fs::hard_link(source, to).is_ok());
        if !linked {
            std::fs::copy(from, to).map_err(|source| WriteOutputError::Write {
                file: to.to_path_buf(),
                source,
            })?;
            if !linkable(from) {
                self.copies
                    .borrow_mut()
                    .entry(from.to_path_buf())
                    .or_insert_with(|| to.to_path_buf());
            }
        }
        tally.files += 1;
        tally.bytes += metadata.len();
        Ok(())
    }
}

/// Whether `file` is a package or build product (see the module docs).
fn linkable(file: &Path) -> bool {
    file.components()
        .any(|c| c.as_os_str() == "node_modules" || c.as_os_str() == ".vercel")
}

/// Writes `text` to `to` (parents created).
pub(super) fn write(to: &Path, text: &str, tally: &mut Tally) -> Result<(), WriteOutputError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    }
    std::fs::write(to, text).map_err(write_error(to))?;
    tally.files += 1;
    tally.bytes += text.len() as u64;
    Ok(())
}

/// Every file under `root` as `(relative /-separated path, absolute path)`, sorted, following
/// symlinks. `skip(relative, is_dir)` prunes entries (a pruned folder is not entered). Broken
/// symlinks and symlink loops are left out.
pub(super) fn list(
    root: &Path,
    skip: &dyn Fn(&str, bool) -> bool,
) -> Result<Vec<(String, PathBuf)>, WriteOutputError> {
    let mut files = Vec::new();
    let walk = WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            entry.depth() == 0 || !skip(&relative(root, entry.path()), entry.file_type().is_dir())
        });
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            // A loop, or a link to nothing: not content anyone can serve.
            Err(error) if error.loop_ancestor().is_some() || is_dangling(&error) => continue,
            Err(error) => {
                let file = error.path().unwrap_or(root).to_path_buf();
                return Err(WriteOutputError::Read {
                    file,
                    source: error.into(),
                });
            }
        };
        if entry.file_type().is_file() {
            files.push((relative(root, entry.path()), entry.into_path()));
        }
    }
    Ok(files)
}

fn is_dangling(error: &walkdir::Error) -> bool {
    error
        .io_error()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
}

/// `path` relative to `root`, `/`-separated.
pub(super) fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

pub(super) fn read_error(file: &Path) -> impl FnOnce(std::io::Error) -> WriteOutputError {
    let file = file.to_path_buf();
    move |source| WriteOutputError::Read { file, source }
}

pub(super) fn write_error(file: &Path) -> impl FnOnce(std::io::Error) -> WriteOutputError {
    let file = file.to_path_buf();
    move |source| WriteOutputError::Write { file, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placed_files_survive_the_removal_of_their_source() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let from = tmp.path().join("a.txt");
        std::fs::write(&from, "content").expect("write");
        let to = tmp.path().join("out/deep/a.txt");
        let mut tally = Tally::default();
        Placer::default()
            .place(&from, &to, &mut tally)
            .expect("placed");
        std::fs::remove_file(&from).expect("remove");
        assert_eq!(std::fs::read_to_string(&to).expect("read"), "content");
        assert_eq!((tally.files, tally.bytes), (1, 7));
    }

    #[cfg(unix)]
    #[test]
    fn sources_are_copied_once_and_packages_linked() {
        use std::os::unix::fs::MetadataExt as _;
        let tmp = tempfile::tempdir().expect("temp dir");
        let source = tmp.path().join("api/a.js");
        let package = tmp.path().join("node_modules/p/index.js");
        for file in [&source, &package] {
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(file, "v1").expect("write");
        }
        let mut tally = Tally::default();
        let out = tmp.path().join("out");
        let placer = Placer::default();
        placer
            .place(&source, &out.join("api/a.js"), &mut tally)
            .expect("placed");
        placer
            .place(&source, &out.join("b/api/a.js"), &mut tally)
            .expect("placed");
        placer
            .place(&package, &out.join("p.js"), &mut tally)
            .expect("placed");
        // An editor saving in place must not change the output.
        std::fs::write(&source, "v2").expect("rewrite in place");
        assert_eq!(
            std::fs::read_to_string(out.join("api/a.js")).expect("read"),
            "v1"
        );
        let ino = |file: &Path| std::fs::metadata(file).expect("metadata").ino();
        assert_eq!(ino(&package), ino(&out.join("p.js")), "packages are linked");
        assert_ne!(
            ino(&source),
            ino(&out.join("api/a.js")),
            "sources are copied"
        );
        assert_eq!(
            ino(&out.join("api/a.js")),
            ino(&out.join("b/api/a.js")),
            "a second use links the first copy"
        );
        assert_eq!(tally.files, 3);
    }

    #[cfg(unix)]
    #[test]
    fn listing_prunes_skipped_folders_and_ignores_broken_links() {
        let tmp = tempfile::tempdir().expect("temp dir");
        for file in ["a.js", "skip/b.js", "keep/c.js"] {
            let path = tmp.path().join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "").expect("write");
        }
        std::os::unix::fs::symlink("nowhere", tmp.path().join("dangling")).expect("symlink");
        std::os::unix::fs::symlink(".", tmp.path().join("keep/loop")).expect("symlink");
        let files = list(tmp.path(), &|rel, _| rel == "skip").expect("listed");
        let names: Vec<&str> = files.iter().map(|(rel, _)| rel.as_str()).collect();
        assert_eq!(names, ["a.js", "keep/c.js"]);
    }
}
