//! The solver loop of OLIM-MID on a 2-D grid: Dijkstra-like acceptance of the Considered point
//! with the smallest tentative value, then local updates (Dahiya & Cameron 2018, Algorithm 1,
//! with the hierarchical update strategy of §3.3).
//!
//! When point x_new is accepted:
//! 1. every Considered point x with |x − x_new| ≤ K·h (in grid steps) gets the one-point update
//!    from x_new; if it lowers U(x), x_new becomes x's best source and x gets the triangle
//!    updates (x_new, x₁) for every Accepted Front 8-neighbour x₁ of x_new; otherwise, if x_new
//!    is an 8-neighbour of x's best source x₀, the one triangle (x₀, x_new);
//! 2. every Unknown 8-neighbour of x_new becomes Considered: its value is the best one-point
//!    update over all Accepted Front points within K·h, followed by the triangle updates around
//!    that best source only (the hierarchical strategy);
//! 3. Accepted Front points among x_new and its neighbours whose 8 neighbours are all accepted
//!    become Accepted and stop serving as update sources.
//!
//! The Considered and Accepted Front sets within K·h are found by scanning one 64-bit word of a
//! row bitset at a time (2K + 1 rows, one or two words each); nothing is collected or allocated
//! in the loop. With constant noise (A = a⁻¹ fixed) the one-point updates read lᵀAl and Al from
//! tables over the (2K + 1)² offsets, the best-source scan of step 2 is branch-free (every
//! candidate's action is computed and the minimum kept by selects: the comparison outcome is
//! data-dependent and mispredicts otherwise), and the triangle updates run in the coordinates
//! mapped by Lᵀ (A = LLᵀ), where the metric is the identity.

use super::grid::{Grid, RowBits, State, BOUNDARY_FLAG, EDGE_FLAG, STATE_MASK};
use super::heap::IndexedHeap;
use super::update::{one_point_below, triangle, triangle_identity, Midpoint};
use crate::problem::{Diffusion, NoiseWorkspace, VectorField};

/// Why the solve stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Termination {
    /// Every grid point at an end of a grid edge crossing ∂D was accepted: V₀ is known.
    BoundaryAccepted,
    /// The front reached the edge of the grid inside D or on ∂D (values beyond would need paths
    /// leaving the grid).
    GridEdge,
    /// Every reachable grid point was accepted (stop rule `exhaust`).
    Exhausted,
}

/// Solver output before post-processing.
pub(crate) struct Solution {
    pub u: Vec<f64>,
    pub state: Vec<u8>,
    pub termination: Termination,
    pub last_value: f64,
    pub accepted: usize,
    pub bad_point: Option<[f64; 2]>,
    /// The first midpoint inside D̄ where b was not finite, with b there.
    pub singular_point: Option<([f64; 2], [f64; 2])>,
    pub one_point_updates: u64,
    pub triangle_updates: u64,
}

/// Inputs of the loop.
pub(crate) struct Setup {
    pub grid: Grid,
    pub k: usize,
    /// Grid points initialised with the local quadratic: (padded index, value).
    pub initial: Vec<(usize, f64)>,
    /// Points flagged as ends of ∂D-crossing edges (padded indices).
    pub boundary: Vec<usize>,
    /// Grid-edge points inside D or on ∂D (padded indices): the front reaching one of them
    /// stops the solve (edge points outside D do not: paths to ∂D never pass there).
    pub edge: Vec<usize>,
    /// Cache drift and metric per half-grid node (40 bytes per half-grid node, 160 per grid
    /// point; each is reused about ten times): for state-dependent noise or formula drifts.
    pub midpoint_cache: bool,
    /// Stop at the grid edge / when ∂D is accepted (false: accept everything).
    pub stop_early: bool,
    /// Interpolate U quadratically along the segment of a triangle update (false: linearly).
    pub quadratic: bool,
    /// Also run the triangle updates around a newly accepted point whose one-point update comes
    /// within this fraction of (U(x) − U(x_new)) of improving U(x) (0: only when it improves,
    /// the hierarchical strategy).
    pub near_triangles: f64,
    /// D, to tell whether a point where b is not finite matters.
    pub domain: crate::problem::Domain,
}

