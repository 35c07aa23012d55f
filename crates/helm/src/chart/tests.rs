//! Loading the test charts compared with what real Helm loads
//! (testdata/loaded-charts.json, written by testdata/loaded-charts.py), and
//! hostile inputs: path traversal, escaping symlinks, gzip bombs, too many
//! files, deep nesting, broken Chart.yaml.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Map, Value};

use super::*;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/helm")
}

fn golden() -> Map<String, Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/chart/testdata/loaded-charts.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Numbers compared as floats (Helm's JSON prints whole floats as ints).
fn normalized(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), normalized(v))).collect())
        }
        other => other.clone(),
    }
}

fn file_list(files: &[ChartFile]) -> Value {
    Value::Array(
        files
            .iter()
            .map(|f| json!({"name": f.name, "data": String::from_utf8(f.data.to_vec()).unwrap()}))
            .collect(),
    )
}

fn assert_loaded_like_helm(label: &str, chart: &Chart, want: &Value) {
    assert_eq!(
        Value::Object(chart.metadata_json.clone()),
        want["metadata"],
        "{label}: metadata"
    );
    assert_eq!(
        file_list(&chart.templates),
        want["templates"],
        "{label}: templates"
    );
    assert_eq!(file_list(&chart.files), want["files"], "{label}: files");
    let values = if want["values"].is_null() {
        json!({})
    } else {
        normalized(&want["values"])
    };
    assert_eq!(
        normalized(&Value::Object(chart.values.clone())),
        values,
        "{label}: values"
    );
    assert_eq!(
        chart.schema.as_ref().unwrap_or(&Value::Null),
        &want["schema"],
        "{label}: schema"
    );
    let subs: Vec<&str> = chart
        .subcharts
        .iter()
        .map(|s| s.metadata.name.as_str())
        .collect();
    assert_eq!(json!(subs), want["subcharts"], "{label}: subcharts");
}

/// redis-lite packed as `helm package` (and scripts/helm-oracle.py) lays
/// it out: `redis-lite/<path>` entries.
fn pack(src: &Path, top: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    let mut paths = Vec::new();
    collect_files(src, src, &mut paths);
    paths.sort();
    for rel in paths {
        let data = std::fs::read(src.join(&rel)).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{top}/{rel}"), data.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else {
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let target = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn tgz_parent(scratch: &Path) -> PathBuf {
    let dir = scratch.join("tgz-parent");
    copy_dir(&testdata().join("charts/tgz-parent"), &dir);
    let archive = pack(&testdata().join("tgz-src/redis-lite"), "redis-lite");
    std::fs::create_dir_all(dir.join("charts")).unwrap();
    std::fs::write(dir.join("charts/redis-lite-0.3.1.tgz"), archive).unwrap();
    dir
}

// === the test charts, as Helm loads them ===

#[test]
fn every_test_chart_loads_as_helm_loads_it() {
    let golden = golden();
    let scratch = tempfile::tempdir().unwrap();
    let limits = LoadLimits::default();
    let mut checked = 0;
    for entry in std::fs::read_dir(testdata().join("charts")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let dir = if name == "tgz-parent" {
            tgz_parent(scratch.path())
        } else {
            testdata().join("charts").join(&name)
        };
        let chart = load_dir(&dir, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_loaded_like_helm(&name, &chart, &golden[&name]);
        checked += 1;
        for sub in &chart.subcharts {
            let label = format!("{name}/charts/{}", sub.metadata.name);
            assert_loaded_like_helm(&label, sub, &golden[&label]);
            checked += 1;
        }
    }
    assert_eq!(checked, golden.len(), "every golden chart compared");
}

#[test]
fn a_chart_archive_loads_without_its_helmignore() {
    let archive = pack(&testdata().join("tgz-src/redis-lite"), "redis-lite");
    let chart = load_archive(&archive, &LoadLimits::default()).unwrap();
    assert_loaded_like_helm(
        "redis-lite",
        &chart,
        &golden()["tgz-parent/charts/redis-lite"],
    );
    assert!(chart.files.iter().any(|f| f.name == "ignored.txt"));
}

#[test]
fn legacy_charts_take_dependencies_from_requirements_yaml() {
    let chart = load_dir(&testdata().join("charts/legacy-v1"), &LoadLimits::default()).unwrap();
    assert_eq!(chart.metadata.api_version, "v1");
    let deps = &chart.metadata.dependencies;
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].name, "sidecar");
    assert_eq!(deps[0].condition.as_deref(), Some("sidecar.enabled"));
    assert!(chart.files.iter().any(|f| f.name == "requirements.yaml"));
}

#[test]
fn values_tree_mirrors_the_chart_tree() {
    let chart =
        Arc::new(load_dir(&testdata().join("charts/umbrella"), &LoadLimits::default()).unwrap());
    let tree = chart.values_tree();
    assert_eq!(tree.name, "umbrella");
    assert_eq!(tree.version, "1.0.0");
    let reqs = tree.requirements.as_ref().unwrap();
    assert_eq!(
        reqs.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["frontend", "backend", "database"]
    );
    assert_eq!(reqs[2].tags, ["data"]);
    let subs: Vec<&str> = tree.subcharts.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(subs, ["backend", "database", "frontend"]);
    assert!(tree.subcharts.iter().all(|s| s.requirements.is_none()));
    assert!(Arc::ptr_eq(tree.source.as_ref().unwrap(), &chart));
    assert_eq!(tree.subcharts[0].values, chart.subcharts[0].values);
}

#[test]
fn library_charts_and_crds_are_recognised() {
    let lib = load_dir(
        &testdata().join("charts/library-consumer"),
        &LoadLimits::default(),
    )
    .unwrap();
    assert!(!lib.is_library());
    assert!(lib.subcharts[0].is_library());
    let crds = load_dir(&testdata().join("charts/crds"), &LoadLimits::default()).unwrap();
    let names: Vec<&str> = crds.crd_files().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["crds/gadgets.yaml", "crds/widgets.yaml"]);
}

