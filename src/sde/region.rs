//! The exit test compiled from a [`Domain`] for the Monte Carlo and AMS kernels: closed forms on
//! fixed-size arrays for quadrics, balls, half-spaces and boxes (so the hot loop unrolls and
//! never matches on the general domain), the general domain otherwise.

// `!(a < b)` is deliberate: NaN counts as "outside". Index loops mirror the formulas.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]

use super::kernel::Dim;
use crate::linalg::Matrix;
use crate::problem::{Domain, Loss};

/// A compiled domain. [`Region::level_fast`] has the sign of [`Domain::level`] everywhere and
/// equals it (up to rounding) except for balls ([`Region::level_is_domain_level`]);
/// [`Region::distance_and_normal`] is [`Domain::signed_distance`] and [`Domain::normal`].
#[derive(Clone, Debug)]
pub enum Region<'a, X: Dim> {
    /// g = (x−c)ᵀQ(x−c) − k (level sets of quadratic losses, ellipsoids).
    Quadric {
        /// c.
        c: X::V,
        /// Q.
        q: X::M,
        /// k.
        k: f64,
    },
    /// g = |x − c| − r (level: |x − c|² − r²).
    Ball {
        /// c.
        c: X::V,
        /// r.
        r: f64,
    },
    /// g = n·x − c with a unit normal n (also the signed distance).
    HalfSpace {
        /// n.
        n: X::V,
        /// c.
        c: f64,
    },
    /// g = maxᵢ max(loᵢ − xᵢ, xᵢ − hiᵢ) (inside D also the signed distance).
    Box {
        /// lo.
        lo: X::V,
        /// hi.
        hi: X::V,
        /// The domain, for the distance outside.
        domain: &'a Domain,
    },
    /// Anything else: the problem's domain.
    General(&'a Domain),
}

impl<'a, X: Dim> Region<'a, X> {
    /// Compile `domain`.
    pub fn new(domain: &'a Domain, dim: X) -> Self {
        let d = dim.d();
        let fill_v = |src: &[f64]| {
            let mut v = dim.vec();
            v.as_mut().copy_from_slice(src);
            v
        };
        let fill_m = |src: &[f64], scale: f64| {
            let mut m = dim.mat();
            for (o, s) in X::m_mut(&mut m).iter_mut().zip(src) {
                *o = scale * s;
            }
            m
        };
        match domain {
            Domain::LevelSet {
                loss: Loss::Quadratic { hessian, center },
                base,
                depth,
            } if hessian.n == d => Region::Quadric {
                c: fill_v(center),
                q: fill_m(&hessian.data, 0.5),
                k: base + depth,
            },
            Domain::Ellipsoid { center, q } if q.n == d => Region::Quadric {
                c: fill_v(center),
                q: fill_m(&q.data, 1.0),
                k: 1.0,
            },
            Domain::Ball { center, radius } if center.len() == d => Region::Ball {
                c: fill_v(center),
                r: *radius,
            },
            Domain::HalfSpace { normal, offset } if normal.len() == d => Region::HalfSpace {
                n: fill_v(normal),
                c: *offset,
            },
            Domain::Box { lo, hi } if lo.len() == d && hi.len() == d => Region::Box {
                lo: fill_v(lo),
                hi: fill_v(hi),
                domain,
            },
            other => Region::General(other),
        }
    }

    /// Whether [`Self::level_fast`] is [`Domain::level`] itself (all but balls).
    pub fn level_is_domain_level(&self) -> bool {
        !matches!(self, Region::Ball { .. })
    }

    /// True when x ∉ D or x is not finite (g(x) ≥ 0 or NaN).
    #[inline(always)]
    pub(crate) fn outside(&self, x: &[f64], d: usize, tmp: &mut [f64]) -> bool {
        !(self.level_fast(x, d, tmp) < 0.0)
    }