struct Solver<'a, B: VectorField, N: Diffusion> {
    g: Grid,
    drift: &'a B,
    noise: &'a N,
    ws: NoiseWorkspace,
    constant_a: [f64; 3],
    u: Vec<f64>,
    state: Vec<u8>,
    parent: Vec<u32>,
    heap: IndexedHeap,
    considered: RowBits,
    front: RowBits,
    /// Disk rows: (row offset, half width in columns).
    disk: Vec<(isize, usize)>,
    /// Padded index offsets of the 8 neighbours and their (di, dj).
    nbr: [isize; 8],
    nbr_ij: [(i32, i32); 8],
    /// Coordinates of half-grid node (0, 0) (= lo − pad·h) and the half-grid spacing h/2:
    /// half-grid node (hx, hy) = 2·(padded column, row) + offset is the midpoint of a segment.
    half_origin: [f64; 2],
    half_h: [f64; 2],
    /// Lᵀ of the constant metric A = LLᵀ as [L₀₀, L₁₀, L₁₁] (Lᵀv = [L₀₀v₀ + L₁₀v₁, L₁₁v₁]).
    chol_t: [f64; 3],
    /// K as i32 and the stencil row length 2K + 1.
    kk: i32,
    kw: i32,
    /// Constant-metric stencil tables over the offsets o = (di, dj) ∈ [−K, K]² (index
    /// (dj + K)(2K + 1) + di + K), l = (di·hₓ, dj·h_y): lᵀAl and A·l (empty unless the noise is
    /// constant).
    st_ll: Vec<f64>,
    st_al: Vec<[f64; 2]>,
    /// (b, A) per half-grid node for state-dependent noise (NaN = not yet computed).
    cache: Vec<f64>,
    bad_point: Option<[f64; 2]>,
    singular_point: Option<([f64; 2], [f64; 2])>,
    domain: &'a crate::problem::Domain,
    quadratic: bool,
    near: f64,
    n_one: u64,
    n_tri: u64,
}

impl<'a, B: VectorField, N: Diffusion> Solver<'a, B, N> {
    #[inline(always)]
    fn st(&self, p: usize) -> u8 {
        debug_assert!(p < self.state.len());
        // SAFETY: every index reaching here is a grid point or a neighbour / disk point of one,
        // and the padding (pad = K + 1 ≥ the disk radius and ≥ 1) keeps those inside the
        // padded arrays, which all have length width².
        unsafe { *self.state.get_unchecked(p) & STATE_MASK }
    }

    /// U at padded index p (see [`Self::st`] for why p is in bounds).
    #[inline(always)]
    fn uval(&self, p: usize) -> f64 {
        debug_assert!(p < self.u.len());
        // SAFETY: as in `st`.
        unsafe { *self.u.get_unchecked(p) }
    }

    #[inline(always)]
    fn set_state(&mut self, p: usize, s: State) {
        self.state[p] = (self.state[p] & !STATE_MASK) | s as u8;
    }

    /// Offset (oi, oj) grid steps as a vector.
    #[inline(always)]
    fn vec(&self, oi: i32, oj: i32) -> [f64; 2] {
        [oi as f64 * self.g.h[0], oj as f64 * self.g.h[1]]
    }

