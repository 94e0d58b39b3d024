//! The solver loop of OLIM-MID on a 3-D grid: Dijkstra-like acceptance of the Considered point
//! with the smallest tentative value, then local updates with the hierarchical strategy of
//! Yang, Potter & Cameron (J. Comput. Phys. 379, 2019).
//!
//! When point x_new is accepted:
//! 1. every Considered point x with |x − x_new| ≤ K·h (in grid steps) gets the one-point update
//!    from x_new; if it lowers U(x), x_new becomes x's best source x₀ and x gets the triangle
//!    updates (x₀, x₁) for every Accepted Front 26-neighbour x₁ of x₀, then the tetrahedron
//!    updates (x₀, x₁*, x₂) around the best triangle (x₀, x₁*) for every Accepted Front x₂
//!    neighbouring both; otherwise, if x_new neighbours x's best source x₀, the triangle
//!    (x₀, x_new) and the tetrahedra around it;
//! 2. every Unknown 26-neighbour of x_new becomes Considered: its value is the best one-point
//!    update over all Accepted Front points within K·h, followed by the triangle and
//!    tetrahedron updates around that best source only;
//! 3. Accepted Front points among x_new and its neighbours whose 26 neighbours are all accepted
//!    become Accepted and stop serving as update sources.
//!
//! The ball of radius K is a precomputed table of padded-index offsets; nothing is allocated in
//! the loop. With constant noise A = a⁻¹ is evaluated once.

use super::grid::Grid3;
use super::update::{one_point_below, Midpoint, Simplex};
use crate::olim::grid::{State, BOUNDARY_FLAG, EDGE_FLAG, STATE_MASK};
use crate::olim::heap::IndexedHeap;
use crate::olim::Termination;
use crate::problem::{Diffusion, NoiseWorkspace, VectorField};

/// No best source recorded (in [`Solver::parent`]).
const NO_PARENT: u16 = u16::MAX;

/// Solver output before post-processing.
pub(crate) struct Solution {
    pub u: Vec<f64>,
    pub state: Vec<u8>,
    pub termination: Termination,
    pub last_value: f64,
    pub accepted: usize,
    pub bad_point: Option<[f64; 3]>,
    pub singular_point: Option<([f64; 3], [f64; 3])>,
    pub one_point_updates: u64,
    pub triangle_updates: u64,
    pub tetrahedron_updates: u64,
}

/// Inputs of the loop.
pub(crate) struct Setup {
    pub grid: Grid3,
    pub k: usize,
    /// Grid points initialised with the local quadratic: (padded index, value).
    pub initial: Vec<(usize, f64)>,
    /// Ends of ∂D-crossing grid edges (padded indices, possibly repeated).
    pub boundary: Vec<usize>,
    /// Grid-face points inside D or on ∂D (padded indices).
    pub edge: Vec<usize>,
    /// Stop at the grid edge / when ∂D is accepted (false: accept everything).
    pub stop_early: bool,
    /// D, to tell whether a point where b is not finite matters.
    pub domain: crate::problem::Domain,
    /// Interpolate U quadratically in triangle and tetrahedron updates (false: linearly).
    pub quadratic: bool,
}

struct Solver<'a, B: VectorField, N: Diffusion> {
    g: Grid3,
    drift: &'a B,
    noise: &'a N,
    ws: NoiseWorkspace,
    constant_a: [f64; 6],
    variable: bool,
    u: Vec<f64>,
    state: Vec<u8>,
    /// Ball index of the offset from a Considered point to its best source.
    parent: Vec<u16>,
    heap: IndexedHeap,
    /// Ball of radius K: padded-index offsets and grid-step offsets, symmetric (entry
    /// len − 1 − i is −entry i).
    ball: Vec<(isize, [i32; 3])>,
    nbr: [(isize, [i32; 3]); 26],
    /// Coordinates of half-grid node (0, 0, 0) (= lo − pad·h) and the half spacing h/2.
    half_origin: [f64; 3],
    half_h: [f64; 3],
    bad_point: Option<[f64; 3]>,
    singular_point: Option<([f64; 3], [f64; 3])>,
    domain: &'a crate::problem::Domain,
    quadratic: bool,
    n_one: u64,
    n_tri: u64,
    n_tet: u64,
}

