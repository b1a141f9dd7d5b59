//! `eddy build`: plan a project and write it as a Build Output API v3 tree (by default
//! `DIR/.vercel/output`), which `eddy serve --output` runs without the project.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use eddy_build::{PlanOptions, Progress, plan, write_output};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The project directory (with an `api/` folder, `vercel.json`, `public/`...).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to write the Build Output API v3 tree; replaced as a whole when the build
    /// succeeds, untouched when it fails. Default: DIR/.vercel/output.
    #[arg(long, short = 'o', value_name = "DIR")]
    output: Option<PathBuf>,
}

pub fn run(args: BuildArgs) -> anyhow::Result<()> {
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("project directory {} does not exist", args.dir.display()))?;
    let out = args
        .output
        .unwrap_or_else(|| dir.join(".vercel").join("output"));
    let started = Instant::now();
    println!("Building {}", dir.display());
    // A spinner while the language build steps run (drawn on a terminal only; a long step also
    // logs which functions are still building).
    let spinner = ProgressBar::new_spinner().with_message("building functions");
    spinner.enable_steady_tick(Duration::from_millis(120));
    // No platform env: the server that runs the output sets VERCEL_ENV, VERCEL_URL... itself.
    let planned = plan(&dir, &PlanOptions::new(&dir));
    spinner.finish_and_clear();
    let plan = planned?;
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }
    if !plan.errors.is_empty() {
        for error in &plan.errors {
            eprintln!("error: {error}");
        }
        bail!(
            "{} function(s) failed to build; nothing was written to {}",
            plan.errors.len(),
            out.display()
        );
    }
    println!(
        "Planned {} function(s) in {:.1} s",
        plan.deployment.functions.len(),
        started.elapsed().as_secs_f64()
    );
    let bar = ProgressBar::new(plan.deployment.functions.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("  [{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    let written = write_output(&dir, &plan, &out, &mut |progress| match progress {
        Progress::Static => bar.set_message("static files"),
        Progress::Function { path, .. } => bar.set_message(path.to_owned()),
        Progress::FunctionWritten(function) => {
            let line = format!(
                "  λ {:<32} {:<12} {:>10} {:>4} files {:>6.0} ms",
                function.path,
                function.runtime,
                size(function.bytes),
                function.files,
                function.elapsed.as_secs_f64() * 1000.0
            );
            // A hidden bar (no terminal) drops what it would print above itself.
            if bar.is_hidden() {
                println!("{line}");
            } else {
                bar.println(line);
            }
            bar.inc(1);
        }
    });
    bar.finish_and_clear();
    let summary = written?;
    for warning in &summary.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "  static: {} files, {}",
        summary.static_files,
        size(summary.static_bytes)
    );
    println!(
        "Build Output written to {} in {:.1} s",
        summary.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `1.2 MB`-style sizes (decimal units, as `vercel build` prints them).
fn size(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_in_decimal_units() {
        assert_eq!(size(999), "999 B");
        assert_eq!(size(1_500), "1.5 kB");
        assert_eq!(size(2_340_000), "2.3 MB");
    }
}