    /// Drift and metric at half-grid node (hx, hy), i.e. at lo + (hx/2 − pad, hy/2 − pad)·h:
    /// the midpoint of padded points (c, r) and (c + oi, r + oj) is node (2c + oi, 2r + oj).
    /// Cached per half-grid node when [`Setup::midpoint_cache`] is set.
    #[inline(always)]
    fn midpoint(&mut self, hx: i32, hy: i32) -> Midpoint {
        let m = [
            self.half_origin[0] + hx as f64 * self.half_h[0],
            self.half_origin[1] + hy as f64 * self.half_h[1],
        ];
        let slot = if self.cache.is_empty() {
            usize::MAX
        } else {
            let k = 5 * (hy as usize * 2 * self.g.width + hx as usize);
            let e = &self.cache[k..k + 5];
            if !e[0].is_nan() {
                return Midpoint {
                    b: [e[0], e[1]],
                    a: [e[2], e[3], e[4]],
                };
            }
            k
        };
        let mut b = [0.0; 2];
        self.drift.drift(&m, &mut b);
        if !(b[0].is_finite() && b[1].is_finite()) {
            self.note_singular(m, b);
        }
        let a = if self.noise.is_constant() {
            self.constant_a
        } else {
            let mut full = [0.0; 4];
            if self.noise.metric(&m, &mut self.ws, &mut full) {
                [full[0], 0.5 * (full[1] + full[2]), full[3]]
            } else {
                self.bad_point.get_or_insert(m);
                // An infinite metric makes every update through here infinite.
                [f64::INFINITY, 0.0, f64::INFINITY]
            }
        };
        if slot != usize::MAX {
            self.cache[slot..slot + 5].copy_from_slice(&[b[0], b[1], a[0], a[1], a[2]]);
        }
        Midpoint { b, a }
    }

    /// b at half-grid node (hx, hy) (see [`Self::midpoint`]).
    #[inline(always)]
    fn drift_mid(&mut self, hx: i32, hy: i32) -> [f64; 2] {
        if !self.cache.is_empty() {
            return self.midpoint(hx, hy).b;
        }
        let m = [
            self.half_origin[0] + hx as f64 * self.half_h[0],
            self.half_origin[1] + hy as f64 * self.half_h[1],
        ];
        let mut b = [0.0; 2];
        self.drift.drift(&m, &mut b);
        if !(b[0].is_finite() && b[1].is_finite()) {
            self.note_singular(m, b);
        }
        b
    }

    /// Record the first point inside D̄ where b is not finite (outside D it cannot change V₀).
    #[cold]
    #[inline(never)]
    fn note_singular(&mut self, m: [f64; 2], b: [f64; 2]) {
        if self.singular_point.is_none() && self.domain.level(&m) <= 0.0 {
            self.singular_point = Some((m, b));
        }
    }

    /// Stencil index of offset (di, dj), |di|, |dj| ≤ K.
    #[inline(always)]
    fn st_index(&self, di: i32, dj: i32) -> usize {
        ((dj + self.kk) * self.kw + di + self.kk) as usize
    }

    /// [`one_point_below`] with constant metric A from the stencil tables: the segment is
    /// l = sign·(di, dj)·h (stencil index `o`), the midpoint drift is `b`.
    #[inline(always)]
    fn one_point_const(
        &self,
        u0: f64,
        b: [f64; 2],
        o: usize,
        sign: f64,
        bound: f64,
    ) -> Option<f64> {
        debug_assert!(o < self.st_ll.len());
        // SAFETY: o = st_index(di, dj) with |di|, |dj| ≤ K (disk offsets), inside the
        // (2K + 1)² tables.
        let (al, ll) = unsafe { (*self.st_al.get_unchecked(o), *self.st_ll.get_unchecked(o)) };
        let bl = sign * (b[0] * al[0] + b[1] * al[1]);
        let t = bound - u0 + bl;
        if !(t > 0.0) {
            return None;
        }
        let a = &self.constant_a;
        let bb = a[0] * b[0] * b[0] + 2.0 * a[1] * b[0] * b[1] + a[2] * b[1] * b[1];
        let pp = bb * ll;
        if pp >= t * t {
            return None;
        }
        Some(u0 + pp.sqrt() - bl)
    }

