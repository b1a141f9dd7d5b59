//! Packages a Node function imports from outside the project (a `node_modules` in a parent
//! folder: a monorepo's hoisted packages, a workspace root), found with Vercel's own file
//! tracer `@vercel/nft` when it is installed in the project, a parent of it, or beside eddy.
//! Files inside the project are copied whole anyway (see the parent module); this adds the
//! outside ones at `node_modules/...` inside the function folder, where Node resolves them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `nft`'s entry module, for a `node` that traces.
const NFT: &str = "node_modules/@vercel/nft/out/index.js";

/// Reads entry files (JSON array) on stdin, prints `{entry: [absolute files]}`.
const SCRIPT: &str = r#"
const { nodeFileTrace } = require(process.argv[1]);
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  try {
    const out = {};
    for (const entry of JSON.parse(input)) {
      const { fileList } = await nodeFileTrace([entry], { base: '/', processCwd: process.argv[2], mixedModules: true });
      out[entry] = [...fileList].map((file) => '/' + file);
    }
    process.stdout.write(JSON.stringify(out));
  } catch (error) {
    process.stderr.write(String((error && error.stack) || error));
    process.exit(1);
  }
});
"#;

/// `@vercel/nft` in `project`, a parent of it, or a parent of the running executable.
pub(super) fn locate_nft(project: &Path) -> Option<PathBuf> {
    let beside_eddy = std::env::current_exe().ok();
    project
        .ancestors()
        .chain(beside_eddy.iter().flat_map(|exe| exe.ancestors()))
        .map(|dir| dir.join(NFT))
        .find(|nft| nft.is_file())
}

/// For each of `entries` (absolute), the files it needs from outside `project`, as
/// `(path inside the function folder, absolute file)`. Only files under a `node_modules`
/// folder are kept: those Node finds again by walking up from the function folder.
pub(super) fn outside_files(
    nft: &Path,
    project: &Path,
    entries: &[PathBuf],
) -> Result<Vec<Vec<(String, PathBuf)>>, String> {
    let mut child = Command::new("node")
        .arg("-e")
        .arg(SCRIPT)
        .arg(nft)
        .arg(project)
        .current_dir(project)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run node to trace the functions' files: {error}"))?;
    let input = serde_json::to_string(entries).map_err(|error| error.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|error| format!("cannot talk to node: {error}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| format!("node did not finish tracing: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "@vercel/nft failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let traced: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_slice(&output.stdout)
            .map_err(|error| format!("@vercel/nft answered something unreadable: {error}"))?;
    Ok(entries
        .iter()
        .map(|entry| {
            traced
                .get(entry.to_string_lossy().as_ref())
                .map(|files| {
                    files
                        .iter()
                        .map(PathBuf::from)
                        .filter(|file| !file.starts_with(project) && file.is_file())
                        .filter_map(|file| Some((inside_function(&file)?, file)))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect())
}

/// `node_modules/<package>/...` of a file in some parent's `node_modules`, or `None`.
fn inside_function(file: &Path) -> Option<String> {
    let text = file.to_string_lossy();
    let at = text.find("/node_modules/")?;
    Some(text[at + 1..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_files_land_under_the_function_folders_node_modules() {
        assert_eq!(
            inside_function(Path::new("/repo/node_modules/@vercel/functions/index.js")).as_deref(),
            Some("node_modules/@vercel/functions/index.js")
        );
        assert_eq!(inside_function(Path::new("/repo/lib/shared.js")), None);
    }

    #[test]
    fn packages_from_a_parent_folder_are_traced() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().canonicalize().expect("canonical");
        let package = root.join("node_modules/greet");
        std::fs::create_dir_all(&package).expect("mkdir");
        std::fs::write(
            package.join("index.js"),
            "module.exports = require('./words');",
        )
        .expect("write");
        std::fs::write(package.join("words.js"), "module.exports = 'hi';").expect("write");
        std::fs::write(package.join("unused.js"), "").expect("write");
        let project = root.join("app");
        std::fs::create_dir_all(project.join("api")).expect("mkdir");
        let entry = project.join("api/a.js");
        std::fs::write(&entry, "module.exports = () => require('greet');").expect("write");
        let Some(nft) = locate_nft(Path::new(env!("CARGO_MANIFEST_DIR"))) else {
            println!("skipped: @vercel/nft is not installed (run ./x setup)");
            return;
        };
        let files = outside_files(&nft, &project, &[entry]).expect("traces");
        let inside: Vec<&str> = files[0].iter().map(|(rel, _)| rel.as_str()).collect();
        assert!(
            inside.contains(&"node_modules/greet/index.js"),
            "{inside:?}"
        );
        assert!(
            inside.contains(&"node_modules/greet/words.js"),
            "{inside:?}"
        );
        assert!(
            !inside.contains(&"node_modules/greet/unused.js"),
            "{inside:?}"
        );
    }
}