#[inline(always)]
fn add(a: [i32; 3], b: [i32; 3]) -> [i32; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

#[inline(always)]
fn neg(a: [i32; 3]) -> [i32; 3] {
    [-a[0], -a[1], -a[2]]
}

/// Whether two distinct grid offsets are 26-neighbours.
#[inline(always)]
fn adjacent(a: [i32; 3], b: [i32; 3]) -> bool {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    d != [0, 0, 0] && d.iter().all(|x| x.abs() <= 1)
}

impl<'a, B: VectorField, N: Diffusion> Solver<'a, B, N> {
    #[inline(always)]
    fn st(&self, p: usize) -> u8 {
        self.state[p] & STATE_MASK
    }

    #[inline(always)]
    fn set_state(&mut self, p: usize, s: State) {
        self.state[p] = (self.state[p] & !STATE_MASK) | s as u8;
    }

    #[inline(always)]
    fn vec(&self, d: [i32; 3]) -> [f64; 3] {
        [
            d[0] as f64 * self.g.h[0],
            d[1] as f64 * self.g.h[1],
            d[2] as f64 * self.g.h[2],
        ]
    }

    #[inline(always)]
    fn at(&self, p: usize, off: isize) -> usize {
        (p as isize + off) as usize
    }

    /// Drift and metric at half-grid node `hx` (= 2·padded coordinates of one end + offset to
    /// the other): the midpoint lo + (hx/2 − pad)·h.
    #[inline(always)]
    fn midpoint(&mut self, hx: [i32; 3]) -> Midpoint {
        let m: [f64; 3] =
            std::array::from_fn(|a| self.half_origin[a] + hx[a] as f64 * self.half_h[a]);
        let mut b = [0.0; 3];
        self.drift.drift(&m, &mut b);
        if !b.iter().all(|v| v.is_finite()) {
            self.note_singular(m, b);
        }
        let a = if self.variable {
            let mut full = [0.0; 9];
            if self.noise.metric(&m, &mut self.ws, &mut full) {
                sym(&full)
            } else {
                self.bad_point.get_or_insert(m);
                [f64::INFINITY, 0.0, 0.0, f64::INFINITY, 0.0, f64::INFINITY]
            }
        } else {
            self.constant_a
        };
        Midpoint { b, a }
    }

    #[cold]
    #[inline(never)]
    fn note_singular(&mut self, m: [f64; 3], b: [f64; 3]) {
        if self.singular_point.is_none() && self.domain.level(&m) <= 0.0 {
            self.singular_point = Some((m, b));
        }
    }

    #[inline(always)]
    fn is_front(&self, p: usize) -> bool {
        self.st(p) == State::Front as u8
    }

    #[inline(always)]
    fn accepted(&self, p: usize) -> bool {
        let s = self.st(p);
        s == State::Front as u8 || s == State::Accepted as u8
    }

    /// The second difference of U along the grid line through xa and xb = xa + off, from
    /// xa − off or else xb + off, whichever is accepted; `None` when neither is or when
    /// [`Setup::quadratic`] is off. (pad ≥ 2 keeps both inside the padded arrays.)
    #[inline(always)]
    fn second_difference(&self, xa: usize, off: isize) -> Option<f64> {
        if !self.quadratic {
            return None;
        }
        let xb = self.at(xa, off);
        let xm = self.at(xa, -off);
        if self.accepted(xm) {
            return Some(self.u[xm] - 2.0 * self.u[xa] + self.u[xb]);
        }
        let x2 = self.at(xb, off);
        if self.accepted(x2) {
            return Some(self.u[xa] - 2.0 * self.u[xb] + self.u[x2]);
        }
        None
    }

    /// λ-Hessian of the quadratic interpolant of U on the triangle x₀, x₀ + n1, x₀ + n2 from
    /// the second differences along its three edges (zero when one is missing: linear).
    #[inline(always)]
    fn triangle_curvature(&self, x0: usize, n1: [i32; 3], n2: [i32; 3]) -> [[f64; 2]; 2] {
        let g = &self.g;
        let x1 = self.at(x0, g.offset(n1));
        let n12 = [n2[0] - n1[0], n2[1] - n1[1], n2[2] - n1[2]];
        match (
            self.second_difference(x0, g.offset(n1)),
            self.second_difference(x0, g.offset(n2)),
            self.second_difference(x1, g.offset(n12)),
        ) {
            (Some(h11), Some(h22), Some(h33)) => {
                // Along e₂ − e₁: h33 = H₁₁ + H₂₂ − 2H₁₂.
                let h12 = 0.5 * (h11 + h22 - h33);
                [[h11, h12], [h12, h22]]
            }
            _ => [[0.0; 2]; 2],
        }
    }

    #[inline(always)]
    fn triangle(&mut self, s: &Simplex<1>) -> Option<(f64, f64)> {
        self.n_tri += 1;
        let r = if self.variable {
            s.minimiser::<true>()
        } else {
            s.minimiser::<false>()
        };
        r.map(|(v, l)| (v, l[0]))
    }

    /// The tetrahedron update, skipped when the triangle's minimiser (λ₁*, 0) already
    /// satisfies the optimality condition ∂f/∂λ₂ ≥ 0 of the whole simplex (for convex f it is
    /// then the minimum over the tetrahedron's face too).
    #[inline(always)]
    fn tetrahedron(&mut self, s: &Simplex<2>, lambda1: f64) -> Option<f64> {
        let g = if self.variable {
            s.eval::<true>([lambda1, 0.0]).1
        } else {
            s.eval::<false>([lambda1, 0.0]).1
        };
        if g[1] >= 0.0 {
            return None;
        }
        self.n_tet += 1;
        if self.variable {
            s.minimise::<true>()
        } else {
            s.minimise::<false>()
        }
    }

    /// Tetrahedron updates of target x (padded index `x`, half-grid base `hx` = 2·coords of
    /// x) from the Accepted Front pair x₀ = x + d0, x₁ = x + d1 (midpoint data m0, m1) with
    /// every Accepted Front x₂ neighbouring both. Returns the least value (or +∞).
    #[inline(always)]
    fn tetrahedra(
        &mut self,
        x: usize,
        hx: [i32; 3],
        (d0, m0): ([i32; 3], &Midpoint),
        (d1, m1): ([i32; 3], &Midpoint),
        lambda1: f64,
    ) -> f64 {
        let mut best = f64::INFINITY;
        let x0 = self.at(x, self.g.offset(d0));
        let (u0, u1) = (self.u[x0], self.u[self.at(x, self.g.offset(d1))]);
        let n1 = [d1[0] - d0[0], d1[1] - d0[1], d1[2] - d0[2]];
        let e1 = self.vec(n1);
        let l0 = self.vec(neg(d0));
        for k in 0..26 {
            let (off, n2) = self.nbr[k];
            let d2 = add(d0, n2);
            if !adjacent(d2, d1) {
                continue;
            }
            let x2 = self.at(x0, off);
            if !self.is_front(x2) {
                continue;
            }
            let m2 = self.midpoint(add(hx, d2));
            let mut s =
                Simplex::<2>::new(u0, m0, [(u1, m1, e1), (self.u[x2], &m2, self.vec(n2))], l0);
            s.curv = self.triangle_curvature(x0, n1, n2);
            if let Some(v) = self.tetrahedron(&s, lambda1) {
                best = best.min(v);
            }
        }
        best
    }

    /// Triangle updates of target x around the source x₀ = x + d0 (midpoint data m0) with
    /// every Accepted Front neighbour x₁ of x₀, then the tetrahedra around the best triangle.
    #[inline(always)]
    fn around_source(&mut self, x: usize, hx: [i32; 3], d0: [i32; 3], m0: &Midpoint) -> f64 {
        let x0 = self.at(x, self.g.offset(d0));
        let u0 = self.u[x0];
        let l0 = self.vec(neg(d0));
        let mut best = f64::INFINITY;
        let mut best_tri: Option<([i32; 3], Midpoint, f64)> = None;
        for k in 0..26 {
            let (off, n1) = self.nbr[k];
            let x1 = self.at(x0, off);
            if !self.is_front(x1) {
                continue;
            }
            let d1 = add(d0, n1);
            if d1 == [0, 0, 0] {
                continue;
            }
            let m1 = self.midpoint(add(hx, d1));
            let mut s = Simplex::<1>::new(u0, m0, [(self.u[x1], &m1, self.vec(n1))], l0);
            s.curv[0][0] = self.second_difference(x0, off).unwrap_or(0.0);
            if let Some((v, lam)) = self.triangle(&s) {
                if v < best {
                    best = v;
                    best_tri = Some((d1, m1, lam));
                }
            }
        }
        if let Some((d1, m1, lam)) = best_tri {
            best = best.min(self.tetrahedra(x, hx, (d0, m0), (d1, &m1), lam));
        }
        best
    }

    /// Value of a newly Considered point x: the best one-point update over the Accepted
    /// Front within K·h, then the triangles and tetrahedra around that source.
    fn fresh_value(&mut self, x: usize) {
        let c = self.g.padded_coords(x);
        let hx = [2 * c[0] as i32, 2 * c[1] as i32, 2 * c[2] as i32];
        let mut best = f64::INFINITY;
        let mut src: Option<(usize, Midpoint)> = None;
        for i in 0..self.ball.len() {
            let (off, d) = self.ball[i];
            let q = self.at(x, off);
            if !self.is_front(q) {
                continue;
            }
            let uq = self.u[q];
            // Q ≥ 0: a source already above the best value cannot win.
            if uq >= best {
                continue;
            }
            self.n_one += 1;
            let m = self.midpoint(add(hx, d));
            if let Some(v) = one_point_below(uq, &m, self.vec(neg(d)), best) {
                best = v;
                src = Some((i, m));
            }
        }
        if let Some((i, m)) = src {
            self.parent[x] = i as u16;
            let d0 = self.ball[i].1;
            best = best.min(self.around_source(x, hx, d0, &m));
        }
        self.u[x] = best;
        self.set_state(x, State::Considered);
        if best.is_finite() {
            self.heap.push_or_decrease(x, best);
        }
    }

    /// Updates of every Considered point within K·h of the newly accepted x_new.
    fn update_considered(&mut self, xn: usize) {
        let cn = self.g.padded_coords(xn);
        let un = self.u[xn];
        let nb = self.ball.len();
        for i in 0..nb {
            let (off, d) = self.ball[i];
            let x = self.at(xn, off);
            if self.st(x) != State::Considered as u8 {
                continue;
            }
            self.n_one += 1;
            let old = self.u[x];
            let hn = [2 * cn[0] as i32, 2 * cn[1] as i32, 2 * cn[2] as i32];
            // Half-grid base of x: 2·(cn + d); the source x_new is at offset −d from x.
            let hx = add(hn, add(d, d));
            let d0 = neg(d);
            let m = self.midpoint(add(hn, d));
            let mut v = old;
            if let Some(q) = one_point_below(un, &m, self.vec(d), old) {
                v = q;
                // −d is entry nb − 1 − i of the symmetric ball.
                self.parent[x] = (nb - 1 - i) as u16;
                v = v.min(self.around_source(x, hx, d0, &m));
            } else if self.parent[x] != NO_PARENT {
                // The triangle (x₀, x_new) when x_new neighbours x's best source x₀, and the
                // tetrahedra around it.
                let dp = self.ball[self.parent[x] as usize].1;
                let x0 = self.at(x, self.g.offset(dp));
                if adjacent(dp, d0) && self.is_front(x0) {
                    let m0 = self.midpoint(add(hx, dp));
                    let e = self.vec([d0[0] - dp[0], d0[1] - dp[1], d0[2] - dp[2]]);
                    let mut s =
                        Simplex::<1>::new(self.u[x0], &m0, [(un, &m, e)], self.vec(neg(dp)));
                    let n = [d0[0] - dp[0], d0[1] - dp[1], d0[2] - dp[2]];
                    s.curv[0][0] = self.second_difference(x0, self.g.offset(n)).unwrap_or(0.0);
                    if let Some((t, lam)) = self.triangle(&s) {
                        v = v.min(t);
                        v = v.min(self.tetrahedra(x, hx, (dp, &m0), (d0, &m), lam));
                    }
                }
            }
            if v < old {
                self.u[x] = v;
                self.heap.push_or_decrease(x, v);
            }
        }
    }

    fn touches_unaccepted(&self, p: usize) -> bool {
        self.nbr.iter().any(|&(o, _)| {
            let s = self.st(self.at(p, o));
            s == State::Unknown as u8 || s == State::Considered as u8
        })
    }

    fn retire_if_interior(&mut self, p: usize) {
        if self.is_front(p) && !self.touches_unaccepted(p) {
            self.set_state(p, State::Accepted);
        }
    }

    fn expand(&mut self, p: usize) {
        for k in 0..26 {
            let q = self.at(p, self.nbr[k].0);
            if self.st(q) == State::Unknown as u8 {
                self.fresh_value(q);
            }
        }
    }

    fn retire_around(&mut self, p: usize) {
        self.retire_if_interior(p);
        for k in 0..26 {
            let q = self.at(p, self.nbr[k].0);
            self.retire_if_interior(q);
        }
    }
}

/// A full symmetric 3×3 matrix (row-major) as [A₀₀, A₀₁, A₀₂, A₁₁, A₁₂, A₂₂] (off-diagonals
/// averaged).
#[inline(always)]
pub(crate) fn sym(f: &[f64; 9]) -> [f64; 6] {
    [
        f[0],
        0.5 * (f[1] + f[3]),
        0.5 * (f[2] + f[6]),
        f[4],
        0.5 * (f[5] + f[7]),
        f[8],
    ]
}

/// The ball of radius K in grid steps as (padded offset, grid offset), symmetric about its
/// middle, without the centre.
pub(crate) fn ball(g: &Grid3, k: usize) -> Vec<(isize, [i32; 3])> {
    let k = k as i32;
    let mut out = Vec::new();
    for dk in -k..=k {
        for dj in -k..=k {
            for di in -k..=k {
                if (di, dj, dk) != (0, 0, 0) && di * di + dj * dj + dk * dk <= k * k {
                    out.push((g.offset([di, dj, dk]), [di, dj, dk]));
                }
            }
        }
    }
    out
}

/// Run the loop for one concrete model.
pub(crate) fn solve<B: VectorField, N: Diffusion>(drift: &B, noise: &N, setup: Setup) -> Solution {
    let g = setup.grid.clone();
    let len = g.padded_len();
    let mut state = vec![State::Outside as u8; len];
    for k in 0..g.n {
        for j in 0..g.n {
            let row = g.index(0, j, k);
            state[row..row + g.n].fill(State::Unknown as u8);
        }
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
    let mut nbr = [(0isize, [0i32; 3]); 26];
    let mut c = 0;
    for dk in -1..=1 {
        for dj in -1..=1 {
            for di in -1..=1 {
                if (di, dj, dk) != (0, 0, 0) {
                    nbr[c] = (g.offset([di, dj, dk]), [di, dj, dk]);
                    c += 1;
                }
            }
        }
    }
    let mut ws = noise.workspace();
    let variable = !noise.is_constant();
    let constant_a = if variable {
        [0.0; 6]
    } else {
        let mut full = [0.0; 9];
        noise.metric(&g.lo, &mut ws, &mut full);
        sym(&full)
    };
    let mut s = Solver {
        drift,
        noise,
        ws,
        constant_a,
        variable,
        u: vec![f64::INFINITY; len],
        state,
        parent: vec![NO_PARENT; len],
        heap: IndexedHeap::new(len),
        ball: ball(&g, setup.k),
        nbr,
        half_origin: std::array::from_fn(|a| g.lo[a] - g.pad as f64 * g.h[a]),
        half_h: std::array::from_fn(|a| 0.5 * g.h[a]),
        bad_point: None,
        singular_point: None,
        domain: &setup.domain,
        quadratic: setup.quadratic,
        n_one: 0,
        n_tri: 0,
        n_tet: 0,
        g,
    };
    let mut accepted = 0usize;
    let mut termination = Termination::Exhausted;
    let mut last_value = 0.0f64;
    let mut hit_edge = false;
    for &(p, v) in &setup.initial {
        s.u[p] = v;
        s.set_state(p, State::Front);
        accepted += 1;
        last_value = last_value.max(v);
        if s.state[p] & BOUNDARY_FLAG != 0 {
            remaining -= 1;
        }
        hit_edge |= s.state[p] & EDGE_FLAG != 0;
    }
    for &(p, _) in &setup.initial {
        s.expand(p);
    }
    for &(p, _) in &setup.initial {
        s.retire_around(p);
    }
    if setup.stop_early && hit_edge {
        termination = Termination::GridEdge;
    } else {
        while let Some((p, v)) = s.heap.pop() {
            s.set_state(p, State::Front);
            accepted += 1;
            last_value = v;
            s.update_considered(p);
            s.expand(p);
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
        tetrahedron_updates: s.n_tet,
    }
}