    /// A level function with the sign of g: uᵀQu − k for quadrics, |x − c|² − r² for balls,
    /// [`Domain::level`] otherwise. `tmp` (length d) is scratch for d > 4.
    #[inline(always)]
    pub(crate) fn level_fast(&self, x: &[f64], d: usize, tmp: &mut [f64]) -> f64 {
        match self {
            Region::Quadric { c, q, k } => {
                let (c, q) = (c.as_ref(), X::m(q));
                let mut u = [0.0f64; 4];
                let s = if d <= 4 {
                    for i in 0..d {
                        u[i] = x[i] - c[i];
                    }
                    let mut s = 0.0;
                    for i in 0..d {
                        let mut r = q[i * d] * u[0];
                        for j in 1..d {
                            r += q[i * d + j] * u[j];
                        }
                        s += u[i] * r;
                    }
                    s
                } else {
                    let u = &mut tmp[..d];
                    for i in 0..d {
                        u[i] = x[i] - c[i];
                    }
                    crate::linalg::quad_form(q, d, u, u)
                };
                s - k
            }
            Region::Ball { c, r } => {
                let c = c.as_ref();
                let mut s = 0.0;
                for i in 0..d {
                    s += (x[i] - c[i]) * (x[i] - c[i]);
                }
                s - r * r
            }
            Region::HalfSpace { n, c } => {
                let n = n.as_ref();
                let mut s = n[0] * x[0];
                for i in 1..d {
                    s += n[i] * x[i];
                }
                s - c
            }
            Region::Box { lo, hi, .. } => {
                let (lo, hi) = (lo.as_ref(), hi.as_ref());
                let mut g = f64::NEG_INFINITY;
                for i in 0..d {
                    g = g.max(lo[i] - x[i]).max(x[i] - hi[i]);
                }
                // max() drops NaN: a non-finite point counts as outside.
                if x[..d].iter().all(|v| v.is_finite()) {
                    g
                } else {
                    f64::NAN
                }
            }
            Region::General(dom) => dom.level(x),
        }
    }

    /// A value of [`Self::level_fast`] below which x is certainly farther than `shift` inside
    /// ∂D (so the boundary-corrected test cannot fire): for a quadric, |∇g| ≤ 2λ_max(Q)√(k/λ_min(Q))
    /// inside D, so g < −shift·that bound implies g/|∇g| < −shift; for a ball, |x − c| < r − shift;
    /// for half-spaces and boxes the level is the signed distance inside D. −∞ when no bound is
    /// known.
    pub(crate) fn skip_level(&self, shift: f64, d: usize) -> f64 {
        match self {
            Region::Quadric { q, k, .. } => {
                let m = Matrix {
                    n: d,
                    data: X::m(q).to_vec(),
                };
                match crate::linalg::symmetric_eigen(&m, "domain") {
                    Ok((vals, _)) => {
                        let lo = vals.iter().cloned().fold(f64::INFINITY, f64::min);
                        let hi = vals.iter().cloned().fold(0.0, f64::max);
                        if lo > 0.0 && *k > 0.0 {
                            -shift * 2.0 * hi * (k / lo).sqrt() * (1.0 + 1e-9)
                        } else {
                            f64::NEG_INFINITY
                        }
                    }
                    Err(_) => f64::NEG_INFINITY,
                }
            }
            Region::Ball { r, .. } if shift < *r => {
                let inner = (r - shift) * (1.0 - 1e-12);
                inner * inner - r * r
            }
            Region::HalfSpace { .. } | Region::Box { .. } => -shift * (1.0 + 1e-9),
            _ => f64::NEG_INFINITY,
        }
    }