    /// The action Q = ‖b‖_A‖l‖_A − bᵀAl of the segment l = sign·(di, dj)·h (stencil index `o`)
    /// with midpoint drift `b` and the constant metric A.
    #[inline(always)]
    fn segment_action_const(&self, b: [f64; 2], o: usize, sign: f64) -> f64 {
        debug_assert!(o < self.st_ll.len());
        // SAFETY: as in `one_point_const`.
        let (al, ll) = unsafe { (*self.st_al.get_unchecked(o), *self.st_ll.get_unchecked(o)) };
        let a = &self.constant_a;
        let bb = a[0] * b[0] * b[0] + 2.0 * a[1] * b[0] * b[1] + a[2] * b[1] * b[1];
        (bb * ll).sqrt() - sign * (b[0] * al[0] + b[1] * al[1])
    }

    /// Triangle update of a target from the Accepted Front points x₀ and x₁ (midpoint data `m0`,
    /// `m1`; `l0` = x − x₀, `e` = x₁ − x₀), with U interpolated along x₀x₁ quadratically or
    /// linearly (see [`Self::second_difference`]).
    #[inline(always)]
    fn triangle(
        &mut self,
        x0: usize,
        x1: usize,
        m0: &Midpoint,
        m1: &Midpoint,
        l0: [f64; 2],
        e: [f64; 2],
    ) -> Option<f64> {
        self.n_tri += 1;
        let (u0, u1) = (self.uval(x0), self.uval(x1));
        let d2u = self.second_difference(x0, x1);
        if self.noise.is_constant() {
            // A = LLᵀ is constant: map every vector by Lᵀ and use the identity metric.
            let c = self.chol_t;
            let t = |v: [f64; 2]| [c[0] * v[0] + c[1] * v[1], c[2] * v[1]];
            triangle_identity(u0, u1, d2u, t(m0.b), t(m1.b), t(l0), t(e))
        } else {
            triangle::<true>(u0, u1, d2u, m0, m1, l0, e)
        }
    }

    /// The second difference U₋₁ − 2U₀ + U₁ along the line through x₀ and x₁ = x₀ + e, from
    /// x₋₁ = x₀ − e or else x₂ = x₁ + e, whichever is Accepted; 0 (linear interpolation) when
    /// neither is or when [`Setup::quadratic`] is off. With it the triangle update interpolates U
    /// quadratically along x₀x₁, U(λ) = U₀ + λΔU − ½λ(1 − λ)·δ²U: the linear interpolant of a
    /// convex U overestimates by ½λ(1 − λ)h²U″ at every update, an O(h) bias that builds up
    /// along the characteristics and dominates the error of fields whose paths wind (it held the
    /// manufactured case at observed order 0.75; see the module docs for the tables).
    #[inline(always)]
    fn second_difference(&self, x0: usize, x1: usize) -> f64 {
        if !self.quadratic {
            return 0.0;
        }
        let e = x1 as isize - x0 as isize;
        let accepted = |p: usize| {
            let s = self.st(p);
            s == State::Accepted as u8 || s == State::Front as u8
        };
        let xm = (x0 as isize - e) as usize;
        if accepted(xm) {
            return self.uval(xm) - 2.0 * self.uval(x0) + self.uval(x1);
        }
        let x2 = (x1 as isize + e) as usize;
        if accepted(x2) {
            return self.uval(x0) - 2.0 * self.uval(x1) + self.uval(x2);
        }
        0.0
    }

    /// Triangle updates of the target x = x₀ + (ti, tj) around the source x₀ (midpoint data
    /// `m0` of (x₀, x)) with every Accepted Front 8-neighbour of x₀; (c0, r0) = padded column
    /// and row of x₀. Returns the smallest value found (or +∞).
    #[inline(always)]
    fn triangles_around(
        &mut self,
        x0: usize,
        (c0, r0): (i32, i32),
        m0: &Midpoint,
        ti: i32,
        tj: i32,
    ) -> f64 {
        let mut best = f64::INFINITY;
        let l0 = self.vec(ti, tj);
        for k in 0..8 {
            let x1 = (x0 as isize + self.nbr[k]) as usize;
            if self.st(x1) != State::Front as u8 {
                continue;
            }
            let (ni, nj) = self.nbr_ij[k];
            // Midpoint of x₁ = x₀ + n and x = x₀ + t.
            let m1 = self.midpoint(2 * c0 + ni + ti, 2 * r0 + nj + tj);
            let e = self.vec(ni, nj);
            if let Some(v) = self.triangle(x0, x1, m0, &m1, l0, e) {
                best = best.min(v);
            }
        }
        best
    }

