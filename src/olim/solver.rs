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

use super::grid::{Grid, RowBits, State, BOUNDARY_FLAG, STATE_MASK};
use super::heap::IndexedHeap;
use super::update::{one_point, triangle, Midpoint};
use crate::problem::{Diffusion, NoiseWorkspace, VectorField};

/// Why the solve stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Termination {
    /// Every grid point at an end of a grid edge crossing ∂D was accepted: V₀ is known.
    BoundaryAccepted,
    /// The front reached the edge of the grid (values beyond would need paths leaving the grid).
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
    /// Stop at the grid edge / when ∂D is accepted (false: accept everything).
    pub stop_early: bool,
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
    nbr: [isize; 8],
    buf: Vec<u32>,
    bad_point: Option<[f64; 2]>,
    n_one: u64,
    n_tri: u64,
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

    /// Drift and metric at the midpoint of padded points p and q.
    #[inline(always)]
    fn midpoint(&mut self, p: usize, q: usize) -> Midpoint {
        let (xp, xq) = (self.g.coords(p), self.g.coords(q));
        let m = [0.5 * (xp[0] + xq[0]), 0.5 * (xp[1] + xq[1])];
        let mut b = [0.0; 2];
        self.drift.drift(&m, &mut b);
        let a = if self.noise.is_constant() {
            self.constant_a
        } else {
            let mut full = [0.0; 4];
            if !self.noise.metric(&m, &mut self.ws, &mut full) {
                self.bad_point.get_or_insert(m);
                // An infinite metric makes every update through here infinite.
                return Midpoint {
                    b,
                    a: [f64::INFINITY, 0.0, f64::INFINITY],
                };
            }
            [full[0], 0.5 * (full[1] + full[2]), full[3]]
        };
        Midpoint { b, a }
    }

    /// Displacement q − p in coordinates.
    #[inline(always)]
    fn disp(&self, p: usize, q: usize) -> [f64; 2] {
        let w = self.g.width as isize;
        let (dp, dq) = (p as isize, q as isize);
        let (ri, rj) = ((dq % w) - (dp % w), (dq / w) - (dp / w));
        [ri as f64 * self.g.h[0], rj as f64 * self.g.h[1]]
    }

    #[inline(always)]
    fn tri(&mut self, x0: usize, m0: &Midpoint, x1: usize, x: usize) -> Option<f64> {
        let m1 = self.midpoint(x1, x);
        self.n_tri += 1;
        let l0 = self.disp(x0, x);
        let e = self.disp(x0, x1);
        if self.noise.is_constant() {
            triangle::<false>(self.u[x0], self.u[x1], m0, &m1, l0, e)
        } else {
            triangle::<true>(self.u[x0], self.u[x1], m0, &m1, l0, e)
        }
    }

    /// Triangle updates of x around source x0 with every Accepted Front 8-neighbour of x0;
    /// returns the smallest value found (or +∞).
    #[inline]
    fn triangles_around(&mut self, x0: usize, m0: &Midpoint, x: usize) -> f64 {
        let mut best = f64::INFINITY;
        for k in 0..8 {
            let x1 = (x0 as isize + self.nbr[k]) as usize;
            if self.st(x1) != State::Front as u8 {
                continue;
            }
            if let Some(v) = self.tri(x0, m0, x1, x) {
                best = best.min(v);
            }
        }
        best
    }

    /// Collect the points of `bits` within the K-disk around p into self.buf.
    #[inline]
    fn collect_disk(&mut self, front: bool, p: usize) {
        let w = self.g.width;
        let (c, r) = (p % w, p / w);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let bits = if front { &self.front } else { &self.considered };
        for &(dr, half) in &self.disk {
            let row = (r as isize + dr) as usize;
            bits.for_each_in_row(row, c - half, c + half, |q| buf.push(q as u32));
        }
        self.buf = buf;
    }

    /// Value of a newly Considered point x from all Accepted Front points within K·h.
    fn fresh_value(&mut self, x: usize) {
        self.collect_disk(true, x);
        let buf = std::mem::take(&mut self.buf);
        let mut best = f64::INFINITY;
        let mut src = usize::MAX;
        let mut msrc = Midpoint::default();
        for &q in &buf {
            let q = q as usize;
            let m = self.midpoint(q, x);
            let v = one_point(self.u[q], &m, self.disp(q, x));
            if v < best {
                best = v;
                src = q;
                msrc = m;
            }
        }
        self.n_one += buf.len() as u64;
        self.buf = buf;
        if src != usize::MAX {
            let t = self.triangles_around(src, &msrc, x);
            best = best.min(t);
            self.parent[x] = src as u32;
        }
        self.u[x] = best;
        self.set_state(x, State::Considered);
        self.considered.set(x);
        self.heap.push_or_decrease(x, best);
    }

    /// Updates of every Considered point within K·h of the newly accepted x_new.
    fn update_considered(&mut self, xn: usize) {
        self.collect_disk(false, xn);
        let buf = std::mem::take(&mut self.buf);
        let un = self.u[xn];
        for &x in &buf {
            let x = x as usize;
            let old = self.u[x];
            let m = self.midpoint(xn, x);
            let q1 = one_point(un, &m, self.disp(xn, x));
            let mut v = old;
            if q1 < old {
                v = q1;
                self.parent[x] = xn as u32;
                v = v.min(self.triangles_around(xn, &m, x));
            } else {
                let x0 = self.parent[x] as usize;
                if self.st(x0) == State::Front as u8 && self.is_neighbour(x0, xn) {
                    let m0 = self.midpoint(x0, x);
                    if let Some(t) = self.tri(x0, &m0, xn, x) {
                        v = v.min(t);
                    }
                }
            }
            if v < old {
                self.u[x] = v;
                self.heap.push_or_decrease(x, v);
            }
        }
        self.n_one += buf.len() as u64;
        self.buf = buf;
    }

    #[inline(always)]
    fn is_neighbour(&self, p: usize, q: usize) -> bool {
        let w = self.g.width as isize;
        let d = q as isize - p as isize;
        d != 0 && (d.abs() <= 1 || (d - w).abs() <= 1 || (d + w).abs() <= 1)
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

    /// Make the Unknown neighbours of p Considered.
    fn expand(&mut self, p: usize) {
        for k in 0..8 {
            let q = (p as isize + self.nbr[k]) as usize;
            if self.st(q) == State::Unknown as u8 {
                self.fresh_value(q);
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
pub(crate) fn solve<B: VectorField, N: Diffusion>(drift: &B, noise: &N, setup: Setup) -> Solution {
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
    let disk: Vec<(isize, usize)> = (-k..=k)
        .map(|dr| (dr, ((k * k - dr * dr) as f64).sqrt().floor() as usize))
        .collect();
    let w = g.width as isize;
    let nbr_ij = [
        (-1, -1),
        (0, -1),
        (1, -1),
        (-1, 0),
        (1, 0),
        (-1, 1),
        (0, 1),
        (1, 1),
    ];
    let nbr = nbr_ij.map(|(i, j)| j * w + i);
    let mut full = [0.0; 4];
    let mut ws = noise.workspace();
    let constant_a = if noise.is_constant() {
        noise.metric(&g.lo, &mut ws, &mut full);
        [full[0], 0.5 * (full[1] + full[2]), full[3]]
    } else {
        [0.0; 3]
    };
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
        buf: Vec::with_capacity(4 * (2 * setup.k + 1) * (2 * setup.k + 1)),
        bad_point: None,
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
        hit_edge |= s.g.on_edge(p);
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
            if !v.is_finite() {
                break;
            }
            s.accept(p);
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
            if setup.stop_early && s.g.on_edge(p) {
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
        one_point_updates: s.n_one,
        triangle_updates: s.n_tri,
    }
}
