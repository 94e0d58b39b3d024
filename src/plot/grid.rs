//! Helpers for figures of fields on a grid: the colour map and level curves.

use plotters::style::RGBColor;

/// Viridis, by linear interpolation between 6 anchors.
pub fn viridis(t: f64) -> RGBColor {
    const C: [(f64, f64, f64); 6] = [
        (68.0, 1.0, 84.0),
        (65.0, 68.0, 135.0),
        (42.0, 120.0, 142.0),
        (34.0, 168.0, 132.0),
        (122.0, 209.0, 81.0),
        (253.0, 231.0, 37.0),
    ];
    let s = t.clamp(0.0, 1.0) * 5.0;
    let k = (s.floor() as usize).min(4);
    let f = s - k as f64;
    let mix = |a: f64, b: f64| (a + f * (b - a)).round() as u8;
    RGBColor(
        mix(C[k].0, C[k + 1].0),
        mix(C[k].1, C[k + 1].1),
        mix(C[k].2, C[k + 1].2),
    )
}

/// Marching squares: segments of {f = c} on the node grid xs × ys, f row-major by y (cells
/// with a non-finite corner are skipped).
pub fn contour(xs: &[f64], ys: &[f64], f: &[f64], c: f64) -> Vec<[(f64, f64); 2]> {
    let m = xs.len();
    let mut segs = Vec::new();
    for j in 0..ys.len().saturating_sub(1) {
        for i in 0..m.saturating_sub(1) {
            let corners = [
                (xs[i], ys[j], f[j * m + i]),
                (xs[i + 1], ys[j], f[j * m + i + 1]),
                (xs[i + 1], ys[j + 1], f[(j + 1) * m + i + 1]),
                (xs[i], ys[j + 1], f[(j + 1) * m + i]),
            ];
            if corners.iter().any(|k| !k.2.is_finite()) {
                continue;
            }
            let mut pts = Vec::with_capacity(4);
            for e in 0..4 {
                let (a, b) = (corners[e], corners[(e + 1) % 4]);
                if (a.2 < c) != (b.2 < c) {
                    let t = (c - a.2) / (b.2 - a.2);
                    pts.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
                }
            }
            if pts.len() == 2 {
                segs.push([pts[0], pts[1]]);
            } else if pts.len() == 4 {
                segs.push([pts[0], pts[1]]);
                segs.push([pts[2], pts[3]]);
            }
        }
    }
    segs
}