    /// Value of a newly Considered point x (padded column c, row r) from all Accepted Front
    /// points within K·h, then triangle updates around the best one.
    #[inline(always)]
    fn fresh_value(&mut self, x: usize, c: usize, r: usize) {
        let (best, src) = if self.noise.is_constant() {
            self.best_source_constant(c, r)
        } else {
            self.best_source_variable(c, r)
        };
        let mut best = best;
        if let Some((q, m)) = src {
            let w = self.g.width;
            let (di, dj) = ((q % w) as i32 - c as i32, (q / w) as i32 - r as i32);
            let t = self.triangles_around(q, (c as i32 + di, r as i32 + dj), &m, -di, -dj);
            best = best.min(t);
            self.parent[x] = q as u32;
        }
        self.u[x] = best;
        self.set_state(x, State::Considered);
        self.considered.set(x);
        self.heap.push_or_decrease(x, best);
    }

    /// The best one-point update of the point at padded column c, row r over the Accepted Front
    /// points within K·h, with constant metric: (value, Some((source, midpoint data))).
    ///
    /// Branch-free over the candidates: each candidate's action is computed in full and the
    /// minimum kept by selects, so neither the square roots nor the comparisons wait on the
    /// running minimum (a data-dependent branch here mispredicts about once per candidate).
    #[inline(always)]
    fn best_source_constant(&mut self, c: usize, r: usize) -> (f64, Option<(usize, Midpoint)>) {
        let w = self.g.width;
        let (ci, ri) = (c as i32, r as i32);
        let mut best = f64::INFINITY;
        let mut best_q = usize::MAX;
        let mut evaluated = 0u64;
        for k in 0..self.disk.len() {
            let (dr, half) = self.disk[k];
            let row = (r as isize + dr) as usize;
            let (c0, c1) = (c - half, c + half);
            let (mut wi, w1) = (c0 >> 6, c1 >> 6);
            let dj = dr as i32;
            // Stencil index of (col − c, dj) is obase + col.
            let obase = self.st_index(0, dj) as isize - ci as isize;
            while wi <= w1 {
                let mut word = self.front.masked_word(row, wi, c0, c1);
                let base = wi * 64;
                wi += 1;
                evaluated += word.count_ones() as u64;
                while word != 0 {
                    let col = base + word.trailing_zeros() as usize;
                    word &= word - 1;
                    let q = row * w + col;
                    let di = col as i32 - ci;
                    let b = self.drift_mid(2 * ci + di, 2 * ri + dj);
                    let v = self.uval(q)
                        + self.segment_action_const(b, (obase + col as isize) as usize, -1.0);
                    let better = v < best;
                    best = if better { v } else { best };
                    best_q = if better { q } else { best_q };
                }
            }
        }
        self.n_one += evaluated;
        if best_q == usize::MAX {
            return (best, None);
        }
        let (di, dj) = ((best_q % w) as i32 - ci, (best_q / w) as i32 - ri);
        let b = self.drift_mid(2 * ci + di, 2 * ri + dj);
        (
            best,
            Some((
                best_q,
                Midpoint {
                    b,
                    a: self.constant_a,
                },
            )),
        )
    }