// === chart layout rules ===

fn write(root: &Path, rel: &str, data: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

fn chart_yaml(name: &str) -> String {
    format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
}

fn load_err(dir: &Path, limits: &LoadLimits) -> String {
    load_dir(dir, limits).unwrap_err().to_string()
}

#[test]
fn a_stray_file_in_charts_is_an_error_as_in_helm() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Chart.yaml", chart_yaml("c1").as_bytes());
    write(dir.path(), "charts/README", b"hi\n");
    assert_eq!(
        load_err(dir.path(), &LoadLimits::default()),
        "error unpacking subchart README in c1: Chart.yaml file is missing"
    );
}

#[test]
fn hidden_and_underscored_entries_of_charts_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Chart.yaml", chart_yaml("c2").as_bytes());
    write(dir.path(), "charts/_skip/a", b"x");
    write(dir.path(), "charts/.hid/b", b"x");
    write(dir.path(), "charts/zeta-1.0.tgz.prov", b"sig");
    write(
        dir.path(),
        "charts/zeta/Chart.yaml",
        chart_yaml("zeta").as_bytes(),
    );
    write(
        dir.path(),
        "charts/alpha/Chart.yaml",
        chart_yaml("alpha").as_bytes(),
    );
    write(dir.path(), "templates/.hidden", b"x");
    write(dir.path(), "charts/alpha/templates/.kept", b"x");
    write(dir.path(), "values.yaml", b"\xEF\xBB\xBFa: 1\n");
    write(dir.path(), "Chart.lock", b"dependencies: []\n");
    let chart = load_dir(dir.path(), &LoadLimits::default()).unwrap();
    let subs: Vec<&str> = chart
        .subcharts
        .iter()
        .map(|s| s.metadata.name.as_str())
        .collect();
    assert_eq!(subs, ["alpha", "zeta"]);
    assert_eq!(
        file_list(&chart.files),
        json!([{"name": "charts/zeta-1.0.tgz.prov", "data": "sig"}])
    );
    assert!(chart.templates.is_empty());
    // Helm's default rule is anchored at the top chart's templates/.
    assert_eq!(chart.subcharts[0].templates[0].name, "templates/.kept");
    assert_eq!(chart.raw_values, "a: 1\n");
    assert_eq!(chart.values["a"], json!(1.0));
}

