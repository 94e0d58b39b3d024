//! Figures, written as PNG and SVG with a bundled font (no system font library needed).
//!
//! Each figure implements [`Figure`] once, generically over the plotters backend, and
//! [`save_figure`] renders it to `STEM.png` and `STEM.svg`.

use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// The font family name registered for every figure.
pub const FONT: &str = "sans-serif";

static FONT_ONCE: Once = Once::new();

/// Register the bundled DejaVu Sans font (idempotent).
pub fn register_font() {
    FONT_ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        // The bundled font is known-good; failure here would be a packaging bug.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, bytes);
    });
}

/// A figure that can draw itself on any plotters backend.
pub trait Figure {
    /// Draw onto `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static;
}

/// Convert a plotters error into ours.
pub fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::numerical("plot", e.to_string())
}

/// Render `fig` to `STEM.png` and `STEM.svg` at `size` pixels; returns the paths written.
pub fn save_figure(fig: &impl Figure, stem: &Path, size: (u32, u32)) -> Result<Vec<PathBuf>> {
    register_font();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    // Each image is drawn into a temporary file and renamed into place (crate::io_atomic), so
    // a run killed while plotting leaves the previous figure, not a truncated one.
    crate::io_atomic::write_with(&png, |tmp| {
        let root = BitMapBackend::new(tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        fig.draw(&root)?;
        root.present().map_err(plot_err)
    })?;
    crate::io_atomic::write_with(&svg, |tmp| {
        let root = SVGBackend::new(tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        fig.draw(&root)?;
        root.present().map_err(plot_err)
    })?;
    Ok(vec![png, svg])
}
pub mod grid;
pub mod ladder;
pub mod legend;
pub mod lemma4;
pub mod rates;
pub mod scaling;