    /// Signed distance to ∂D (as [`Domain::signed_distance`]) and the outward unit normal.
    /// `tmp` (length d) is scratch.
    #[inline(always)]
    pub(crate) fn distance_and_normal(
        &self,
        x: &[f64],
        d: usize,
        n: &mut [f64],
        tmp: &mut [f64],
    ) -> f64 {
        match self {
            Region::Quadric { c, q, k } => {
                let (c, q) = (c.as_ref(), X::m(q));
                let u = &mut tmp[..d];
                for i in 0..d {
                    u[i] = x[i] - c[i];
                }
                let mut s = 0.0;
                let mut gg = 0.0;
                for i in 0..d {
                    let r = crate::linalg::dot(&q[i * d..(i + 1) * d], u);
                    s += u[i] * r;
                    n[i] = 2.0 * r;
                    gg += 4.0 * r * r;
                }
                let gn = gg.sqrt().max(1e-300);
                for v in n.iter_mut().take(d) {
                    *v /= gn;
                }
                (s - k) / gn
            }
            Region::Ball { c, r } => {
                let c = c.as_ref();
                let mut s = 0.0;
                for i in 0..d {
                    n[i] = x[i] - c[i];
                    s += n[i] * n[i];
                }
                let rr = s.sqrt();
                let inv = 1.0 / rr.max(1e-300);
                for v in n.iter_mut().take(d) {
                    *v *= inv;
                }
                rr - r
            }
            Region::HalfSpace { n: nn, .. } => {
                n[..d].copy_from_slice(nn.as_ref());
                self.level_fast(x, d, tmp)
            }
            Region::Box { domain, .. } | Region::General(domain) => {
                let g = domain.signed_distance(x, n);
                domain.normal(x, n);
                g
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sde::kernel::{Dynamic, Fixed};
    use crate::sde::rng::{stream, ZigguratNormal};

    /// One 2-D domain of every kind, none centred on the origin (shared by the tests of
    /// everything that specialises on the domain).
    pub(crate) fn every_domain_kind_2d() -> Vec<Domain> {
        let m = |data: Vec<f64>| Matrix { n: 2, data };
        vec![
            Domain::LevelSet {
                loss: Loss::Quadratic {
                    hessian: m(vec![2.0, 0.3, 0.3, 1.0]),
                    center: vec![0.1, -0.2],
                },
                base: 0.0,
                depth: 0.7,
            },
            Domain::Ellipsoid {
                center: vec![0.2, 0.0],
                q: m(vec![1.0, 0.2, 0.2, 0.5]),
            },
            Domain::Ball {
                center: vec![0.0, 0.3],
                radius: 1.2,
            },
            Domain::HalfSpace {
                normal: vec![0.6, 0.8],
                offset: 0.4,
            },
            Domain::Box {
                lo: vec![-1.0, -0.5],
                hi: vec![0.8, 1.5],
            },
        ]
    }

    /// Every compiled form has the sign of the domain's level function (equals it where it says
    /// so), and its distance and normal are the domain's, at fixed and run-time dimension.
    #[test]
    fn compiled_regions_agree_with_their_domains() {
        let zig = ZigguratNormal::get();
        for dom in every_domain_kind_2d() {
            let fixed = Region::new(&dom, Fixed::<2>);
            let dynamic = Region::new(&dom, Dynamic(2));
            assert!(!matches!(fixed, Region::General(_)), "{}", dom.kind());
            let mut rng = stream(5, 6);
            for _ in 0..400 {
                let mut x = vec![0.0; 2];
                zig.fill(&mut rng, &mut x);
                x.iter_mut().for_each(|v| *v *= 1.5);
                let g = dom.level(&x);
                for (lf, same) in [
                    (
                        fixed.level_fast(&x, 2, &mut [0.0; 2]),
                        fixed.level_is_domain_level(),
                    ),
                    (
                        dynamic.level_fast(&x, 2, &mut [0.0; 2]),
                        dynamic.level_is_domain_level(),
                    ),
                ] {
                    if g.abs() > 1e-12 {
                        assert_eq!(lf < 0.0, g < 0.0, "{}: {x:?}", dom.kind());
                    }
                    if same {
                        assert!((lf - g).abs() < 1e-13 * (1.0 + g.abs()), "{}", dom.kind());
                    }
                }
                let (mut n1, mut n2) = ([0.0; 2], [0.0; 2]);
                let sd = dom.signed_distance(&x, &mut n1);
                dom.normal(&x, &mut n1);
                let sd2 = fixed.distance_and_normal(&x, 2, &mut n2, &mut [0.0; 2]);
                assert!(
                    (sd - sd2).abs() < 1e-12 * (1.0 + sd.abs()),
                    "{}",
                    dom.kind()
                );
                for i in 0..2 {
                    assert!((n1[i] - n2[i]).abs() < 1e-12, "{}", dom.kind());
                }
            }
            assert!(fixed.outside(&[f64::NAN, 0.0], 2, &mut [0.0; 2]));
        }
    }

    /// Below the skip level the point is more than `shift` inside ∂D.
    #[test]
    fn skip_levels_are_safe() {
        let zig = ZigguratNormal::get();
        for dom in every_domain_kind_2d() {
            let r = Region::new(&dom, Fixed::<2>);
            let shift = 0.05;
            let skip = r.skip_level(shift, 2);
            let mut rng = stream(7, 8);
            for _ in 0..2000 {
                let mut x = [0.0; 2];
                zig.fill(&mut rng, &mut x);
                if r.level_fast(&x, 2, &mut [0.0; 2]) < skip {
                    let sd = dom.signed_distance(&x, &mut [0.0; 2]);
                    assert!(sd < -shift, "{}: {x:?} at distance {sd}", dom.kind());
                }
            }
        }
    }
}