#[test]
fn chart_yaml_scalars_become_strings_as_in_helm() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Chart.yaml",
        b"apiVersion: v2\nname: m1\nversion: 1.0\nappVersion: 1.10\ndescription: 1.5e3\nkeywords: [1, 2.50, true]\nannotations:\n  a: 1.0\nunknown: x\nkubeVersion: \">=1.20\"\n",
    );
    let chart = load_dir(dir.path(), &LoadLimits::default()).unwrap();
    // What helm_python's Chart.metadata reports for this Chart.yaml.
    assert_eq!(
        Value::Object(chart.metadata_json),
        json!({"name": "m1", "version": "1", "description": "1500", "keywords": ["1", "2.5", "true"],
               "apiVersion": "v2", "appVersion": "1.1", "annotations": {"a": "1"}, "kubeVersion": ">=1.20"})
    );
    assert_eq!(chart.metadata.app_version, "1.1");
}

#[test]
fn invalid_chart_yaml_is_a_clear_error() {
    let cases: [(&str, &str); 9] = [
        ("apiVersion: v2\nversion: 1.2.3\n", "validation: chart.metadata.name is required"),
        ("apiVersion: v2\nname: x\n", "validation: chart.metadata.version is required"),
        ("apiVersion: v2\nname: ../x\nversion: 1.2.3\n", "validation: chart.metadata.name \"../x\" is invalid"),
        ("apiVersion: v2\nname: x\nversion: 1.2.3.4\n", "validation: chart.metadata.version \"1.2.3.4\" is invalid"),
        ("apiVersion: v2\nname: x\nversion: 1.2.3\ntype: other\n", "validation: chart.metadata.type must be application or library"),
        ("apiVersion: v2\nname: x\nversion: 1.2.3\ndependencies:\n- name: a\n  alias: \"b c\"\n", "validation: dependency \"a\" has disallowed characters in the alias"),
        ("apiVersion: v2\nname: x\nversion: 1.2.3\ndependencies:\n- name: a\n- name: a\n", "validation: more than one dependency with name or alias \"a\""),
        ("apiVersion: v2\nname: [a]\nversion: 1.2.3\n", "cannot load Chart.yaml: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go struct field Metadata.name of type string"),
        ("- a\n", "cannot load Chart.yaml: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type v2.Metadata"),
    ];
    for (text, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Chart.yaml", text.as_bytes());
        assert_eq!(load_err(dir.path(), &LoadLimits::default()), want, "{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Chart.yaml",
        b"apiVersion: v2\nname: x\nversion: 1.2.3\n  bad: indent\n",
    );
    let err = load_err(dir.path(), &LoadLimits::default());
    assert!(
        err.starts_with("cannot load Chart.yaml: error converting YAML to JSON: yaml: "),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "values.yaml", b"a: 1\n");
    assert_eq!(
        load_err(dir.path(), &LoadLimits::default()),
        "Chart.yaml file is missing"
    );
    // A broken subchart names itself and its parent.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Chart.yaml", chart_yaml("parent").as_bytes());
    write(
        dir.path(),
        "charts/kid/Chart.yaml",
        b"apiVersion: v2\nname: kid\n",
    );
    assert_eq!(
        load_err(dir.path(), &LoadLimits::default()),
        "error unpacking subchart kid in parent: validation: chart.metadata.version is required"
    );
}

#[test]
fn helmignore_applies_to_the_whole_directory_walk() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Chart.yaml", chart_yaml("ig").as_bytes());
    write(dir.path(), ".helmignore", b"*.bak\nsecret/\n");
    write(dir.path(), "a.bak", b"x");
    write(dir.path(), "secret/x", b"x");
    write(dir.path(), "keep.txt", b"x");
    write(dir.path(), "other.txt", b"x");
    let chart = load_dir(dir.path(), &LoadLimits::default()).unwrap();
    let names: Vec<&str> = chart.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, [".helmignore", "keep.txt", "other.txt"]);
    // Helm's quirk: a negated rule ignores whatever it does not match,
    // Chart.yaml included (Helm: "Chart.yaml file is missing").
    write(dir.path(), ".helmignore", b"*.bak\nsecret/\n!keep*\n");
    assert_eq!(
        load_err(dir.path(), &LoadLimits::default()),
        "Chart.yaml file is missing"
    );
    write(dir.path(), ".helmignore", b"[bad\n");
    assert_eq!(
        load_err(dir.path(), &LoadLimits::default()),
        "syntax error in pattern"
    );
}

