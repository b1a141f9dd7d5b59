//! Deploy: an uploaded `.vercel/output` tree (a tar, gzipped or not, or a directory) becomes
//! an immutable deployment directory `data/deployments/<id>`.
//!
//! Stages, each leaving nothing visible when it fails: [`stage_tar`]/[`stage_dir`] write into
//! `deployments/upload.tmp-<random>`; [`validate_output`] checks the tree and reads its crons;
//! [`manifest_digest`] hashes it into the content address; the caller then checks the env,
//! renames the directory into place and inserts the row (see `ControlPlane::deploy`).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cron::parse_schedule;
use crate::model::{CronSpec, InvalidProjectName};
use crate::store::StoreError;

/// The folder under the data dir holding deployment trees.
pub const DEPLOYMENTS_DIR: &str = "deployments";
/// Marks a directory under [`DEPLOYMENTS_DIR`] as an unfinished upload.
pub const TMP_MARKER: &str = ".tmp-";

/// Why a deploy was refused. Nothing was stored when any of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    InvalidProject(#[from] InvalidProjectName),
    #[error("upload is not a readable tar of a .vercel/output tree: {reason}")]
    MalformedUpload { reason: String },
    #[error("upload is not a Build Output v3 tree: {reason}")]
    InvalidOutput { reason: String },
    #[error("config.json crons[{index}] ({path:?}, {schedule:?}): {reason}")]
    InvalidCron {
        index: usize,
        path: String,
        schedule: String,
        reason: String,
    },
    #[error(
        "the environment of this deployment takes {total} bytes, more than the limit of {limit} bytes; the largest variables: {}; remove or shorten some with `eddy env rm`",
        largest.iter().map(|(key, size)| format!("{key} ({size} bytes)")).collect::<Vec<_>>().join(", ")
    )]
    EnvTooLarge {
        total: usize,
        limit: usize,
        largest: Vec<(String, usize)>,
    },
    #[error(
        "deployment dir {path}: {source} (check the data dir is writable and the disk is not full)"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> DeployError + '_ {
    move |source| DeployError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A staged upload directory; removed on drop unless [`Staged::keep`] moved it into place.
#[derive(Debug)]
pub struct Staged {
    dir: Option<PathBuf>,
}

impl Staged {
    /// Creates an empty staging dir under `deployments_dir`.
    fn create(deployments_dir: &Path) -> Result<Self, DeployError> {
        fs::create_dir_all(deployments_dir).map_err(io_error(deployments_dir))?;
        let name = format!("upload{TMP_MARKER}{:016x}", rand::random::<u64>());
        let dir = deployments_dir.join(name);
        fs::create_dir(&dir).map_err(io_error(&dir))?;
        Ok(Self { dir: Some(dir) })
    }

    pub fn path(&self) -> &Path {
        self.dir
            .as_deref()
            .expect("a staged dir has its path until kept")
    }

