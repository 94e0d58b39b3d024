//! The uniform 2-D grid and the per-point solver state.
//!
//! Arrays are stored on a *padded* grid: a border of `pad ≥ K + 1` points of state
//! [`State::Outside`] surrounds the N×N computational grid, so that stencil loops within K·h need
//! no bounds checks. Point (i, j) (x index i, y index j) lives at `(j + pad)·width + (i + pad)`.
//!
//! Per point the solver keeps U (8 bytes), a state byte, the best one-point source (4 bytes) and a
//! heap slot (4 bytes), plus one bit in each of two row bitsets (Considered, Accepted Front):
//! 17 bytes and 2 bits per padded point.

/// State of a grid point in the ordered line integral method (Dahiya & Cameron 2018, §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// No tentative value yet.
    Unknown = 0,
    /// Has a tentative value and sits in the heap.
    Considered = 1,
    /// Accepted and still has a non-Accepted neighbour: a source of updates.
    Front = 2,
    /// Accepted with every neighbour accepted: final, no longer used.
    Accepted = 3,
    /// Padding outside the computational grid.
    Outside = 4,
}

/// Bit set on state bytes of points at an end of a grid edge that crosses ∂D.
pub const BOUNDARY_FLAG: u8 = 0x10;
/// Bit set on state bytes of grid-edge points inside D or on ∂D (accepting one stops the solve).
pub const EDGE_FLAG: u8 = 0x20;
/// Mask extracting the [`State`] from a state byte.
pub const STATE_MASK: u8 = 0x0F;

/// Geometry of the uniform grid [lo₀, hi₀] × [lo₁, hi₁] with N points per axis.
#[derive(Clone, Debug)]
pub struct Grid {
    /// Points per axis N.
    pub n: usize,
    /// Lower corner.
    pub lo: [f64; 2],
    /// Upper corner.
    pub hi: [f64; 2],
    /// Spacings hₓ, h_y = (hi − lo)/(N − 1).
    pub h: [f64; 2],
    /// Padding width (≥ K + 1).
    pub pad: usize,
    /// Row length of the padded arrays, N + 2·pad.
    pub width: usize,
}

impl Grid {
    /// A grid of `n` points per axis on [lo, hi], padded by `pad`.
    pub fn new(n: usize, lo: [f64; 2], hi: [f64; 2], pad: usize) -> Self {
        let h = [
            (hi[0] - lo[0]) / (n - 1) as f64,
            (hi[1] - lo[1]) / (n - 1) as f64,
        ];
        Grid {
            n,
            lo,
            hi,
            h,
            pad,
            width: n + 2 * pad,
        }
    }

    /// Number of padded points.
    pub fn padded_len(&self) -> usize {
        self.width * self.width
    }

    /// Padded index of grid point (i, j).
    #[inline]
    pub fn index(&self, i: usize, j: usize) -> usize {
        (j + self.pad) * self.width + i + self.pad
    }

    /// (i, j) of a padded index that lies on the grid.
    #[inline]
    pub fn ij(&self, p: usize) -> (usize, usize) {
        (p % self.width - self.pad, p / self.width - self.pad)
    }

    /// Coordinates of grid point (i, j).
    #[inline]
    pub fn point(&self, i: usize, j: usize) -> [f64; 2] {
        [
            self.lo[0] + i as f64 * self.h[0],
            self.lo[1] + j as f64 * self.h[1],
        ]
    }

    /// Coordinates of a padded index (valid for padding points too).
    #[inline]
    pub fn coords(&self, p: usize) -> [f64; 2] {
        let i = (p % self.width) as f64 - self.pad as f64;
        let j = (p / self.width) as f64 - self.pad as f64;
        [self.lo[0] + i * self.h[0], self.lo[1] + j * self.h[1]]
    }

    /// True when grid point p is on the edge of the computational grid.
    #[inline]
    pub fn on_edge(&self, p: usize) -> bool {
        let (i, j) = self.ij(p);
        i == 0 || j == 0 || i == self.n - 1 || j == self.n - 1
    }
}

/// One bit per padded point, stored row by row, with fast iteration over set bits in a range
/// of columns (the Considered / Accepted Front sets inside a disk of radius K).
#[derive(Clone, Debug)]
pub struct RowBits {
    words_per_row: usize,
    words: Vec<u64>,
    width: usize,
}

impl RowBits {
    /// All clear, for a padded grid of `width`² points.
    pub fn new(width: usize) -> Self {
        let words_per_row = width.div_ceil(64);
        RowBits {
            words_per_row,
            words: vec![0; words_per_row * width],
            width,
        }
    }