// === hostile input ===

/// A gzipped tar from raw (name, data) entries, names written as given.
fn raw_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    gzip(&tar)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn archive_err(bytes: &[u8], limits: &LoadLimits) -> String {
    load_archive(bytes, limits).unwrap_err().to_string()
}

#[test]
fn archives_with_escaping_paths_are_refused() {
    let chart = chart_yaml("evil");
    let cases: [(&str, &str); 4] = [
        (
            "evil/../../etc/passwd",
            "chart illegally references parent directory",
        ),
        (
            "evil//etc/passwd",
            "chart illegally contains absolute paths",
        ),
        ("evil/c:/x", "chart contains illegally named files"),
        (
            "README",
            "chart illegally contains content outside the base directory: \"README\"",
        ),
    ];
    for (name, want) in cases {
        let bytes = raw_tar(&[("evil/Chart.yaml", chart.as_bytes()), (name, b"x")]);
        assert_eq!(archive_err(&bytes, &LoadLimits::default()), want, "{name}");
    }
    let bytes = raw_tar(&[("Chart.yaml", chart.as_bytes())]);
    let err = archive_err(&bytes, &LoadLimits::default());
    assert_eq!(
        err,
        "chart illegally contains content outside the base directory: \"Chart.yaml\""
    );
    assert_eq!(
        archive_err(b"not a gzip file", &LoadLimits::default()),
        "gzip: invalid header"
    );
    assert_eq!(
        archive_err(&gzip(&[0u8; 1024]), &LoadLimits::default()),
        "no files in chart archive"
    );
}

/// Security checklist item 8: link entries (to `/etc/passwd`, or out of
/// the chart) are refused, whatever they point to.
#[test]
fn archives_with_link_entries_are_refused() {
    for kind in [tar::EntryType::Symlink, tar::EntryType::Link] {
        let mut tar = Vec::new();
        let chart = chart_yaml("evil");
        for (name, data, entry_type) in [
            ("evil/Chart.yaml", chart.as_bytes(), tar::EntryType::Regular),
            ("evil/values.yaml", &b""[..], kind),
        ] {
            let mut header = tar::Header::new_gnu();
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(entry_type);
            if entry_type != tar::EntryType::Regular {
                header.set_link_name("../../../../etc/passwd").unwrap();
            }
            header.set_cksum();
            tar.extend_from_slice(header.as_bytes());
            tar.extend_from_slice(data);
            tar.resize(tar.len().div_ceil(512) * 512, 0);
        }
        tar.resize(tar.len() + 1024, 0);
        let err = archive_err(&gzip(&tar), &LoadLimits::default());
        assert!(err.contains("chart contains a link"), "{kind:?}: {err}");
    }
}

#[test]
fn an_archive_entry_declaring_a_huge_size_is_refused_before_reading() {
    let mut tar = Vec::new();
    let mut header = tar::Header::new_gnu();
    header.set_path("big/data.bin").unwrap();
    header.set_size(6 << 20);
    header.set_cksum();
    tar.extend_from_slice(header.as_bytes());
    tar.resize(tar.len() + 4096, 0);
    let err = archive_err(&gzip(&tar), &LoadLimits::default());
    assert_eq!(
        err,
        "decompressed chart file \"big/data.bin\" is larger than the maximum file size 5242880"
    );
    // Over the whole budget is checked first, as in Helm.
    header.set_size(1 << 30);
    header.set_cksum();
    tar[..512].copy_from_slice(header.as_bytes());
    assert_eq!(
        archive_err(&gzip(&tar), &LoadLimits::default()),
        "decompressed chart is larger than the maximum size 104857600"
    );
}

