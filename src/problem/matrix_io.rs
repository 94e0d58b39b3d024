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
