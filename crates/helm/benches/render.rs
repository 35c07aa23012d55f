//! The native side of the native-vs-Helm render benchmark
//! (`scripts/helm-bench.sh`, which prepares the cases and runs Helm's side
//! in the same run): for every case of a cases file written by
//! `scripts/helm-bench-oracle.py prepare`, times what a render costs from
//! disk, in this process: loading the chart directory, reading and merging
//! the user values, rendering, and assembling `helm template`'s output.
//!
//!     render --cases CASES.json [--iterations N] [--warmup W]
//!
//! Prints JSON `{"cases": {name: {"best_ms", "median_ms"} | {"error"}}}`.

use std::error::Error;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use caravel_helm::chart::{load_dir, LoadLimits};
use caravel_helm::{parse_values_yaml, render, RenderOptions, ValuesInput};
use serde_json::{json, Map, Value};

/// One case of the cases file.
struct Case {
    name: String,
    chart: PathBuf,
    values: Vec<String>,
    set: Vec<String>,
    set_string: Vec<String>,
    options: RenderOptions,
}

/// Rendering allocates many small values; mimalloc is markedly faster at
/// that than glibc's allocator (measured by scripts/helm-bench.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Settings {
    cases: PathBuf,
    iterations: usize,
    warmup: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    let settings = settings()?;
    let text = std::fs::read_to_string(&settings.cases)
        .map_err(|e| format!("cannot read {}: {e}", settings.cases.display()))?;
    let cases = parse_cases(&serde_json::from_str(&text)?)?;
    let mut results = Map::new();
    for case in &cases {
        results.insert(case.name.clone(), measure(case, &settings));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({ "cases": results }))?
    );
    Ok(())
}

/// Flags; `--bench`, which `cargo bench` passes, is ignored.
fn settings() -> Result<Settings, Box<dyn Error>> {
    let mut settings = Settings {
        cases: PathBuf::new(),
        iterations: 20,
        warmup: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--cases" => settings.cases = PathBuf::from(value()?),
            "--iterations" => settings.iterations = value()?.parse()?,
            "--warmup" => settings.warmup = value()?.parse()?,
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if settings.cases.as_os_str().is_empty() {
        return Err("usage: render --cases CASES.json [--iterations N] [--warmup W]".into());
    }
    if settings.iterations == 0 {
        return Err("--iterations must be at least 1".into());
    }
    Ok(settings)
}

fn parse_cases(doc: &Value) -> Result<Vec<Case>, Box<dyn Error>> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let text = |v: &Value, default: &str| v.as_str().unwrap_or(default).to_owned();
    let list = doc["cases"]
        .as_array()
        .ok_or("cases file without a cases list")?;
    list.iter()
        .map(|c| {
            let name = c["name"]
                .as_str()
                .ok_or("a case without a name")?
                .to_owned();
            let chart = c["chart"]
                .as_str()
                .ok_or(format!("case {name} without a chart"))?;
            Ok(Case {
                chart: PathBuf::from(chart),
                values: strings(&c["values"]),
                set: strings(&c["set"]),
                set_string: strings(&c["set_string"]),
                options: RenderOptions {
                    release_name: text(&c["release"], "release-name"),
                    namespace: text(&c["namespace"], "default"),
                    kube_version: c["kube_version"].as_str().map(str::to_owned),
                    api_versions: strings(&c["api_versions"]),
                    include_crds: c["include_crds"].as_bool().unwrap_or(false),
                    skip_tests: c["skip_tests"].as_bool().unwrap_or(false),
                    ..RenderOptions::default()
                },
                name,
            })
        })
        .collect()
}

/// Best and median of `iterations` timed renders after `warmup` untimed
/// ones, or the error the case fails with.
fn measure(case: &Case, settings: &Settings) -> Value {
    for _ in 0..settings.warmup {
        if let Err(e) = render_once(case) {
            return json!({ "error": e });
        }
    }
    let mut samples = Vec::with_capacity(settings.iterations);
    for _ in 0..settings.iterations {
        let start = Instant::now();
        if let Err(e) = render_once(case) {
            return json!({ "error": e });
        }
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    let median = if samples.len() % 2 == 0 {
        (samples[mid - 1] + samples[mid]) / 2.0
    } else {
        samples[mid]
    };
    json!({ "best_ms": samples[0], "median_ms": median })
}

/// One render from disk, as `caravel template` does it.
fn render_once(case: &Case) -> Result<(), String> {
    let chart = load_dir(&case.chart, &LoadLimits::default()).map_err(|e| e.to_string())?;
    let mut files = Vec::with_capacity(case.values.len());
    for file in &case.values {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        files.push(parse_values_yaml(file, &text).map_err(|e| e.to_string())?);
    }
    let user = ValuesInput {
        files,
        set: case.set.clone(),
        set_string: case.set_string.clone(),
    }
    .merged()
    .map_err(|e| e.to_string())?;
    let rendered = render(&Arc::new(chart), user, &case.options).map_err(|e| e.to_string())?;
    black_box(rendered.output());
    Ok(())
}