#[test]
fn a_gzip_bomb_stops_at_the_limit() {
    // A PAX header entry claiming 1 GiB, its body 1 GiB of zeros: gzip
    // members of 1 MiB of zeros, concatenated (about 1 MiB compressed).
    let mut first = Vec::new();
    let mut header = tar::Header::new_ustar();
    header.set_path("bomb/pax").unwrap();
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_size(1 << 30);
    header.set_cksum();
    first.extend_from_slice(header.as_bytes());
    first.resize(1 << 20, 0);
    let mut bomb = gzip(&first);
    let zeros = gzip(&vec![0u8; 1 << 20]);
    for _ in 1..1024 {
        bomb.extend_from_slice(&zeros);
    }
    let limits = LoadLimits {
        max_total_bytes: 4 << 20,
        max_files: 100,
        ..LoadLimits::default()
    };
    let started = std::time::Instant::now();
    assert_eq!(
        archive_err(&bomb, &limits),
        "decompressed chart is larger than the maximum size 4194304"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // Plain file contents count too: many files, each under the per-file
    // limit, together over the total.
    let data = vec![b'a'; 600 << 10];
    let mut entries: Vec<(String, &[u8])> = vec![("big/Chart.yaml".into(), b"name: big\n")];
    for i in 0..10 {
        entries.push((format!("big/f{i}"), &data));
    }
    let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    assert_eq!(
        archive_err(&raw_tar(&refs), &limits),
        "decompressed chart is larger than the maximum size 4194304"
    );
}

#[test]
fn too_many_files_are_refused() {
    let limits = LoadLimits {
        max_files: 50,
        ..LoadLimits::default()
    };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Chart.yaml", chart_yaml("many").as_bytes());
    for i in 0..60 {
        write(dir.path(), &format!("files/f{i}"), b"x");
    }
    assert_eq!(
        load_err(dir.path(), &limits),
        "chart has more than 50 files"
    );
    let names: Vec<String> = (0..60).map(|i| format!("many/f{i}")).collect();
    let mut entries: Vec<(&str, &[u8])> =
        names.iter().map(|n| (n.as_str(), b"x" as &[u8])).collect();
    entries.push(("many/Chart.yaml", b"name: many\n"));
    assert_eq!(
        archive_err(&raw_tar(&entries), &limits),
        "chart has more than 50 files"
    );
}

#[test]
fn deep_subchart_nesting_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut path = String::new();
    for level in 0..6 {
        write(
            dir.path(),
            &format!("{path}Chart.yaml"),
            chart_yaml(&format!("c{level}")).as_bytes(),
        );
        path.push_str(&format!("charts/c{}/", level + 1));
    }
    let limits = LoadLimits {
        max_depth: 3,
        ..LoadLimits::default()
    };
    let err = load_err(dir.path(), &limits);
    assert_eq!(
        err,
        "error unpacking subchart c1 in c0: error unpacking subchart c2 in c1: error unpacking subchart c3 in c2: subcharts nested deeper than 3 levels (at c4)"
    );
    let deep = LoadLimits {
        max_depth: 5,
        ..LoadLimits::default()
    };
    assert!(load_dir(dir.path(), &deep).is_ok());
}

#[test]
fn symlinks_must_stay_inside_the_repository() {
    use std::os::unix::fs::symlink;
    let repo = tempfile::tempdir().unwrap();
    let chart = repo.path().join("chart");
    write(&chart, "Chart.yaml", chart_yaml("links").as_bytes());
    write(repo.path(), "shared/common.yaml", b"shared: true\n");
    symlink(repo.path().join("shared"), chart.join("shared")).unwrap();
    symlink("Chart.yaml", chart.join("alias.yaml")).unwrap();
    // Inside the repository: followed, with the link's name.
    let limits = LoadLimits {
        root: Some(repo.path().to_owned()),
        ..LoadLimits::default()
    };
    let loaded = load_dir(&chart, &limits).unwrap();
    let names: Vec<&str> = loaded.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["alias.yaml", "shared/common.yaml"]);
    // Bounded by the chart directory, the same link escapes.
    let err = load_err(&chart, &LoadLimits::default());
    assert!(
        err.starts_with(&format!(
            "symlink {} points outside the repository",
            chart.join("shared").display()
        )),
        "{err}"
    );
    // Out of the repository: refused, whatever the root.
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret", b"s3cr3t");
    symlink(outside.path().join("secret"), chart.join("leak")).unwrap();
    let err = load_err(&chart, &limits);
    assert!(
        err.starts_with(&format!(
            "symlink {} points outside the repository",
            chart.join("leak").display()
        )),
        "{err}"
    );
    std::fs::remove_file(chart.join("leak")).unwrap();
    // A loop is refused; a broken link is an error unless ignored.
    symlink(&chart, chart.join("templates")).unwrap();
    assert!(load_err(&chart, &limits).starts_with("symlink "), "loop");
    std::fs::remove_file(chart.join("templates")).unwrap();
    symlink(chart.join("nowhere"), chart.join("dangling")).unwrap();
    assert!(load_err(&chart, &limits).starts_with("error evaluating symlink "));
    write(&chart, ".helmignore", b"dangling\n");
    assert!(load_dir(&chart, &limits).is_ok());
}

