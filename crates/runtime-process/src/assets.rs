//! Where a launcher's embedded files (the Node launcher's modules) are written for the
//! language runtime to load: a directory named by the files' content hash under a private
//! per-user directory in the system temp dir, written once and reused by every eddy process of
//! the same version, so nothing accumulates in the temp dir.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// A directory holding a launcher's files.
#[derive(Debug)]
pub(crate) enum AssetDir {
    /// The shared, content-addressed directory; stays after eddy exits.
    Shared(PathBuf),
    /// A private fallback when the shared one cannot be trusted; removed on drop.
    Private(TempDir),
}

impl AssetDir {
    pub(crate) fn path(&self) -> &Path {
        match self {
            Self::Shared(path) => path,
            Self::Private(dir) => dir.path(),
        }
    }
}

/// Writes `files` (name, content) for launcher `name`; blocking, call it off the runtime.
pub(crate) fn write(name: &str, files: &[(&str, &str)]) -> io::Result<AssetDir> {
    match shared_dir(name, files) {
        Some(dir) => {
            for (file, content) in files {
                ensure_file(&dir.join(file), content.as_bytes())?;
            }
            Ok(AssetDir::Shared(dir))
        }
        None => {
            let dir = tempfile::Builder::new()
                .prefix(&format!("eddy-{name}-launcher-"))
                .tempdir()?;
            for (file, content) in files {
                std::fs::write(dir.path().join(file), content)?;
            }
            Ok(AssetDir::Private(dir))
        }
    }
}

/// `<temp>/eddy-<uid>/<name>-<hash>`, if `<temp>/eddy-<uid>` is a directory only this user can
/// write: anyone able to change the files there could run code as eddy's user.
fn shared_dir(name: &str, files: &[(&str, &str)]) -> Option<PathBuf> {
    let uid = nix::unistd::Uid::current().as_raw();
    let base = std::env::temp_dir().join(format!("eddy-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&base) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(_) => return None,
    }
    let meta = std::fs::symlink_metadata(&base).ok()?;
    let private = meta.is_dir() && meta.uid() == uid && meta.mode() & 0o077 == 0;
    if !private {
        tracing::warn!(
            "{} is not a private directory of this user; writing launcher files to a fresh temporary directory instead",
            base.display()
        );
        return None;
    }
    let mut hasher = DefaultHasher::new();
    files.hash(&mut hasher);
    let dir = base.join(format!("{name}-{:016x}", hasher.finish()));
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

/// Makes `path` hold exactly `content`, replacing it atomically if it differs, so a process
/// loading it never sees a half-written file.
fn ensure_file(path: &Path, content: &[u8]) -> io::Result<()> {
    if std::fs::read(path).is_ok_and(|existing| existing == content) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut staged = tempfile::NamedTempFile::new_in(dir)?;
    io::Write::write_all(&mut staged, content)?;
    staged.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_files_once_and_repairs_a_changed_file() {
        let files = [
            ("a.mjs", "export const a = 1;"),
            ("b.mjs", "export const b = 2;"),
        ];
        let name = format!("test-{}", std::process::id());
        let first = write(&name, &files).unwrap();
        let second = write(&name, &files).unwrap();
        assert_eq!(first.path(), second.path());
        assert!(matches!(first, AssetDir::Shared(_)));
        let a = first.path().join("a.mjs");
        std::fs::write(&a, "tampered").unwrap();
        write(&name, &files).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "export const a = 1;");
        std::fs::remove_dir_all(first.path()).unwrap();
    }

    #[test]
    fn different_content_gets_a_different_directory() {
        let name = format!("test-other-{}", std::process::id());
        let one = write(&name, &[("a.mjs", "1")]).unwrap();
        let two = write(&name, &[("a.mjs", "2")]).unwrap();
        assert_ne!(one.path(), two.path());
        std::fs::remove_dir_all(one.path()).unwrap();
        std::fs::remove_dir_all(two.path()).unwrap();
    }
}
