//! Update rules of the 3-D ordered line integral method with the midpoint rule (OLIM-MID of
//! Yang, Potter & Cameron, J. Comput. Phys. 379 (2019), after Dahiya & Cameron's 2-D method).
//!
//! The geometric action of the straight segment from x₀ to x, l = x − x₀, is approximated by
//! the midpoint rule (the same quadrature as the 2-D solver, [`crate::olim::update`])
//!
//! Q(x₀, x) = ‖b_m‖_A ‖l‖_A − b_mᵀ A l,  b_m = b(m), A = a(m)⁻¹, m = (x₀ + x)/2,
//!
//! with ‖v‖_A = (vᵀAv)^{1/2}. A **one-point update** proposes U(x₀) + Q(x₀, x). A **simplex
//! update** over M + 1 Accepted Front points x₀, xᵢ = x₀ + eᵢ (i = 1..M; M = 1 is the
//! *triangle* update, M = 2 the *tetrahedron* update) minimises over λ in the open simplex
//! {λᵢ > 0, Σλᵢ < 1}
//!
//! f(λ) = U₀ + Σλᵢ(Uᵢ − U₀) + ‖b_λ‖_{A_λ} ‖l_λ‖_{A_λ} − b_λᵀ A_λ l_λ,  l_λ = x − x₀ − Σλᵢeᵢ,
//!
//! (plus ½(λᵀHλ − Σλᵢ Hᵢᵢ) when the solver passes the λ-Hessian H of a quadratic interpolant of
//! U, [`Simplex::curv`]; without it U is interpolated linearly over the simplex), and b_λ = b₀ + Σλᵢ(bᵢ − b₀),
//! A_λ = A₀ + Σλᵢ(Aᵢ − A₀) interpolated linearly between the midpoints of (xᵢ, x) (an O(h²·|l|)
//! interpolation error that makes a simplex update cost M + 1 drift evaluations however many
//! Newton steps it takes). With B = bᵀAb, L = lᵀAl, C = bᵀAl (polynomials in λ) and
//! p = (BL)^{1/2}: ∂ᵢf = ΔUᵢ + ∂ᵢ(BL)/(2p) − ∂ᵢC and
//! ∂ᵢⱼf = ∂ᵢⱼ(BL)/(2p) − ∂ᵢ(BL)∂ⱼ(BL)/(4p³) − ∂ᵢⱼC. The minimiser is found by Newton's method
//! kept strictly inside the simplex; since every λ of the closed simplex is the action of a real
//! straight path from an interpolated point, the least value visited is always a valid upper
//! bound, and the update returns it only when the iteration ends at an interior point (minima on
//! a face are the lower-order updates).

/// Drift and metric at a midpoint: b and the symmetric A = a⁻¹ as
/// [A₀₀, A₀₁, A₀₂, A₁₁, A₁₂, A₂₂].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Midpoint {
    /// b(m).
    pub b: [f64; 3],
    /// a(m)⁻¹, upper triangle row by row.
    pub a: [f64; 6],
}

/// uᵀAv for symmetric A stored as [A₀₀, A₀₁, A₀₂, A₁₁, A₁₂, A₂₂].
#[inline(always)]
pub fn quad(a: &[f64; 6], u: [f64; 3], v: [f64; 3]) -> f64 {
    a[0] * u[0] * v[0]
        + a[3] * u[1] * v[1]
        + a[5] * u[2] * v[2]
        + a[1] * (u[0] * v[1] + u[1] * v[0])
        + a[2] * (u[0] * v[2] + u[2] * v[0])
        + a[4] * (u[1] * v[2] + u[2] * v[1])
}

/// The midpoint-rule action Q = ‖b‖_A‖l‖_A − bᵀAl of the segment with displacement `l`.
#[inline(always)]
pub fn segment_action(mid: &Midpoint, l: [f64; 3]) -> f64 {
    let bb = quad(&mid.a, mid.b, mid.b);
    let ll = quad(&mid.a, l, l);
    (bb * ll).sqrt() - quad(&mid.a, mid.b, l)
}

