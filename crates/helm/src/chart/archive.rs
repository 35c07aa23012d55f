//! A chart archive (`.tgz`) read into memory as Helm's
//! `LoadArchiveFiles` reads it: the first path component of every entry
//! dropped, directories and PAX headers skipped, absolute paths, `..` and
//! drive letters refused, a UTF-8 BOM trimmed. Every decompressed byte is
//! counted, so a gzip bomb stops at the limit instead of filling memory.

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;

use super::load::{Budget, BufferedFile};
use super::ChartError;

/// Reads every file of a gzipped tar archive.
pub(super) fn read_archive(
    bytes: &[u8],
    budget: &mut Budget,
) -> Result<Vec<BufferedFile>, ChartError> {
    if bytes.len() < 10 {
        return Err(ChartError::Archive("unexpected EOF".into()));
    }
    if bytes[..2] != [0x1f, 0x8b] {
        return Err(ChartError::Archive("gzip: invalid header".into()));
    }
    let stream = CappedReader {
        inner: MultiGzDecoder::new(bytes),
        left: budget.stream_cap(),
        exceeded: false,
    };
    let mut archive = tar::Archive::new(stream);
    let mut files = Vec::new();
    let entries = archive.entries().map_err(|e| stream_error(e, budget))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| stream_error(e, budget))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw_name = entry.path_bytes().into_owned();
        let raw_name = String::from_utf8(raw_name)
            .map_err(|e| ChartError::NonUtf8Name(String::from_utf8_lossy(e.as_bytes()).into()))?;
        let name = entry_name(&raw_name)?;
        // Nothing is extracted to disk, but a link names a file elsewhere:
        // refused rather than read as an empty file.
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(ChartError::Archive(format!(
                "chart contains a link, which is not allowed: {raw_name:?}"
            )));
        }
        let size = entry.size();
        budget.check_archive_file(&raw_name, size)?;
        let mut data = Vec::with_capacity(size.min(1 << 20) as usize);
        let read = (&mut entry)
            .take(budget.remaining_bytes())
            .read_to_end(&mut data)
            .map_err(|e| stream_error(e, budget))? as u64;
        budget.spend(read)?;
        if read < size {
            return Err(budget.too_large());
        }
        files.push(BufferedFile::new(name, data));
    }
    if files.is_empty() {
        return Err(ChartError::Archive("no files in chart archive".into()));
    }
    Ok(files)
}

/// The chart-relative name of an entry, checked as Helm checks it.
fn entry_name(raw: &str) -> Result<String, ChartError> {
    // Archives made on Windows may use `\`.
    let delimiter = if raw.contains('\\') { '\\' } else { '/' };
    let parts: Vec<&str> = raw.split(delimiter).collect();
    let joined = parts[1..].join("/");
    if joined.starts_with('/') {
        return Err(ChartError::Archive(
            "chart illegally contains absolute paths".into(),
        ));
    }
    let name = clean(&joined);
    if name == "." {
        return Err(ChartError::Archive(format!(
            "chart illegally contains content outside the base directory: {raw:?}"
        )));
    }
    if name.starts_with("..") {
        return Err(ChartError::Archive(
            "chart illegally references parent directory".into(),
        ));
    }
    let b = name.as_bytes();
    if b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/' {
        return Err(ChartError::Archive(
            "chart contains illegally named files".into(),
        ));
    }
    if parts[0] == "Chart.yaml" {
        return Err(ChartError::Archive(
            "chart yaml not in base directory".into(),
        ));
    }
    Ok(name)
}

/// Go's `path.Clean` for a relative path.
fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if matches!(out.last(), Some(p) if *p != "..") {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

/// An error of the decompressed stream: the cap, or gzip/tar trouble.
fn stream_error(e: io::Error, budget: &Budget) -> ChartError {
    if e.get_ref()
        .is_some_and(|inner| inner.is::<StreamCapExceeded>())
    {
        return budget.too_large();
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => ChartError::Archive("unexpected EOF".into()),
        _ => ChartError::Archive(e.to_string()),
    }
}

#[derive(Debug)]
struct StreamCapExceeded;

impl std::fmt::Display for StreamCapExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decompressed stream over its limit")
    }
}

impl std::error::Error for StreamCapExceeded {}

/// Fails once more than `left` bytes come out of `inner`: bounds what the
/// tar reader may buffer (PAX headers, long names) besides file contents.
struct CappedReader<R> {
    inner: R,
    left: u64,
    exceeded: bool,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.exceeded || self.left == 0 {
            // One byte more tells a stream that ends at the cap from one
            // that goes on.
            let mut probe = [0u8; 1];
            if !self.exceeded && self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded = true;
            return Err(io::Error::other(StreamCapExceeded));
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_lose_their_top_directory() {
        assert_eq!(
            entry_name("mychart/templates/a.yaml").unwrap(),
            "templates/a.yaml"
        );
        assert_eq!(entry_name("mychart\\values.yaml").unwrap(), "values.yaml");
        assert_eq!(entry_name("x/./a//b").unwrap(), "a/b");
    }

    #[test]
    fn hostile_entry_names_are_refused() {
        let msg = |raw: &str| entry_name(raw).unwrap_err().to_string();
        assert_eq!(
            msg("x/../../etc/passwd"),
            "chart illegally references parent directory"
        );
        assert_eq!(
            msg("x//etc/passwd"),
            "chart illegally contains absolute paths"
        );
        assert_eq!(
            msg("README"),
            "chart illegally contains content outside the base directory: \"README\""
        );
        assert_eq!(msg("x/c:/windows"), "chart contains illegally named files");
        assert_eq!(msg("Chart.yaml/x"), "chart yaml not in base directory");
    }

    #[test]
    fn clean_matches_go_path_clean() {
        assert_eq!(clean("a/../b"), "b");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean("a/../.."), "..");
        assert_eq!(clean(""), ".");
    }
}
