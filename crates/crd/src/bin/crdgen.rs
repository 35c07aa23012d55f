//! Writes the generated CRDs to `helm/caravel/crds/` (or the directory given).

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../helm/caravel/crds")
        });
    std::fs::create_dir_all(&dir)?;
    for (name, yaml) in caravel_crd::crd::crd_files()? {
        std::fs::write(dir.join(name), yaml)?;
        println!("wrote {}", dir.join(name).display());
    }
    Ok(())
}