    /// As [`Self::best_source_constant`] for state-dependent noise (with the early rejection
    /// tests of [`one_point_below`]: a metric evaluation or cache fetch per candidate dominates).
    #[inline(always)]
    fn best_source_variable(&mut self, c: usize, r: usize) -> (f64, Option<(usize, Midpoint)>) {
        let w = self.g.width;
        let (ci, ri) = (c as i32, r as i32);
        let mut best = f64::INFINITY;
        let mut src = None;
        let mut evaluated = 0u64;
        for k in 0..self.disk.len() {
            let (dr, half) = self.disk[k];
            let row = (r as isize + dr) as usize;
            let (c0, c1) = (c - half, c + half);
            let (mut wi, w1) = (c0 >> 6, c1 >> 6);
            while wi <= w1 {
                let mut word = self.front.masked_word(row, wi, c0, c1);
                let base = wi * 64;
                wi += 1;
                while word != 0 {
                    let col = base + word.trailing_zeros() as usize;
                    word &= word - 1;
                    let q = row * w + col;
                    let uq = self.uval(q);
                    // Q ≥ 0: a source already above the best value cannot win.
                    if uq >= best {
                        continue;
                    }
                    evaluated += 1;
                    let (di, dj) = (col as i32 - ci, dr as i32);
                    let m = self.midpoint(2 * ci + di, 2 * ri + dj);
                    if let Some(v) = one_point_below(uq, &m, self.vec(-di, -dj), best) {
                        best = v;
                        src = Some((q, m));
                    }
                }
            }
        }
        self.n_one += evaluated;
        (best, src)
    }

    /// Updates of every Considered point within K·h of the newly accepted x_new (padded column
    /// c, row r).
    #[inline(always)]
    fn update_considered(&mut self, xn: usize, c: usize, r: usize) {
        let w = self.g.width;
        let un = self.u[xn];
        let (ci, ri) = (c as i32, r as i32);
        let wi_ = w as isize;
        let mut evaluated = 0u64;
        for k in 0..self.disk.len() {
            let (dr, half) = self.disk[k];
            let row = (r as isize + dr) as usize;
            let (c0, c1) = (c - half, c + half);
            let (mut wi, w1) = (c0 >> 6, c1 >> 6);
            while wi <= w1 {
                let mut word = self.considered.masked_word(row, wi, c0, c1);
                wi += 1;
                while word != 0 {
                    let col = (wi - 1) * 64 + word.trailing_zeros() as usize;
                    word &= word - 1;
                    let x = row * w + col;
                    evaluated += 1;
                    let (di, dj) = (col as i32 - ci, dr as i32);
                    let old = self.uval(x);
                    let bound = if self.near > 0.0 && old.is_finite() {
                        old + self.near * (old - un)
                    } else {
                        old
                    };
                    let (m, improved) = if self.noise.is_constant() {
                        let b = self.drift_mid(2 * ci + di, 2 * ri + dj);
                        let o = self.st_index(di, dj);
                        let m = Midpoint {
                            b,
                            a: self.constant_a,
                        };
                        (m, self.one_point_const(un, b, o, 1.0, bound))
                    } else {
                        let m = self.midpoint(2 * ci + di, 2 * ri + dj);
                        let v = one_point_below(un, &m, self.vec(di, dj), bound);
                        (m, v)
                    };
                    let mut v = old;
                    // With `near` > 0 (Setup::near_triangles), a one-point update that comes
                    // within that fraction of (U(x) − U(x_new)) of improving U(x) still gets its
                    // triangle updates.
                    let (improved, near) = match improved {
                        Some(q) if q < old => (Some(q), false),
                        Some(_) => (None, true),
                        None => (None, false),
                    };
                    if near {
                        let t = self.triangles_around(xn, (ci, ri), &m, di, dj);
                        if t < v {
                            v = t;
                        }
                    }
                    if let Some(q1) = improved {
                        v = q1;
                        self.parent[x] = xn as u32;
                        v = v.min(self.triangles_around(xn, (ci, ri), &m, di, dj));
                    } else {
                        // The triangle (x₀, x_new) when x_new neighbours x's best source x₀.
                        let x0 = self.parent[x] as usize;
                        let off = x0 as isize - xn as isize;
                        if off.abs() <= wi_ + 1 && self.st(x0) == State::Front as u8 {
                            if let Some(k) = self.nbr.iter().position(|&o| o == off) {
                                let (ni, nj) = self.nbr_ij[k];
                                let m0 = self.midpoint(2 * ci + ni + di, 2 * ri + nj + dj);
                                let l0 = self.vec(di - ni, dj - nj);
                                let e = self.vec(-ni, -nj);
                                if let Some(t) = self.triangle(x0, xn, &m0, &m, l0, e) {
                                    v = v.min(t);
                                }
                            }
                        }
                    }
                    if v < old {
                        self.u[x] = v;
                        self.heap.push_or_decrease(x, v);
                    }
                }
            }
        }
        self.n_one += evaluated;
    }