/// One-point update U(x₀) + Q(x₀, x) (`l` = x − x₀) if it is below `bound`, else `None`. The
/// test needs no square root: with D = bound − U₀ and c = bᵀAl, Q < D ⟺ D + c > 0 and
/// (bᵀAb)(lᵀAl) < (D + c)².
#[inline(always)]
pub fn one_point_below(u0: f64, mid: &Midpoint, l: [f64; 3], bound: f64) -> Option<f64> {
    let c = quad(&mid.a, mid.b, l);
    let t = bound - u0 + c;
    if t.is_nan() || t <= 0.0 {
        return None;
    }
    let pp = quad(&mid.a, mid.b, mid.b) * quad(&mid.a, l, l);
    if pp >= t * t {
        return None;
    }
    Some(u0 + pp.sqrt() - c)
}

/// Inputs of a simplex update (module docs): x₀'s value and midpoint data, and for each of
/// the other M vertices ΔUᵢ = Uᵢ − U₀, bᵢ − b₀, Aᵢ − A₀ and the edge eᵢ = xᵢ − x₀; `l0` = x − x₀.
#[derive(Clone, Copy, Debug)]
pub struct Simplex<const M: usize> {
    /// U(x₀).
    pub u0: f64,
    /// Midpoint data of (x₀, x).
    pub m0: Midpoint,
    /// Uᵢ − U₀.
    pub du: [f64; M],
    /// bᵢ − b₀.
    pub db: [[f64; 3]; M],
    /// Aᵢ − A₀ (zero for constant noise).
    pub da: [[f64; 6]; M],
    /// xᵢ − x₀.
    pub e: [[f64; 3]; M],
    /// x − x₀.
    pub l0: [f64; 3],
    /// Second derivatives H of U in λ (zero: linear interpolation); U is interpolated as
    /// U₀ + λ·ΔU + ½(λᵀHλ − Σλᵢ Hᵢᵢ), exact at the vertices.
    pub curv: [[f64; M]; M],
}

impl<const M: usize> Simplex<M> {
    /// Build from x₀ (value `u0`, midpoint data `m0`) and the vertices (Uᵢ, midpoint data,
    /// eᵢ); `l0` = x − x₀.
    #[inline(always)]
    pub fn new(
        u0: f64,
        m0: &Midpoint,
        others: [(f64, &Midpoint, [f64; 3]); M],
        l0: [f64; 3],
    ) -> Self {
        let mut s = Simplex {
            u0,
            m0: *m0,
            du: [0.0; M],
            db: [[0.0; 3]; M],
            da: [[0.0; 6]; M],
            e: [[0.0; 3]; M],
            l0,
            curv: [[0.0; M]; M],
        };
        for (i, (ui, mi, ei)) in others.into_iter().enumerate() {
            s.du[i] = ui - u0;
            for c in 0..3 {
                s.db[i][c] = mi.b[c] - m0.b[c];
            }
            for c in 0..6 {
                s.da[i][c] = mi.a[c] - m0.a[c];
            }
            s.e[i] = ei;
        }
        s
    }

