//! Memory estimates, checked against the memory this process may use before every allocation
//! that grows with a user's flag (grid sizes, run counts, matrix dimensions).
//!
//! Rust aborts the process when an allocation fails ("memory allocation failed", SIGABRT,
//! exit 134), and on Linux an overcommitted allocation can instead be killed later by the OOM
//! killer; neither says which flag to change. Each engine therefore estimates its peak bytes
//! from the flags and calls [`check_memory`], which refuses with the estimate, the memory
//! available and the largest value of the flag that fits.

use crate::error::{Error, Result};

/// Bytes in a GiB.
const GIB: f64 = (1u64 << 30) as f64;

/// The memory a solve may plan to use: 80 % of the smaller of `MemAvailable` (`/proc/meminfo`)
/// and the headroom of the cgroup's limit (containers report the host's `MemAvailable`), or
/// 8 GiB where neither is readable (non-Linux systems).
///
/// The 20 % margin covers what the estimates leave out (allocator slack, the page cache a
/// long run needs for its output files).
pub fn available_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|k| k.parse::<u64>().ok())
            .map(|kb| kb.saturating_mul(1024))
    });
    let limit = [cgroup_v2_headroom(), cgroup_v1_headroom()]
        .into_iter()
        .flatten()
        .min();
    match (meminfo, limit) {
        (None, None) => 8 << 30,
        (a, b) => a.unwrap_or(u64::MAX).min(b.unwrap_or(u64::MAX)) / 10 * 8,
    }
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `memory.max − memory.current` of the unified hierarchy (None when unlimited: "max").
fn cgroup_v2_headroom() -> Option<u64> {
    let max = read_u64("/sys/fs/cgroup/memory.max")?;
    let cur = read_u64("/sys/fs/cgroup/memory.current").unwrap_or(0);
    Some(max.saturating_sub(cur))
}

/// `limit_in_bytes − usage_in_bytes` of cgroup v1 (an unlimited v1 group reports ~2⁶³).
fn cgroup_v1_headroom() -> Option<u64> {
    let max = read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes")?;
    if max >= 1 << 60 {
        return None;
    }
    let cur = read_u64("/sys/fs/cgroup/memory/memory.usage_in_bytes").unwrap_or(0);
    Some(max.saturating_sub(cur))
}

/// Bytes for people: "1.2 TiB", "38.4 GiB", "512.0 MiB", "12.0 KiB".
pub fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1024.0 * GIB {
        format!("{:.1} TiB", b / (1024.0 * GIB))
    } else if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else if b >= (1 << 20) as f64 {
        format!("{:.1} MiB", b / (1 << 20) as f64)
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

/// The largest x in [lo, hi] with `need(x) ≤ cap`, for `need` non-decreasing; None when even
/// `need(lo)` exceeds `cap`. Used to say which value of a flag would fit.
pub fn largest_fitting(lo: u64, hi: u64, cap: u64, need: impl Fn(u64) -> u64) -> Option<u64> {
    if lo > hi || need(lo) > cap {
        return None;
    }
    let (mut a, mut b) = (lo, hi);
    while a < b {
        let m = a + (b - a).div_ceil(2);
        if need(m) <= cap {
            a = m;
        } else {
            b = m - 1;
        }
    }
    Some(a)
}

/// What [`check_memory`] needs to know about one allocation.
pub struct Estimate<'a> {
    /// The flag whose value sets the size (`--grid`, `--runs`), named in the error.
    pub flag: &'a str,
    /// The flag's value as the user wrote it.
    pub value: String,
    /// What is allocated ("the OLIM grid").
    pub what: &'a str,
    /// Estimated peak bytes.
    pub bytes: u64,
    /// How the estimate is made ("20000² nodes × 25.3 bytes").
    pub formula: String,
    /// Advice when it does not fit ("use --grid ≤ 14000").
    pub advice: String,
}

/// Refuse an estimate above [`available_bytes`] with an [`Error::Invalid`] naming the flag,
/// e.g. "--grid: 20000: the OLIM grid needs about 9.4 GiB (20000² nodes × 25.3 bytes) but
/// 7.1 GiB is available; use --grid ≤ 17000".
pub fn check_memory(e: Estimate<'_>) -> Result<()> {
    check_memory_against(e, available_bytes())
}

/// [`check_memory`] against a given cap (for tests and for callers with their own cap).
pub fn check_memory_against(e: Estimate<'_>, cap: u64) -> Result<()> {
    if e.bytes <= cap {
        return Ok(());
    }
    Err(Error::invalid(
        e.flag,
        format!(
            "{}: {} needs about {} ({}) but {} is available; {}",
            e.value,
            e.what,
            fmt_bytes(e.bytes),
            e.formula,
            fmt_bytes(cap),
            e.advice
        ),
    ))
}

/// a·b·c in u64 without overflow (saturating: an absurd flag gives u64::MAX, still refused).
pub fn product(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |p, &f| p.saturating_mul(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_fitting_finds_the_boundary() {
        // need(x) = 10x: cap 95 admits 9, not 10.
        assert_eq!(largest_fitting(1, 1000, 95, |x| 10 * x), Some(9));
        assert_eq!(largest_fitting(1, 1000, 100, |x| 10 * x), Some(10));
        assert_eq!(largest_fitting(1, 5, 10_000, |x| 10 * x), Some(5));
        assert_eq!(largest_fitting(20, 1000, 95, |x| 10 * x), None);
    }

    #[test]
    fn refusal_names_flag_estimate_cap_and_advice() {
        let e = Estimate {
            flag: "--grid",
            value: "20000".into(),
            what: "the OLIM grid",
            bytes: 3 << 30,
            formula: "20000² nodes × 8 bytes".into(),
            advice: "use --grid ≤ 14000".into(),
        };
        let msg = check_memory_against(e, 2 << 30).unwrap_err().to_string();
        assert_eq!(
            msg,
            "--grid: 20000: the OLIM grid needs about 3.0 GiB (20000² nodes × 8 bytes) but 2.0 GiB is available; use --grid ≤ 14000"
        );
    }

    #[test]
    fn within_the_cap_passes_and_formatting_is_for_people() {
        let e = Estimate {
            flag: "--runs",
            value: "10".into(),
            what: "x",
            bytes: 1 << 20,
            formula: String::new(),
            advice: String::new(),
        };
        assert!(check_memory_against(e, 1 << 21).is_ok());
        assert_eq!(fmt_bytes(1536 << 20), "1.5 GiB");
        assert_eq!(fmt_bytes(512 << 20), "512.0 MiB");
        assert_eq!(product(&[u64::MAX, 2]), u64::MAX);
        assert!(available_bytes() > 0);
    }
}
