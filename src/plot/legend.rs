//! Where a legend goes: the place inside the plot area that covers the least of the data.
//!
//! Plotters puts a legend where it is told, over whatever is drawn there. A referee reads a
//! legend that hides the last point of a sweep as a figure that hides data, so every figure
//! with a legend asks [`clear_position`] with the points it draws (markers, error-bar ends,
//! samples along its lines).

use plotters::chart::SeriesLabelPosition;

/// Candidate places, in order of preference when several are equally clear.
const CANDIDATES: [SeriesLabelPosition; 8] = [
    SeriesLabelPosition::UpperRight,
    SeriesLabelPosition::UpperLeft,
    SeriesLabelPosition::LowerRight,
    SeriesLabelPosition::LowerLeft,
    SeriesLabelPosition::MiddleRight,
    SeriesLabelPosition::MiddleLeft,
    SeriesLabelPosition::UpperMiddle,
    SeriesLabelPosition::LowerMiddle,
];

/// The box of a legend at `pos`, in plot-area fractions (x right, y up): [x0, x1] × [y0, y1].
fn legend_box(pos: &SeriesLabelPosition, width: f64, height: f64) -> [f64; 4] {
    let (x0, y0) = match pos {
        SeriesLabelPosition::UpperRight => (1.0 - width, 1.0 - height),
        SeriesLabelPosition::UpperLeft => (0.0, 1.0 - height),
        SeriesLabelPosition::LowerRight => (1.0 - width, 0.0),
        SeriesLabelPosition::LowerLeft => (0.0, 0.0),
        SeriesLabelPosition::MiddleRight => (1.0 - width, 0.5 - height / 2.0),
        SeriesLabelPosition::MiddleLeft => (0.0, 0.5 - height / 2.0),
        SeriesLabelPosition::UpperMiddle => (0.5 - width / 2.0, 1.0 - height),
        _ => (0.5 - width / 2.0, 0.0),
    };
    [x0, x0 + width, y0, y0 + height]
}

/// The place for a legend of `entries` lines, `width` wide (fraction of the plot area's width),
/// that covers the fewest of `points`, given as fractions of the plot area (0 = left/bottom,
/// 1 = right/top). Ties go to the earlier of upper right, upper left, lower right, lower left,
/// then the middles.
pub fn clear_position(
    points: impl IntoIterator<Item = (f64, f64)>,
    entries: usize,
    width: f64,
) -> SeriesLabelPosition {
    let height = (0.06 * entries as f64 + 0.04).min(0.9);
    let pts: Vec<(f64, f64)> = points
        .into_iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let covered = |pos: &SeriesLabelPosition| {
        // A margin around the box: a point just outside its border still touches it.
        let [x0, x1, y0, y1] = legend_box(pos, width + 0.04, height + 0.04);
        pts.iter()
            .filter(|&&(x, y)| x >= x0 && x <= x1 && y >= y0 && y <= y1)
            .count()
    };
    let mut best = (usize::MAX, 0);
    for (i, pos) in CANDIDATES.iter().enumerate() {
        let c = covered(pos);
        if c < best.0 {
            best = (c, i);
        }
    }
    CANDIDATES[best.1].clone()
}

/// `v` as a fraction of the axis range [lo, hi] (linear).
pub fn fraction(v: f64, lo: f64, hi: f64) -> f64 {
    (v - lo) / (hi - lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(p: SeriesLabelPosition) -> &'static str {
        match p {
            SeriesLabelPosition::UpperRight => "upper right",
            SeriesLabelPosition::UpperLeft => "upper left",
            SeriesLabelPosition::LowerRight => "lower right",
            SeriesLabelPosition::LowerLeft => "lower left",
            SeriesLabelPosition::MiddleRight => "middle right",
            _ => "other",
        }
    }

    /// A rising line fills the lower left and upper right: the legend goes to the upper left.
    /// An empty plot keeps the upper right; a plot full everywhere but the lower right gets it.
    #[test]
    fn legend_avoids_the_data() {
        let rising = (0..=20).map(|i| (i as f64 / 20.0, i as f64 / 20.0));
        assert_eq!(name(clear_position(rising, 4, 0.4)), "upper left");
        assert_eq!(name(clear_position([], 4, 0.4)), "upper right");
        let mut grid = Vec::new();
        for i in 0..=10 {
            for j in 0..=10 {
                let (x, y) = (i as f64 / 10.0, j as f64 / 10.0);
                if !(x > 0.5 && y < 0.4) {
                    grid.push((x, y));
                }
            }
        }
        assert_eq!(name(clear_position(grid, 4, 0.4)), "lower right");
    }
}