    /// Whether p has an Unknown or Considered 8-neighbour.
    #[inline]
    fn touches_unaccepted(&self, p: usize) -> bool {
        self.nbr.iter().any(|&o| {
            let s = self.st((p as isize + o) as usize);
            s == State::Unknown as u8 || s == State::Considered as u8
        })
    }

    fn retire_if_interior(&mut self, p: usize) {
        if self.st(p) == State::Front as u8 && !self.touches_unaccepted(p) {
            self.set_state(p, State::Accepted);
            self.front.clear(p);
        }
    }

    fn accept(&mut self, p: usize) {
        self.set_state(p, State::Front);
        self.considered.clear(p);
        self.front.set(p);
    }

    /// Make the Unknown neighbours of p (padded column c, row r) Considered.
    #[inline(always)]
    fn expand(&mut self, p: usize, c: usize, r: usize) {
        for k in 0..8 {
            let q = (p as isize + self.nbr[k]) as usize;
            if self.st(q) == State::Unknown as u8 {
                let (ni, nj) = self.nbr_ij[k];
                self.fresh_value(q, (c as i32 + ni) as usize, (r as i32 + nj) as usize);
            }
        }
    }

    fn retire_around(&mut self, p: usize) {
        self.retire_if_interior(p);
        for k in 0..8 {
            let q = (p as isize + self.nbr[k]) as usize;
            self.retire_if_interior(q);
        }
    }
}

/// Run the loop for one concrete model.
///
/// On x86-64 CPUs with AVX2, FMA and BMI2 the loop runs compiled for those features
/// ([`crate::simd`]): about 7 % faster, bit-identical values (tested).
pub(crate) fn solve<B: VectorField, N: Diffusion>(drift: &B, noise: &N, setup: Setup) -> Solution {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::x86_v3_available() {
        // SAFETY: the target features of `solve_x86_v3` were detected on this CPU.
        return unsafe { solve_x86_v3(drift, noise, setup) };
    }
    solve_body(drift, noise, setup)
}

/// [`solve`] compiled for x86-64-v3.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
#[inline(never)]
unsafe fn solve_x86_v3<B: VectorField, N: Diffusion>(
    drift: &B,
    noise: &N,
    setup: Setup,
) -> Solution {
    solve_body(drift, noise, setup)
}

