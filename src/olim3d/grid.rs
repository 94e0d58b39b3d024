//! The uniform 3-D grid on a padded array.
//!
//! A border of `pad ≥ K + 1` points surrounds the N³ computational grid so that stencil loops
//! within K·h need no bounds checks. Point (i, j, k) (x, y, z indices) lives at padded index
//! ((k + pad)·W + j + pad)·W + i + pad with W = N + 2·pad. Point states are those of the 2-D
//! solver ([`crate::olim::grid::State`] and its flags).

/// Geometry of the uniform grid [lo₀, hi₀] × [lo₁, hi₁] × [lo₂, hi₂], N points per axis.
#[derive(Clone, Debug)]
pub struct Grid3 {
    /// Points per axis N.
    pub n: usize,
    /// Lower corner.
    pub lo: [f64; 3],
    /// Upper corner.
    pub hi: [f64; 3],
    /// Spacings hᵢ = (hiᵢ − loᵢ)/(N − 1).
    pub h: [f64; 3],
    /// Padding width (≥ K + 1).
    pub pad: usize,
    /// Row length of the padded arrays, W = N + 2·pad.
    pub width: usize,
}

impl Grid3 {
    /// A grid of `n` points per axis on [lo, hi], padded by `pad`.
    pub fn new(n: usize, lo: [f64; 3], hi: [f64; 3], pad: usize) -> Self {
        let h = std::array::from_fn(|a| (hi[a] - lo[a]) / (n - 1) as f64);
        Grid3 {
            n,
            lo,
            hi,
            h,
            pad,
            width: n + 2 * pad,
        }
    }

    /// Number of padded points W³.
    pub fn padded_len(&self) -> usize {
        self.width * self.width * self.width
    }

    /// Padded index of grid point (i, j, k).
    #[inline]
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        ((k + self.pad) * self.width + j + self.pad) * self.width + i + self.pad
    }

    /// Padded (column, row, layer) of a padded index.
    #[inline]
    pub fn padded_coords(&self, p: usize) -> [usize; 3] {
        let w = self.width;
        [p % w, (p / w) % w, p / (w * w)]
    }

    /// Coordinates of grid point (i, j, k).
    #[inline]
    pub fn point(&self, i: usize, j: usize, k: usize) -> [f64; 3] {
        [
            self.lo[0] + i as f64 * self.h[0],
            self.lo[1] + j as f64 * self.h[1],
            self.lo[2] + k as f64 * self.h[2],
        ]
    }

    /// The offset of (di, dj, dk) grid steps in padded indices.
    #[inline]
    pub fn offset(&self, d: [i32; 3]) -> isize {
        let w = self.width as isize;
        (d[2] as isize * w + d[1] as isize) * w + d[0] as isize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_round_trip() {
        let g = Grid3::new(11, [-1.0, 0.0, 2.0], [1.0, 2.0, 3.0], 3);
        let p = g.index(4, 9, 2);
        assert_eq!(g.padded_coords(p), [7, 12, 5]);
        let q = (p as isize + g.offset([-1, 1, 2])) as usize;
        assert_eq!(q, g.index(3, 10, 4));
        let x = g.point(4, 9, 2);
        assert!((x[0] + 0.2).abs() < 1e-15 && (x[1] - 1.8).abs() < 1e-15);
        assert!((x[2] - 2.2).abs() < 1e-15);
        assert_eq!(g.padded_len(), 17 * 17 * 17);
    }
}
