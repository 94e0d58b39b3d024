//! Atomic file replacement: write a temporary file beside the target, flush it to disk, then
//! rename it over the target. A reader (or a run killed half-way) sees either the old file or
//! the new one, never a torn mix — the rename is atomic within one directory on POSIX file
//! systems, which is why the temporary file lives in the target's own directory.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.display().to_string(),
        source: e,
    }
}

/// A fresh temporary path beside `path`. The name starts with `.` (hidden) and ends with the
/// target's own file name, so writers that pick the format from the extension (PNG, SVG) still
/// see it; process id and a counter keep concurrent writers apart.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".~{}-{n}-{name}", std::process::id()))
}

/// Let `fill` write the file at a temporary path beside `path`, then replace `path` by it.
/// On any failure the temporary file is removed and `path` is left as it was.
pub fn write_with(path: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = temp_path(path);
    let done = fill(&tmp).and_then(|()| {
        // Data on disk before the rename, so that a power cut cannot leave the new name
        // pointing at an empty file.
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io(path))
    });
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return done;
    }
    // Best effort: persist the rename itself (not all platforms can open a directory).
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Replace `path` by `bytes` atomically (see the module docs).
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    write_with(path, |tmp| {
        std::fs::write(tmp, bytes.as_ref()).map_err(io(tmp))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = std::env::temp_dir().join(format!("quasipot-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.json");
        write(&p, "old").unwrap();
        write(&p, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        // A failing writer leaves the old content and no temporary file.
        let e = write_with(&p, |tmp| {
            std::fs::write(tmp, "half").unwrap();
            Err(Error::invalid("test", "fails"))
        });
        assert!(e.is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
        // The temporary name keeps the extension (plotters picks the image format from it).
        assert!(temp_path(&p).to_string_lossy().ends_with("a.json"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