    #[inline]
    fn locate(&self, p: usize) -> (usize, u64) {
        let (r, c) = (p / self.width, p % self.width);
        (r * self.words_per_row + c / 64, 1u64 << (c % 64))
    }

    /// Set the bit of point p.
    #[inline]
    pub fn set(&mut self, p: usize) {
        let (w, b) = self.locate(p);
        self.words[w] |= b;
    }

    /// Clear the bit of point p.
    #[inline]
    pub fn clear(&mut self, p: usize) {
        let (w, b) = self.locate(p);
        self.words[w] &= !b;
    }

    /// Word `w` of `row` masked to the columns [c0, c1] (inclusive): bit k stands for column
    /// 64·w + k. Scanning words this way lets a caller mutate other state between bits.
    #[inline(always)]
    pub fn masked_word(&self, row: usize, w: usize, c0: usize, c1: usize) -> u64 {
        let mut word = self.words[row * self.words_per_row + w];
        if w == c0 >> 6 {
            word &= !0u64 << (c0 & 63);
        }
        if w == c1 >> 6 {
            word &= !0u64 >> (63 - (c1 & 63));
        }
        word
    }

    /// Call `f(p)` for every set point p = row·width + c with c in [c0, c1] (inclusive).
    #[inline(always)]
    pub fn for_each_in_row(&self, row: usize, c0: usize, c1: usize, mut f: impl FnMut(usize)) {
        let base = row * self.words_per_row;
        let (w0, w1) = (c0 >> 6, c1 >> 6);
        let lo_mask = !0u64 << (c0 & 63);
        let hi_mask = !0u64 >> (63 - (c1 & 63));
        let offset = row * self.width;
        let mut emit = |w: usize, mut word: u64| {
            while word != 0 {
                f(offset + w * 64 + word.trailing_zeros() as usize);
                word &= word - 1;
            }
        };
        if w0 == w1 {
            emit(w0, self.words[base + w0] & lo_mask & hi_mask);
        } else {
            emit(w0, self.words[base + w0] & lo_mask);
            let mut w = w0 + 1;
            while w < w1 {
                emit(w, self.words[base + w]);
                w += 1;
            }
            emit(w1, self.words[base + w1] & hi_mask);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_bits_iterate_exactly_the_set_points_in_range() {
        let width = 150;
        let mut bits = RowBits::new(width);
        let row = 7;
        let set: Vec<usize> = vec![0, 1, 63, 64, 65, 100, 127, 128, 149];
        for &c in &set {
            bits.set(row * width + c);
        }
        bits.set((row + 1) * width + 5);
        for (c0, c1) in [(0, 149), (1, 64), (64, 64), (66, 127), (2, 62), (128, 149)] {
            let mut got = Vec::new();
            bits.for_each_in_row(row, c0, c1, |p| got.push(p - row * width));
            let want: Vec<usize> = set
                .iter()
                .copied()
                .filter(|&c| c >= c0 && c <= c1)
                .collect();
            assert_eq!(got, want, "range {c0}..={c1}");
        }
        // masked_word sees the same points, word by word.
        for (c0, c1) in [(0, 149), (1, 64), (64, 64), (66, 127), (2, 62), (128, 149)] {
            let mut got = Vec::new();
            for w in c0 >> 6..=c1 >> 6 {
                let mut word = bits.masked_word(row, w, c0, c1);
                while word != 0 {
                    got.push(w * 64 + word.trailing_zeros() as usize);
                    word &= word - 1;
                }
            }
            let want: Vec<usize> = set
                .iter()
                .copied()
                .filter(|&c| c >= c0 && c <= c1)
                .collect();
            assert_eq!(got, want, "masked words, range {c0}..={c1}");
        }
        bits.clear(row * width + 64);
        let mut got = Vec::new();
        bits.for_each_in_row(row, 60, 70, |p| got.push(p - row * width));
        assert_eq!(got, vec![63, 65]);
    }

    #[test]
    fn indices_round_trip() {
        let g = Grid::new(11, [-1.0, 0.0], [1.0, 2.0], 3);
        let p = g.index(4, 9);
        assert_eq!(g.ij(p), (4, 9));
        let x = g.coords(p);
        assert!((x[0] - -0.2).abs() < 1e-15 && (x[1] - 1.8).abs() < 1e-15);
        assert!(g.on_edge(g.index(0, 3)) && g.on_edge(g.index(10, 3)) && !g.on_edge(p));
    }
}