    /// f(λ) − U₀, its gradient and Hessian (module docs). `VARIABLE`: whether A varies.
    #[inline(always)]
    pub fn eval<const VARIABLE: bool>(&self, lam: [f64; M]) -> (f64, [f64; M], [[f64; M]; M]) {
        let mut b = self.m0.b;
        let mut l = self.l0;
        let mut a = self.m0.a;
        let mut lin = 0.0;
        let mut hl_lam = [0.0; M];
        for i in 0..M {
            lin += lam[i] * self.du[i];
            for j in 0..M {
                hl_lam[i] += self.curv[i][j] * lam[j];
            }
            lin += 0.5 * (lam[i] * hl_lam[i] - lam[i] * self.curv[i][i]);
            for c in 0..3 {
                b[c] += lam[i] * self.db[i][c];
                l[c] -= lam[i] * self.e[i][c];
            }
            if VARIABLE {
                for c in 0..6 {
                    a[c] += lam[i] * self.da[i][c];
                }
            }
        }
        let bb = quad(&a, b, b);
        let ll = quad(&a, l, l);
        let bl = quad(&a, b, l);
        let mut gb = [0.0; M];
        let mut gl = [0.0; M];
        let mut gc = [0.0; M];
        for i in 0..M {
            let (dbi, ei) = (self.db[i], self.e[i]);
            gb[i] = 2.0 * quad(&a, dbi, b);
            gl[i] = -2.0 * quad(&a, ei, l);
            gc[i] = quad(&a, dbi, l) - quad(&a, b, ei);
            if VARIABLE {
                let dai = &self.da[i];
                gb[i] += quad(dai, b, b);
                gl[i] += quad(dai, l, l);
                gc[i] += quad(dai, b, l);
            }
        }
        let mut hb = [[0.0; M]; M];
        let mut hl = [[0.0; M]; M];
        let mut hc = [[0.0; M]; M];
        for i in 0..M {
            for j in i..M {
                let (dbi, dbj, ei, ej) = (self.db[i], self.db[j], self.e[i], self.e[j]);
                hb[i][j] = 2.0 * quad(&a, dbi, dbj);
                hl[i][j] = 2.0 * quad(&a, ei, ej);
                hc[i][j] = -quad(&a, dbi, ej) - quad(&a, dbj, ei);
                if VARIABLE {
                    let (dai, daj) = (&self.da[i], &self.da[j]);
                    hb[i][j] += 2.0 * (quad(daj, dbi, b) + quad(dai, dbj, b));
                    hl[i][j] -= 2.0 * (quad(daj, ei, l) + quad(dai, ej, l));
                    hc[i][j] +=
                        quad(daj, dbi, l) + quad(dai, dbj, l) - quad(dai, b, ej) - quad(daj, b, ei);
                }
                hb[j][i] = hb[i][j];
                hl[j][i] = hl[i][j];
                hc[j][i] = hc[i][j];
            }
        }
        let pp = bb * ll;
        let p = pp.sqrt();
        let mut g = [0.0; M];
        let mut h = [[0.0; M]; M];
        let mut gp = [0.0; M];
        for i in 0..M {
            gp[i] = gb[i] * ll + bb * gl[i];
        }
        for i in 0..M {
            g[i] = self.du[i] - gc[i] + hl_lam[i] - 0.5 * self.curv[i][i]
                + if p > 0.0 { 0.5 * gp[i] / p } else { 0.0 };
            for j in 0..M {
                let hp = hb[i][j] * ll + gb[i] * gl[j] + gb[j] * gl[i] + bb * hl[i][j];
                let hpp = if p > 0.0 {
                    0.5 * hp / p - 0.25 * gp[i] * gp[j] / (p * pp)
                } else {
                    0.0
                };
                h[i][j] = hpp - hc[i][j] + self.curv[i][j];
            }
        }
        (lin + p - bl, g, h)
    }

    /// min over the open simplex of f (module docs), or `None` when the minimiser is not
    /// interior (or Newton's method fails to settle inside).
    #[inline(always)]
    pub fn minimise<const VARIABLE: bool>(&self) -> Option<f64> {
        self.minimiser::<VARIABLE>().map(|(v, _)| v)
    }