    /// Renames the staged tree to `dest` (which must not exist); it is no longer removed.
    pub fn keep(mut self, dest: &Path) -> Result<(), DeployError> {
        let dir = self
            .dir
            .take()
            .expect("a staged dir has its path until kept");
        if let Err(source) = fs::rename(&dir, dest) {
            let _ = fs::remove_dir_all(&dir);
            return Err(DeployError::Io {
                path: dest.to_owned(),
                source,
            });
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Most bytes an upload may unpack to: 2 GiB (a gzip bomb stops here).
pub const MAX_UNPACKED_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Unpacks a tar (gzipped when it starts with the gzip magic) into a new staging dir.
/// Entries must be files, directories or symlinks that stay inside the tree.
pub fn stage_tar(deployments_dir: &Path, body: &[u8]) -> Result<Staged, DeployError> {
    stage_tar_within(deployments_dir, body, MAX_UNPACKED_BYTES)
}

/// Whether an unpack error is the server's (disk full, permissions), not the upload's.
fn is_storage_error(error: &io::Error) -> bool {
    use io::ErrorKind::{PermissionDenied, QuotaExceeded, ReadOnlyFilesystem, StorageFull};
    matches!(
        error.kind(),
        StorageFull | QuotaExceeded | ReadOnlyFilesystem | PermissionDenied
    )
}

fn stage_tar_within(
    deployments_dir: &Path,
    body: &[u8],
    max_bytes: u64,
) -> Result<Staged, DeployError> {
    let staged = Staged::create(deployments_dir)?;
    let reader: Box<dyn Read + '_> = if body.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(body))
    } else {
        Box::new(body)
    };
    let malformed = |reason: String| DeployError::MalformedUpload { reason };
    let mut archive = tar::Archive::new(reader);
    let mut count = 0usize;
    let mut unpacked_bytes = 0u64;
    for entry in archive.entries().map_err(|e| malformed(e.to_string()))? {
        let mut entry = entry.map_err(|e| malformed(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| malformed(e.to_string()))?
            .into_owned();
        check_relative(&path).map_err(malformed)?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(|e| malformed(e.to_string()))?
                .unwrap_or_default();
            check_link(&path, &target).map_err(malformed)?;
        } else if !(kind.is_file() || kind.is_dir()) {
            return Err(malformed(format!(
                "{} is a {kind:?} entry (only files, directories and symlinks)",
                path.display()
            )));
        }
        unpacked_bytes = unpacked_bytes.saturating_add(entry.header().size().unwrap_or(0));
        if unpacked_bytes > max_bytes {
            return Err(malformed(format!(
                "it unpacks to more than {max_bytes} bytes"
            )));
        }
        let unpacked = entry.unpack_in(staged.path()).map_err(|e| {
            if is_storage_error(&e) {
                DeployError::Io {
                    path: staged.path().join(&path),
                    source: e,
                }
            } else {
                malformed(format!("{}: {e}", path.display()))
            }
        })?;
        if !unpacked {
            return Err(malformed(format!(
                "{} points outside the tree",
                path.display()
            )));
        }
        count += 1;
    }
    if count == 0 {
        return Err(malformed("the archive is empty".into()));
    }
    Ok(staged)
}

/// Packs a `.vercel/output` directory into the gzipped tar the admin API takes (its content
/// at the archive's root; symlinks stay links). The client side of [`stage_tar`].
pub fn pack_dir(dir: &Path) -> io::Result<Vec<u8>> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir)?;
    builder.into_inner()?.finish()
}

/// Copies a `.vercel/output` directory into a new staging dir (symlinks stay symlinks).
pub fn stage_dir(deployments_dir: &Path, source: &Path) -> Result<Staged, DeployError> {
    if !source.is_dir() {
        return Err(DeployError::InvalidOutput {
            reason: format!("{} is not a directory", source.display()),
        });
    }
    let staged = Staged::create(deployments_dir)?;
    for entry in walkdir::WalkDir::new(source)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| DeployError::InvalidOutput {
            reason: e.to_string(),
        })?;
        let relative = entry
            .path()
            .strip_prefix(source)
            .expect("walkdir yields paths under its root");
        let dest = staged.path().join(relative);
        let kind = entry.file_type();
        if kind.is_dir() {
            fs::create_dir_all(&dest).map_err(io_error(&dest))?;
        } else if kind.is_symlink() {
            let target = fs::read_link(entry.path()).map_err(io_error(entry.path()))?;
            check_link(relative, &target)
                .map_err(|reason| DeployError::InvalidOutput { reason })?;
            symlink(&target, &dest).map_err(io_error(&dest))?;
        } else {
            fs::copy(entry.path(), &dest).map_err(io_error(&dest))?;
        }
    }
    Ok(staged)
}

#[cfg(unix)]
fn symlink(target: &Path, dest: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, dest)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, dest: &Path) -> io::Result<()> {
    Err(io::Error::other(format!(
        "{}: symlinks in deployments need a unix host",
        dest.display()
    )))
}

fn check_relative(path: &Path) -> Result<(), String> {
    if path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Ok(())
    } else {
        Err(format!(
            "{} is not a relative path inside the tree",
            path.display()
        ))
    }
}

/// A symlink at `link` (relative to the root) must point to a relative place inside the tree.
fn check_link(link: &Path, target: &Path) -> Result<(), String> {
    let mut depth: i64 = link
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count() as i64
        - 1;
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth -= 1,
            Component::RootDir | Component::Prefix(_) => depth = -1,
        }
        if depth < 0 {
            return Err(format!(
                "symlink {} -> {} points outside the tree",
                link.display(),
                target.display()
            ));
        }
    }
    Ok(())
}

