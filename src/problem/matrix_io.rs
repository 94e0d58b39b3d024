//! Reading and writing matrices and grids: `.npy` (numpy/PyTorch), `.json` (nested lists) and
//! `.csv` (one row per line).

use crate::error::{Error, Result};
use crate::linalg::Matrix;
use ndarray::{Array1, Array2};
use std::path::Path;

/// Read a square matrix from `.npy`, `.json` or `.csv` (by extension); `field` names the input.
pub fn read_matrix(path: &Path, field: &str) -> Result<Matrix> {
    let shown = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let rows: Vec<Vec<f64>> = match ext.as_str() {
        "npy" => {
            // The header gives the shape: refuse a matrix that cannot fit before reading it
            // (ndarray, the rows and the matrix: three copies while it is read).
            if let Some((r, c)) = npy_shape(path) {
                check_matrix_memory(field, &shown, r, c, READ_COPIES, "reading it")?;
            }
            let a: Array2<f64> = ndarray_npy::read_npy(path).map_err(|e| {
                Error::invalid(
                    field,
                    format!("{shown}: cannot read as a 2-D float64 .npy array: {e}"),
                )
            })?;
            a.rows().into_iter().map(|r| r.to_vec()).collect()
        }
        "json" => {
            let text = read_text(path)?;
            serde_json::from_str(&text).map_err(|e| {
                Error::invalid(
                    field,
                    format!("{shown}: expected a JSON list of rows of numbers: {e}"),
                )
            })?
        }
        "csv" | "txt" => {
            let text = read_text(path)?;
            let mut rows = Vec::new();
            for (ln, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let row = line
                    .split([',', ' ', '\t'])
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.trim().parse::<f64>().map_err(|_| {
                            Error::invalid(
                                field,
                                format!("{shown}: line {}: \"{s}\" is not a number", ln + 1),
                            )
                        })
                    })
                    .collect::<Result<Vec<f64>>>()?;
                rows.push(row);
            }
            rows
        }
        _ => {
            return Err(Error::invalid(
                field,
                format!("{shown}: unknown matrix file type; expected .npy, .json or .csv"),
            ))
        }
    };
    Matrix::from_rows(&rows, field)
}

/// Copies of a matrix alive while [`read_matrix`] reads a `.npy` file.
const READ_COPIES: u64 = 3;

/// The shape (rows, cols) in the header of a 2-D `.npy` file, without reading its data; None
/// when the header cannot be parsed (the full read then reports the problem).
pub fn npy_shape(path: &Path) -> Option<(u64, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut pre = [0u8; 12];
    f.read_exact(&mut pre).ok()?;
    if &pre[..6] != b"\x93NUMPY" {
        return None;
    }
    // Version 1 stores the header length in 2 bytes, versions 2 and 3 in 4.
    let (len, start) = if pre[6] == 1 {
        (u16::from_le_bytes([pre[8], pre[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize,
            12,
        )
    };
    let mut header = pre[start..].to_vec();
    header.resize(len.clamp(12 - start, 1 << 20), 0);
    f.read_exact(&mut header[12 - start..]).ok()?;
    let text = String::from_utf8_lossy(&header);
    let inner = text.split("'shape':").nth(1)?;
    let inner = inner.split('(').nth(1)?.split(')').next()?;
    let dims: Vec<u64> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    match dims[..] {
        [r, c] => Some((r, c)),
        _ => None,
    }
}

/// Refuse a rows×cols float64 matrix of which `copies` would not fit in memory, naming `field`
/// (the flag or problem-file field) and `file`; `doing` says what needs the copies.
pub fn check_matrix_memory(
    field: &str,
    file: &str,
    rows: u64,
    cols: u64,
    copies: u64,
    doing: &str,
) -> Result<()> {
    use crate::resources::{check_memory, product, Estimate};
    check_memory(Estimate {
        flag: field,
        value: file.to_string(),
        what: &format!("the {rows}×{cols} matrix"),
        bytes: product(&[rows, cols, 8, copies]),
        formula: format!("{copies} copies × {rows}·{cols} numbers × 8 bytes for {doing}"),
        advice: "use a smaller matrix (fewer parameters, or a sub-block of the Hessian)".into(),
    })
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })
}

/// Write a square matrix as `.npy`.
pub fn write_matrix_npy(path: &Path, m: &Matrix) -> Result<()> {
    let a = Array2::from_shape_vec((m.n, m.n), m.data.clone())
        .map_err(|e| Error::numerical("write npy", e.to_string()))?;
    write_npy(path, &a)
}

/// Write a rows×cols row-major array as `.npy`.
pub fn write_array2_npy(path: &Path, rows: usize, cols: usize, data: &[f64]) -> Result<()> {
    let a = Array2::from_shape_vec((rows, cols), data.to_vec())
        .map_err(|e| Error::numerical("write npy", e.to_string()))?;
    write_npy(path, &a)
}

/// Write a d0×d1×d2 C-order array as `.npy`.
pub fn write_array3_npy(path: &Path, shape: [usize; 3], data: &[f64]) -> Result<()> {
    let a = ndarray::Array3::from_shape_vec((shape[0], shape[1], shape[2]), data.to_vec())
        .map_err(|e| Error::numerical("write npy", e.to_string()))?;
    write_npy(path, &a)
}

/// Write a vector as `.npy`.
pub fn write_vector_npy(path: &Path, v: &[f64]) -> Result<()> {
    write_npy(path, &Array1::from_vec(v.to_vec()))
}

fn write_npy<T: ndarray_npy::WriteNpyExt>(path: &Path, a: &T) -> Result<()> {
    // Atomically: a kill mid-write leaves the previous array, not a torn one.
    crate::io_atomic::write_with(path, |tmp| {
        ndarray_npy::write_npy(tmp, a).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_npy_and_reads_csv_json() {
        let dir = std::env::temp_dir().join(format!("quasipot-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = Matrix::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.5]], "m").unwrap();
        let p = dir.join("m.npy");
        write_matrix_npy(&p, &m).unwrap();
        assert_eq!(read_matrix(&p, "m").unwrap(), m);
        std::fs::write(dir.join("m.csv"), "1,2\n3, 4.5\n").unwrap();
        assert_eq!(read_matrix(&dir.join("m.csv"), "m").unwrap(), m);
        std::fs::write(dir.join("m.json"), "[[1,2],[3,4.5]]").unwrap();
        assert_eq!(read_matrix(&dir.join("m.json"), "m").unwrap(), m);
        std::fs::write(dir.join("bad.csv"), "1,2\n3\n").unwrap();
        assert!(read_matrix(&dir.join("bad.csv"), "m").is_err());
    }
}