    /// [`Self::minimise`] with the minimiser λ.
    #[inline(always)]
    pub fn minimiser<const VARIABLE: bool>(&self) -> Option<(f64, [f64; M])> {
        // Start at the centroid of the simplex.
        let mut lam = [1.0 / (M as f64 + 1.0); M];
        let mut best = f64::INFINITY;
        let mut settled = false;
        for it in 0..MAX_NEWTON {
            let (f, g, h) = self.eval::<VARIABLE>(lam);
            if !f.is_finite() {
                return None;
            }
            best = best.min(f);
            let step = newton_step(g, h)?;
            // The largest fraction t ≤ 1 of the step that stays in the closed simplex.
            let mut t: f64 = 1.0;
            let (mut sum, mut dsum) = (0.0, 0.0);
            for i in 0..M {
                if step[i] < 0.0 {
                    t = t.min(-lam[i] / step[i]);
                }
                sum += lam[i];
                dsum += step[i];
            }
            if dsum > 0.0 {
                t = t.min((1.0 - sum) / dsum);
            }
            let norm = step.iter().map(|s| s.abs()).fold(0.0, f64::max);
            if t < 1.0 {
                // The minimiser lies on or beyond a face after the first steps: leave it to
                // the lower-order updates.
                if it >= 2 {
                    return None;
                }
                // Stay strictly inside: half way to the face.
                t *= 0.5;
            }
            for i in 0..M {
                lam[i] += t * step[i];
            }
            if t * norm < NEWTON_TOL {
                settled = true;
                break;
            }
        }
        if !settled {
            return None;
        }
        let (f, _, _) = self.eval::<VARIABLE>(lam);
        let interior = lam.iter().all(|&x| x > 0.0) && lam.iter().sum::<f64>() < 1.0;
        (interior && f.is_finite()).then(|| (self.u0 + f.min(best), lam))
    }
}

/// Newton iterations of a simplex update (2–5 are typical).
const MAX_NEWTON: usize = 12;
/// Stop when a Newton step moves λ by less than this (the error in f is then O(step²)).
const NEWTON_TOL: f64 = 1e-7;