#[test]
fn non_utf8_file_names_are_refused() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Chart.yaml", chart_yaml("bytes").as_bytes());
    std::fs::write(
        dir.path().join(std::ffi::OsStr::from_bytes(b"bad\xff")),
        b"x",
    )
    .unwrap();
    assert!(
        load_err(dir.path(), &LoadLimits::default()).starts_with("chart file name is not UTF-8")
    );
    let bytes = raw_tar(&[("x/Chart.yaml", chart_yaml("x").as_bytes())]);
    assert!(load_archive(&bytes, &LoadLimits::default()).is_ok());
}

#[test]
fn oversized_files_in_a_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Chart.yaml", chart_yaml("big").as_bytes());
    write(dir.path(), "files/blob", &vec![b'a'; 2048]);
    let limits = LoadLimits {
        max_file_bytes: 1024,
        ..LoadLimits::default()
    };
    assert_eq!(
        load_err(dir.path(), &limits),
        "chart file \"blob\" is larger than the maximum file size 1024"
    );
    let limits = LoadLimits {
        max_total_bytes: 1024,
        ..LoadLimits::default()
    };
    assert_eq!(
        load_err(dir.path(), &limits),
        "decompressed chart is larger than the maximum size 1024"
    );
}

// === values.schema.json ===

fn lines(message: &str) -> Vec<String> {
    let mut lines: Vec<String> = message.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn schema_violations_are_reported_as_helm_reports_them() {
    let chart = load_dir(&testdata().join("charts/schema"), &LoadLimits::default()).unwrap();
    let defaults = chart.values.clone();
    assert!(validate_values(&chart, &defaults).is_ok());
    let mut invalid = defaults.clone();
    invalid.insert("replicas".into(), json!(20.0));
    invalid.insert("mode".into(), json!("sideways"));
    let err = validate_values(&chart, &invalid).unwrap_err().to_string();
    // Helm's message (the order of the lines follows a Go map, so varies).
    let helm = "values don't meet the specifications of the schema(s) in the following chart(s):\nschema:\n- at '/replicas': maximum: got 20, want 10\n- at '/mode': value must be one of 'active', 'standby'\n";
    assert_eq!(lines(&err), lines(helm));
    assert!(err.ends_with("\n"));
}

#[test]
fn schema_messages_match_helms_wording() {
    let schema = json!({
        "$schema": "https://json-schema.org/draft-07/schema#", "type": "object", "required": ["image"],
        "properties": {
            "replicas": {"type": "integer", "minimum": 1, "maximum": 5},
            "mode": {"enum": ["a", "b"]},
            "c": {"const": 3},
            "tags": {"type": "array", "minItems": 1},
            "obj": {"type": "object", "additionalProperties": false, "properties": {"x": {"type": ["string", "null"]}}},
            "mult": {"multipleOf": 3}
        }
    });
    let chart = Chart {
        metadata: Metadata {
            name: "s1".into(),
            ..Metadata::default()
        },
        raw_schema: Some(schema.to_string()),
        schema: Some(schema),
        ..Chart::default()
    };
    let check = |values: Value, want: &str| {
        let Value::Object(values) = values else {
            unreachable!()
        };
        let err = validate_values(&chart, &values).unwrap_err().to_string();
        let prefix = "values don't meet the specifications of the schema(s) in the following chart(s):\ns1:\n";
        assert_eq!(
            lines(err.strip_prefix(prefix).unwrap()),
            lines(want),
            "{values:?}"
        );
    };
    // Each expectation is what Helm v4 printed for the same values.
    check(json!({}), "- at '': missing property 'image'\n");
    check(
        json!({"image": 1, "replicas": "x"}),
        "- at '/replicas': got string, want integer\n",
    );
    check(
        json!({"image": 1, "replicas": 2.5}),
        "- at '/replicas': got number, want integer\n",
    );
    check(
        json!({"image": 1, "mode": "z", "c": 4.0}),
        "- at '/mode': value must be one of 'a', 'b'\n- at '/c': value must be 3\n",
    );
    check(
        json!({"image": 1, "tags": []}),
        "- at '/tags': minItems: got 0, want 1\n",
    );
    check(json!({"image": 1, "obj": {"y": 1, "z": 2, "x": 3.0}}), "- at '/obj/x': got number, want null or string\n- at '/obj': additional properties 'y', 'z' not allowed\n");
    check(
        json!({"image": 1, "mult": 4.0}),
        "- at '/mult': multipleOf: got 4, want 3\n",
    );
    let Value::Object(ok) = json!({"image": 1, "replicas": 2.0}) else {
        unreachable!()
    };
    assert!(validate_values(&chart, &ok).is_ok());
}

#[test]
fn subchart_schemas_check_the_values_under_their_name() {
    let sub_schema = json!({"type": "object", "properties": {"port": {"type": "integer"}}});
    let sub = Chart {
        metadata: Metadata {
            name: "redis".into(),
            ..Metadata::default()
        },
        raw_schema: Some(sub_schema.to_string()),
        schema: Some(sub_schema),
        ..Chart::default()
    };
    let parent = Chart {
        metadata: Metadata {
            name: "app".into(),
            ..Metadata::default()
        },
        raw_schema: Some("{bad json".into()),
        subcharts: vec![Arc::new(sub)],
        ..Chart::default()
    };
    let Value::Object(values) = json!({"redis": {"port": "6379"}}) else {
        unreachable!()
    };
    let err = validate_values(&parent, &values).unwrap_err().to_string();
    let (head, tail) = err.split_once("app:\n").unwrap();
    assert_eq!(
        head,
        "values don't meet the specifications of the schema(s) in the following chart(s):\n"
    );
    assert!(
        tail.ends_with("redis:\n- at '/port': got string, want integer\n"),
        "{err}"
    );
    // Values that are no map are reported as Helm reports them.
    let parent = Chart {
        raw_schema: None,
        ..parent
    };
    let Value::Object(values) = json!({"redis": "x"}) else {
        unreachable!()
    };
    assert_eq!(
        validate_values(&parent, &values).unwrap_err().to_string(),
        "values don't meet the specifications of the schema(s) in the following chart(s):\nredis:\ninvalid type for values: expected object (map), got string\n"
    );
    let Value::Object(values) = json!({}) else {
        unreachable!()
    };
    assert!(validate_values(&parent, &values).is_ok());
    // The rendered tree works alike.
    let tree = Arc::new(parent).values_tree();
    let Value::Object(values) = json!({"redis": {"port": true}}) else {
        unreachable!()
    };
    assert!(validate_values(&tree, &values)
        .unwrap_err()
        .to_string()
        .ends_with("redis:\n- at '/port': got boolean, want integer\n"));
}

#[test]
fn schemas_do_not_fetch_remote_references() {
    let schema =
        json!({"type": "object", "properties": {"a": {"$ref": "https://example.com/schema.json"}}});
    let chart = Chart {
        metadata: Metadata {
            name: "remote".into(),
            ..Metadata::default()
        },
        raw_schema: Some(schema.to_string()),
        schema: Some(schema),
        ..Chart::default()
    };
    let Value::Object(values) = json!({"a": 1}) else {
        unreachable!()
    };
    let err = validate_values(&chart, &values).unwrap_err().to_string();
    assert!(
        err.contains("external schema references are not allowed"),
        "{err}"
    );
}
