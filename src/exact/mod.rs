//! Exact engine (placeholder while being written).