/// −H⁻¹g for M = 1 or 2 when H is positive definite.
#[inline(always)]
fn newton_step<const M: usize>(g: [f64; M], h: [[f64; M]; M]) -> Option<[f64; M]> {
    let mut s = [0.0; M];
    match M {
        1 => {
            if !(h[0][0] > 0.0) {
                return None;
            }
            s[0] = -g[0] / h[0][0];
        }
        2 => {
            let det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
            if !(h[0][0] > 0.0 && det > 0.0) {
                return None;
            }
            s[0] = -(h[1][1] * g[0] - h[0][1] * g[1]) / det;
            s[1] = -(h[0][0] * g[1] - h[1][0] * g[0]) / det;
        }
        _ => return None,
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Midpoint data with b ≈ −e_z and x − x₀ = (0.03, 0.03, 0.2): the action is least for the
    /// segment along b, from near (0.03, 0.03, 0), inside the triangle and the edge's reach.
    fn mids() -> [Midpoint; 3] {
        [
            Midpoint {
                b: [0.0, 0.0, -1.0],
                a: [1.0, 0.05, 0.02, 1.1, -0.03, 0.95],
            },
            Midpoint {
                b: [0.01, -0.01, -0.98],
                a: [1.02, 0.04, 0.02, 1.08, -0.02, 0.96],
            },
            Midpoint {
                b: [-0.01, 0.01, -1.02],
                a: [0.99, 0.05, 0.03, 1.11, -0.04, 0.94],
            },
        ]
    }

    /// Gradient and Hessian agree with central differences of f and of the gradient, with and
    /// without a varying metric.
    #[test]
    fn derivatives_match_finite_differences() {
        let m = mids();
        let e = [[0.1, 0.0, 0.0], [0.0, 0.1, 0.1]];
        let mut s = Simplex::<2>::new(
            0.4,
            &m[0],
            [(0.43, &m[1], e[0]), (0.41, &m[2], e[1])],
            [0.3, 0.5, 0.2],
        );
        s.curv = [[0.02, 0.005], [0.005, 0.03]];
        let lam = [0.3, 0.25];
        let step = 1e-6;
        for variable in [false, true] {
            let ev = |l: [f64; 2]| {
                if variable {
                    s.eval::<true>(l)
                } else {
                    s.eval::<false>(l)
                }
            };
            let (_, g, h) = ev(lam);
            for i in 0..2 {
                let mut lp = lam;
                let mut lm = lam;
                lp[i] += step;
                lm[i] -= step;
                let (fp, gp, _) = ev(lp);
                let (fm, gm, _) = ev(lm);
                assert!((g[i] - (fp - fm) / (2.0 * step)).abs() < 1e-7, "g{i}");
                for j in 0..2 {
                    let fd = (gp[j] - gm[j]) / (2.0 * step);
                    assert!((h[j][i] - fd).abs() < 1e-6, "h{j}{i}: {} vs {fd}", h[j][i]);
                }
            }
        }
    }

    /// Triangle and tetrahedron minima agree with a dense scan of the simplex, are below the
    /// vertices' one-point updates, and a minimiser outside the simplex gives `None`.
    #[test]
    fn minima_match_a_dense_scan() {
        let m = mids();
        let l0 = [0.03, 0.03, 0.2];
        let e = [[0.1, 0.0, 0.0], [0.0, 0.1, 0.0]];
        let (u1, u2) = (0.4005, 0.401);
        let tet = Simplex::<2>::new(0.4, &m[0], [(u1, &m[1], e[0]), (u2, &m[2], e[1])], l0);
        let tri = Simplex::<1>::new(0.4, &m[0], [(u1, &m[1], e[0])], l0);
        let mut interior = 0;
        for variable in [false, true] {
            let (got3, got2) = if variable {
                (tet.minimise::<true>(), tri.minimise::<true>())
            } else {
                (tet.minimise::<false>(), tri.minimise::<false>())
            };
            let mut best3 = f64::INFINITY;
            let mut best2 = f64::INFINITY;
            let k = 600;
            for i in 0..=k {
                for j in 0..=(k - i) {
                    let l = [i as f64 / k as f64, j as f64 / k as f64];
                    let f = if variable {
                        tet.eval::<true>(l).0
                    } else {
                        tet.eval::<false>(l).0
                    };
                    best3 = best3.min(0.4 + f);
                }
                let f = if variable {
                    tri.eval::<true>([i as f64 / k as f64]).0
                } else {
                    tri.eval::<false>([i as f64 / k as f64]).0
                };
                best2 = best2.min(0.4 + f);
            }
            for (got, best) in [(got3, best3), (got2, best2)] {
                if let Some(v) = got {
                    interior += 1;
                    // The scan's spacing 1/600 bounds its own excess by ~|∇f|·1/600 ~ 1e-5.
                    assert!(v <= best + 1e-12, "{v} vs scan {best}");
                    assert!(v > best - 2e-5, "{v} vs scan {best}");
                } else {
                    panic!("expected an interior minimum (scan {best})");
                }
            }
            let one = 0.4 + segment_action(&m[0], l0);
            assert!(got3.unwrap() <= one && got2.unwrap() <= one);
        }
        assert_eq!(interior, 4);
        // A huge U₁ pushes the triangle minimiser to λ = 0: not interior.
        let far = Simplex::<1>::new(0.4, &m[0], [(5.0, &m[1], e[0])], l0);
        assert!(far.minimise::<false>().is_none());
    }

    /// Along b the action vanishes; against it, it is 2‖b‖‖l‖ (A = I).
    #[test]
    fn segment_action_limits() {
        let m = Midpoint {
            b: [0.48, 0.64, 0.6],
            a: [1.0, 0.0, 0.0, 1.0, 0.0, 1.0],
        };
        let l = [0.24, 0.32, 0.3];
        assert!(segment_action(&m, l).abs() < 1e-15);
        let back = [-l[0], -l[1], -l[2]];
        assert!((segment_action(&m, back) - 2.0 * 1.0 * 0.5).abs() < 1e-12);
        assert_eq!(one_point_below(0.0, &m, back, 0.5), None);
        assert!((one_point_below(0.0, &m, back, 2.0).unwrap() - 1.0).abs() < 1e-12);
    }
}
