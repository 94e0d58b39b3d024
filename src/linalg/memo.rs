//! A process-wide memo of dense symmetric eigensolves.
//!
//! The same d×d matrix is often decomposed several times by independent steps: in
//! `quasipot v0 --hessian`, H* is checked for positive definiteness when the problem is built,
//! again as the noise C = H*, its square root a = C^{1/2} needs its eigenvectors, the Lyapunov
//! solve works in its eigenbasis and the paper's quantities read its spectrum — and all of that
//! once per action weight. At d = 1000 that was 1.3 s of a 3 s run spent outside the solves the
//! user asked for. Each step keeps calling [`super::symmetric_eigen`] or
//! [`super::symmetric_eigenvalues`]; this memo makes the repeats free. A hit needs the very same
//! bits (the entries are compared exactly, not hashed), so results are bit-identical to
//! recomputing. Only matrices with d ≥ [`MIN_DIM`] are kept (below, a solve takes under a
//! millisecond), the most recent first, within [`MAX_BYTES`].

use crate::linalg::Matrix;
use std::sync::{Arc, Mutex};

/// Smallest dimension worth remembering.
pub const MIN_DIM: usize = 128;
/// Memory the memo may hold: the keys (copies of the matrices) and the results.
pub const MAX_BYTES: usize = 512 << 20;

/// What was computed for a matrix.
#[derive(Clone)]
pub enum Solved {
    /// Eigenvalues only (ascending).
    Values(Arc<Vec<f64>>),
    /// Eigenvalues (ascending) and eigenvectors (columns).
    Vectors(Arc<(Vec<f64>, faer::Mat<f64>)>),
}

impl Solved {
    fn bytes(&self) -> usize {
        match self {
            Solved::Values(v) => 8 * v.len(),
            Solved::Vectors(e) => 8 * (e.0.len() + e.1.nrows() * e.1.ncols()),
        }
    }
}

struct Entry {
    key: Vec<f64>,
    n: usize,
    solved: Solved,
}

static MEMO: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Whether `m` is large enough to be remembered.
pub fn worth_it(m: &Matrix) -> bool {
    m.n >= MIN_DIM && 16 * m.n * m.n <= MAX_BYTES
}

/// The remembered eigenvectors of `m`, or failing those its eigenvalues when `values_suffice`.
pub fn lookup(m: &Matrix, values_suffice: bool) -> Option<Solved> {
    let memo = MEMO.lock().unwrap_or_else(|p| p.into_inner());
    let mut best = None;
    for e in memo
        .iter()
        .filter(|e| e.n == m.n && same_bits(&e.key, &m.data))
    {
        match &e.solved {
            Solved::Vectors(_) => return Some(e.solved.clone()),
            Solved::Values(_) if values_suffice => best = Some(e.solved.clone()),
            Solved::Values(_) => {}
        }
    }
    best
}

/// Forget everything (benchmarks that time cold solves of one matrix call it per iteration).
pub fn clear() {
    MEMO.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// Remember a result for `m`, dropping the oldest entries beyond [`MAX_BYTES`].
pub fn store(m: &Matrix, solved: Solved) {
    let mut memo = MEMO.lock().unwrap_or_else(|p| p.into_inner());
    memo.retain(|e| !(e.n == m.n && same_bits(&e.key, &m.data)));
    memo.push(Entry {
        key: m.data.clone(),
        n: m.n,
        solved,
    });
    let mut total: usize = memo
        .iter()
        .map(|e| 8 * e.key.len() + e.solved.bytes())
        .sum();
    while total > MAX_BYTES && memo.len() > 1 {
        let e = memo.remove(0);
        total -= 8 * e.key.len() + e.solved.bytes();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{symmetric_eigen, symmetric_eigenvalues};

    /// The two tests share the process-wide memo: the second fills it to its bound.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn spd(n: usize, shift: f64) -> Matrix {
        let mut m = Matrix::zeros(n);
        for i in 0..n {
            for j in 0..n {
                let v = ((i * 7 + j * 13) % 11) as f64 / 11.0 + ((i + j) % 3) as f64 * 0.1;
                m.data[i * n + j] += v;
                m.data[j * n + i] += v;
            }
            m.data[i * n + i] += shift;
        }
        m
    }

    #[test]
    fn a_remembered_solve_is_the_same_bits_and_a_changed_matrix_is_solved_again() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let n = MIN_DIM + 3;
        let m = spd(n, 50.0);
        let fresh = m.to_faer().self_adjoint_eigen(faer::Side::Lower).unwrap();
        let (v1, u1) = symmetric_eigen(&m, "m").unwrap();
        let (v2, u2) = symmetric_eigen(&m, "m").unwrap();
        assert!(lookup(&m, false).is_some(), "a large matrix is remembered");
        for i in 0..n {
            assert_eq!(v1[i].to_bits(), fresh.S()[i].to_bits());
            assert_eq!(v1[i].to_bits(), v2[i].to_bits());
            for j in 0..n {
                assert_eq!(u1[(i, j)].to_bits(), u2[(i, j)].to_bits());
            }
        }
        // Eigenvalues of a remembered matrix come from its decomposition.
        assert_eq!(symmetric_eigenvalues(&m, "m").unwrap(), v1);
        // One entry changed by an ulp (kept symmetric) is another matrix: no false hit.
        let mut p = m.clone();
        p.data[1] = f64::from_bits(p.data[1].to_bits() + 1);
        p.data[n] = p.data[1];
        assert!(lookup(&p, true).is_none());
        let exact = p
            .to_faer()
            .self_adjoint_eigenvalues(faer::Side::Lower)
            .unwrap();
        assert_eq!(symmetric_eigenvalues(&p, "p").unwrap(), exact);
        // Small matrices are not kept.
        let small = spd(MIN_DIM - 1, 50.0);
        symmetric_eigen(&small, "small").unwrap();
        assert!(lookup(&small, true).is_none());
    }

    #[test]
    fn the_memo_stays_within_its_memory_bound() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        // Each entry of n = 1024 holds about 16.8 MB (key and eigenvectors): storing 40 of them
        // must evict down to MAX_BYTES.
        let n = 1024;
        for k in 0..40 {
            let mut m = Matrix::zeros(n);
            m.data[0] = k as f64;
            store(
                &m,
                Solved::Vectors(Arc::new((vec![0.0; n], faer::Mat::zeros(n, n)))),
            );
        }
        let memo = MEMO.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = memo
            .iter()
            .map(|e| 8 * e.key.len() + e.solved.bytes())
            .sum();
        assert!(total <= MAX_BYTES, "{total} bytes held");
        assert!(!memo.is_empty());
    }
}