/// Checks a staged tree is a Build Output v3 tree that serves completely (read with
/// [`eddy_config::read_output`], as the server will read it; a function that cannot serve
/// refuses the deploy) and returns its crons, schedules parsed and paths checked.
pub fn validate_output(root: &Path) -> Result<Vec<CronSpec>, DeployError> {
    let invalid = |reason: String| DeployError::InvalidOutput { reason };
    let output = eddy_config::read_output(root).map_err(|e| {
        // Name paths inside the upload, not the staging dir.
        let text = e
            .to_string()
            .replace(&format!("{}/", root.display()), "")
            .replace(&root.display().to_string(), "the upload");
        invalid(text)
    })?;
    if !output.errors.is_empty() {
        let list: Vec<String> = output.errors.iter().map(ToString::to_string).collect();
        return Err(invalid(format!(
            "{} (fix them and build again)",
            list.join("; ")
        )));
    }
    let crons: Vec<CronSpec> = output
        .crons
        .into_iter()
        .map(|cron| CronSpec {
            path: cron.path,
            schedule: cron.schedule,
        })
        .collect();
    for (index, cron) in crons.iter().enumerate() {
        let error = |reason: String| DeployError::InvalidCron {
            index,
            path: cron.path.clone(),
            schedule: cron.schedule.clone(),
            reason,
        };
        if !cron.path.starts_with('/') || cron.path.len() > eddy_config::limits::MAX_CRON_PATH_LEN {
            return Err(error(format!(
                "the path must start with `/` and be at most {} characters",
                eddy_config::limits::MAX_CRON_PATH_LEN
            )));
        }
        parse_schedule(&cron.schedule).map_err(|e| error(e.to_string()))?;
    }
    Ok(crons)
}

/// SHA-256 over the sorted tree: each entry's relative path, kind, and content hash (files)
/// or link target (symlinks). Timestamps and permissions other than the executable bit are
/// not part of it.
pub fn manifest_digest(root: &Path) -> Result<[u8; 32], DeployError> {
    let mut manifest = Sha256::new();
    for entry in walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| DeployError::InvalidOutput {
            reason: e.to_string(),
        })?;
        let relative = entry
            .path()
            .strip_prefix(root)
            .expect("walkdir yields paths under its root");
        manifest.update(relative.to_string_lossy().as_bytes());
        let kind = entry.file_type();
        if kind.is_dir() {
            manifest.update(b"\0d\n");
        } else if kind.is_symlink() {
            let target = fs::read_link(entry.path()).map_err(io_error(entry.path()))?;
            manifest.update(b"\0l");
            manifest.update(target.to_string_lossy().as_bytes());
            manifest.update(b"\n");
        } else {
            let mut file = fs::File::open(entry.path()).map_err(io_error(entry.path()))?;
            let mut content = Sha256::new();
            io::copy(&mut file, &mut content).map_err(io_error(entry.path()))?;
            manifest.update(if executable(&entry) { b"\0x" } else { b"\0f" });
            manifest.update(content.finalize());
            manifest.update(b"\n");
        }
    }
    Ok(manifest.finalize().into())
}

