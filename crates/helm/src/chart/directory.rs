//! A chart directory read into memory as Helm's `LoadDir` reads it: a walk
//! in lexical order per directory, `.helmignore` (of the chart root only)
//! and Helm's default rule applied, symlinks followed, a UTF-8 BOM
//! trimmed. Unlike Helm, a symlink must resolve inside the repository root
//! (or the chart directory), loops are refused and sizes are bounded.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::helmignore::IgnoreRules;
use super::load::{Budget, BufferedFile};
use super::ChartError;

const HELMIGNORE: &str = ".helmignore";

/// Reads every file of a chart directory that `.helmignore` keeps.
pub(super) fn read_dir(dir: &Path, budget: &mut Budget) -> Result<Vec<BufferedFile>, ChartError> {
    let top = fs::canonicalize(dir).map_err(|e| io_error(dir, e))?;
    let root = match &budget.limits().root {
        Some(root) => fs::canonicalize(root).map_err(|e| io_error(root, e))?,
        None => top.clone(),
    };
    if !top.starts_with(&root) {
        return Err(ChartError::SymlinkEscapes {
            path: dir.display().to_string(),
            target: top.display().to_string(),
        });
    }
    let mut rules = IgnoreRules::default();
    let ignore_file = top.join(HELMIGNORE);
    if let Ok(resolved) = fs::canonicalize(&ignore_file) {
        if !resolved.starts_with(&root) {
            return Err(ChartError::SymlinkEscapes {
                path: ignore_file.display().to_string(),
                target: resolved.display().to_string(),
            });
        }
        let data = read_bounded(&resolved, budget.limits().max_file_bytes)?;
        rules = IgnoreRules::parse(&String::from_utf8_lossy(&data))?;
    }
    rules.add_defaults();
    let mut walk = Walk {
        root,
        rules,
        budget,
        files: Vec::new(),
        ancestors: vec![top.clone()],
    };
    walk.dir(&top, "", 0)?;
    Ok(walk.files)
}

struct Walk<'a> {
    root: PathBuf,
    rules: IgnoreRules,
    budget: &'a mut Budget,
    files: Vec<BufferedFile>,
    /// The real paths of the directories being walked, to refuse loops.
    ancestors: Vec<PathBuf>,
}

impl Walk<'_> {
    /// Walks `real` (a resolved directory) whose chart-relative path is `rel`.
    fn dir(&mut self, real: &Path, rel: &str, depth: usize) -> Result<(), ChartError> {
        let max_depth = self.budget.limits().max_dir_depth;
        if depth > max_depth {
            return Err(ChartError::DirectoryTooDeep {
                max: max_depth,
                path: rel.to_owned(),
            });
        }
        let mut names = Vec::new();
        for entry in fs::read_dir(real).map_err(|e| io_error(real, e))? {
            let entry = entry.map_err(|e| io_error(real, e))?;
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| ChartError::NonUtf8Name(real.join(&name).display().to_string()))?;
            names.push(name.to_owned());
        }
        names.sort();
        for name in names {
            let path = real.join(&name);
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let meta = fs::symlink_metadata(&path).map_err(|e| io_error(&path, e))?;
            let (resolved, meta) = if meta.file_type().is_symlink() {
                let resolved = match fs::canonicalize(&path) {
                    Ok(resolved) => resolved,
                    // A broken link that .helmignore drops is no error.
                    Err(_) if self.rules.ignores(&child, false) => continue,
                    Err(source) => {
                        return Err(ChartError::BrokenSymlink {
                            path: path.display().to_string(),
                            source,
                        })
                    }
                };
                let meta = fs::metadata(&resolved).map_err(|e| io_error(&resolved, e))?;
                if self.rules.ignores(&child, meta.is_dir()) {
                    continue;
                }
                if !resolved.starts_with(&self.root) {
                    return Err(ChartError::SymlinkEscapes {
                        path: path.display().to_string(),
                        target: resolved.display().to_string(),
                    });
                }
                (resolved, meta)
            } else {
                (path.clone(), meta)
            };
            if meta.is_dir() {
                if self.rules.ignores(&child, true) {
                    continue;
                }
                if self.ancestors.contains(&resolved) {
                    return Err(ChartError::SymlinkLoop {
                        path: path.display().to_string(),
                        target: resolved.display().to_string(),
                    });
                }
                self.ancestors.push(resolved.clone());
                self.dir(&resolved, &child, depth + 1)?;
                self.ancestors.pop();
                continue;
            }
            if self.rules.ignores(&child, false) {
                continue;
            }
            if !meta.is_file() {
                return Err(ChartError::IrregularFile(path.display().to_string()));
            }
            let max_file = self.budget.limits().max_file_bytes;
            if meta.len() > max_file {
                return Err(ChartError::FileTooLarge {
                    name,
                    max: max_file,
                });
            }
            self.budget.check_file(meta.len())?;
            // Read no more than allowed, even if the file grew since stat.
            let data = read_bounded(&resolved, max_file)?;
            if data.len() as u64 > max_file {
                return Err(ChartError::FileTooLarge {
                    name,
                    max: max_file,
                });
            }
            self.budget.spend(data.len() as u64)?;
            self.files.push(BufferedFile::new(child, data));
        }
        Ok(())
    }
}

/// Reads at most `max + 1` bytes of a file.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ChartError> {
    let file = fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut data = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| io_error(path, e))?;
    Ok(data)
}

fn io_error(path: &Path, source: std::io::Error) -> ChartError {
    ChartError::Io {
        path: path.display().to_string(),
        source,
    }
}