#[inline(always)]
fn solve_body<B: VectorField, N: Diffusion>(drift: &B, noise: &N, setup: Setup) -> Solution {
    let g = setup.grid.clone();
    let len = g.padded_len();
    let k = setup.k as isize;
    let mut state = vec![State::Outside as u8; len];
    for j in 0..g.n {
        let row = g.index(0, j);
        state[row..row + g.n].fill(State::Unknown as u8);
    }
    let mut remaining = 0usize;
    for &p in &setup.boundary {
        if state[p] & BOUNDARY_FLAG == 0 {
            state[p] |= BOUNDARY_FLAG;
            remaining += 1;
        }
    }
    for &p in &setup.edge {
        state[p] |= EDGE_FLAG;
    }
    let disk: Vec<(isize, usize)> = (-k..=k)
        .map(|dr| (dr, ((k * k - dr * dr) as f64).sqrt().floor() as usize))
        .collect();
    let w = g.width as isize;
    let nbr_ij: [(i32, i32); 8] = [
        (-1, -1),
        (0, -1),
        (1, -1),
        (-1, 0),
        (1, 0),
        (-1, 1),
        (0, 1),
        (1, 1),
    ];
    let nbr = nbr_ij.map(|(i, j)| j as isize * w + i as isize);
    let mut full = [0.0; 4];
    let mut ws = noise.workspace();
    let constant_a = if noise.is_constant() {
        noise.metric(&g.lo, &mut ws, &mut full);
        [full[0], 0.5 * (full[1] + full[2]), full[3]]
    } else {
        [0.0; 3]
    };
    let (mut st_ll, mut st_al) = (Vec::new(), Vec::new());
    if noise.is_constant() {
        let a = constant_a;
        for dj in -k..=k {
            for di in -k..=k {
                let l = [di as f64 * g.h[0], dj as f64 * g.h[1]];
                let al = [a[0] * l[0] + a[1] * l[1], a[1] * l[0] + a[2] * l[1]];
                st_ll.push(l[0] * al[0] + l[1] * al[1]);
                st_al.push(al);
            }
        }
    }
    let mut s = Solver {
        drift,
        noise,
        ws,
        constant_a,
        u: vec![f64::INFINITY; len],
        state,
        parent: vec![0; len],
        heap: IndexedHeap::new(len),
        considered: RowBits::new(g.width),
        front: RowBits::new(g.width),
        disk,
        nbr,
        nbr_ij,
        cache: if setup.midpoint_cache {
            vec![f64::NAN; 5 * 4 * g.width * g.width]
        } else {
            Vec::new()
        },
        half_origin: [
            g.lo[0] - g.pad as f64 * g.h[0],
            g.lo[1] - g.pad as f64 * g.h[1],
        ],
        half_h: [0.5 * g.h[0], 0.5 * g.h[1]],
        chol_t: if noise.is_constant() {
            let a = constant_a;
            let l00 = a[0].sqrt();
            [l00, a[1] / l00, (a[2] - a[1] * a[1] / a[0]).sqrt()]
        } else {
            [0.0; 3]
        },
        kk: k as i32,
        kw: 2 * k as i32 + 1,
        st_ll,
        st_al,
        bad_point: None,
        singular_point: None,
        domain: &setup.domain,
        quadratic: setup.quadratic,
        near: setup.near_triangles,
        n_one: 0,
        n_tri: 0,
        g,
    };
    let mut accepted = 0usize;
    let mut termination = Termination::Exhausted;
    let mut last_value = 0.0;
    let mut hit_edge = false;
    for &(p, v) in &setup.initial {
        s.u[p] = v;
        s.accept(p);
        accepted += 1;
        last_value = f64::max(last_value, v);
        if s.state[p] & BOUNDARY_FLAG != 0 {
            remaining -= 1;
        }
        hit_edge |= s.state[p] & EDGE_FLAG != 0;
    }
    for &(p, _) in &setup.initial {
        let (c, r) = (p % s.g.width, p / s.g.width);
        s.expand(p, c, r);
    }
    for &(p, _) in &setup.initial {
        s.retire_around(p);
    }
    if setup.stop_early && hit_edge {
        termination = Termination::GridEdge;
    } else {
        while let Some((p, v)) = s.heap.pop() {
            if !v.is_finite() {
                break;
            }
            s.accept(p);
            accepted += 1;
            last_value = v;
            let (c, r) = (p % s.g.width, p / s.g.width);
            s.update_considered(p, c, r);
            s.expand(p, c, r);
            s.retire_around(p);
            if s.state[p] & BOUNDARY_FLAG != 0 {
                remaining -= 1;
                if remaining == 0 && setup.stop_early && !setup.boundary.is_empty() {
                    termination = Termination::BoundaryAccepted;
                    break;
                }
            }
            if setup.stop_early && s.state[p] & EDGE_FLAG != 0 {
                termination = Termination::GridEdge;
                break;
            }
        }
    }
    Solution {
        u: s.u,
        state: s.state,
        termination,
        last_value,
        accepted,
        bad_point: s.bad_point,
        singular_point: s.singular_point,
        one_point_updates: s.n_one,
        triangle_updates: s.n_tri,
    }
}