#[cfg(unix)]
fn executable(entry: &walkdir::DirEntry) -> bool {
    use std::os::unix::fs::PermissionsExt;
    entry
        .metadata()
        .is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(_entry: &walkdir::DirEntry) -> bool {
    false
}

/// Size of an environment as Vercel counts it: names plus values.
pub fn env_size(env: &BTreeMap<String, String>) -> usize {
    env.iter().map(|(key, value)| key.len() + value.len()).sum()
}

/// `Err(EnvTooLarge)` naming the five largest variables when `env` exceeds the limit.
pub fn check_env_size(env: &BTreeMap<String, String>) -> Result<(), DeployError> {
    let total = env_size(env);
    let limit = eddy_config::limits::MAX_ENV_BYTES;
    if total <= limit {
        return Ok(());
    }
    let mut largest: Vec<(String, usize)> = env
        .iter()
        .map(|(k, v)| (k.clone(), k.len() + v.len()))
        .collect();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    largest.truncate(5);
    Err(DeployError::EnvTooLarge {
        total,
        limit,
        largest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str, content: &str) {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(path, content).expect("write");
    }

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, path, content.as_bytes())
                .expect("append");
        }
        builder.into_inner().expect("finish tar")
    }

    #[test]
    fn a_staged_tar_is_unpacked_and_removed_when_dropped() {
        let data = tempfile::tempdir().expect("tempdir");
        let body = tar_of(&[
            ("config.json", r#"{"version":3}"#),
            ("static/index.html", "hi"),
        ]);
        let staged = stage_tar(data.path(), &body).expect("stage");
        let dir = staged.path().to_owned();
        assert_eq!(
            fs::read_to_string(dir.join("static/index.html")).expect("read"),
            "hi"
        );
        drop(staged);
        assert!(!dir.exists());
    }

    #[test]
    fn an_upload_that_unpacks_beyond_the_limit_is_refused() {
        let data = tempfile::tempdir().expect("tempdir");
        let body = tar_of(&[
            ("config.json", r#"{"version":3}"#),
            ("static/big.bin", &"x".repeat(600)),
        ]);
        let error = stage_tar_within(data.path(), &body, 500).expect_err("over the limit");
        assert!(error.to_string().contains("more than 500 bytes"), "{error}");
        assert_eq!(fs::read_dir(data.path()).expect("list").count(), 0);
        stage_tar_within(data.path(), &body, 1000).expect("under the limit");
    }

    #[test]
    fn garbage_and_escaping_symlinks_are_refused_without_leftovers() {
        let data = tempfile::tempdir().expect("tempdir");
        let error = stage_tar(data.path(), b"definitely not a tar archive").expect_err("garbage");
        assert!(
            matches!(error, DeployError::MalformedUpload { .. }),
            "{error}"
        );
        assert!(
            check_link(
                Path::new("functions/a.func"),
                Path::new("../../../etc/passwd")
            )
            .is_err()
        );
        assert!(check_link(Path::new("functions/a.func"), Path::new("b.func")).is_ok());
        assert!(check_link(Path::new("a"), Path::new("/etc")).is_err());
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder
            .append_link(&mut header, "static/escape", "../../../../etc")
            .expect("append link");
        let body = builder.into_inner().expect("tar");
        let error = stage_tar(data.path(), &body).expect_err("escaping link");
        assert!(
            error.to_string().contains("points outside the tree"),
            "{error}"
        );
        assert_eq!(
            fs::read_dir(data.path()).expect("list").count(),
            0,
            "staging dir left behind"
        );
    }

    #[test]
    fn validation_wants_version_3_and_parsable_crons() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error = validate_output(dir.path()).expect_err("no config.json");
        assert!(error.to_string().contains("config.json"), "{error}");
        write(dir.path(), "config.json", r#"{"version":2}"#);
        let v2 = validate_output(dir.path()).expect_err("v2").to_string();
        let staging = dir.path().display().to_string();
        assert!(
            v2.contains("`version` is 2") && !v2.contains(&staging),
            "{v2}"
        );
        write(
            dir.path(),
            "config.json",
            r#"{"version":3,"crons":[{"path":"/api/c","schedule":"61 * * * *"}]}"#,
        );
        assert!(matches!(
            validate_output(dir.path()),
            Err(DeployError::InvalidCron { index: 0, .. })
        ));
        write(
            dir.path(),
            "config.json",
            r#"{"version":3,"crons":[{"path":"/api/c","schedule":"*/5 * * * *"}]}"#,
        );
        assert_eq!(validate_output(dir.path()).expect("valid").len(), 1);
        fs::create_dir_all(dir.path().join("functions/api/x.func")).expect("mkdir");
        let broken = validate_output(dir.path())
            .expect_err("no vc-config")
            .to_string();
        assert!(broken.contains("api/x"), "{broken}");
    }

    #[test]
    fn the_manifest_digest_follows_content_not_copies() {
        let one = tempfile::tempdir().expect("tempdir");
        let two = tempfile::tempdir().expect("tempdir");
        for dir in [&one, &two] {
            write(dir.path(), "config.json", r#"{"version":3}"#);
            write(dir.path(), "static/a.txt", "a");
        }
        assert_eq!(
            manifest_digest(one.path()).expect("one"),
            manifest_digest(two.path()).expect("two")
        );
        write(two.path(), "static/a.txt", "b");
        assert_ne!(
            manifest_digest(one.path()).expect("one"),
            manifest_digest(two.path()).expect("two")
        );
    }

    #[test]
    fn an_oversized_env_names_its_largest_variables() {
        let mut env = BTreeMap::new();
        env.insert("SMALL".to_owned(), "x".to_owned());
        env.insert("HUGE".to_owned(), "y".repeat(70_000));
        let error = check_env_size(&env).expect_err("too large");
        let text = error.to_string();
        assert!(
            text.contains("HUGE (70004 bytes)") && text.contains("65536"),
            "{text}"
        );
    }
}
