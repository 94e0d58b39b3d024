//! Run-time CPU feature dispatch for the hot loops (the SDE kernel, the OLIM solve): each has a
//! copy compiled for x86-64-v3 (AVX2, FMA, BMI1/2, LZCNT, POPCNT), chosen here, and a baseline
//! copy. Rust never contracts a multiply and an add into an FMA on its own, so both copies give
//! bit-identical numbers (each engine tests this); the v3 copy is shorter (three-operand VEX
//! forms, BMI2 shifts and rotates).

#[cfg(test)]
thread_local! {
    /// Tests set this to run the baseline copy on this thread.
    pub(crate) static FORCE_PORTABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this CPU has the x86-64-v3 features (detection is cached by the standard library).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn x86_v3_available() -> bool {
    #[cfg(test)]
    if FORCE_PORTABLE.with(|f| f.get()) {
        return false;
    }
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("bmi1")
        && std::is_x86_feature_detected!("bmi2")
        && std::is_x86_feature_detected!("lzcnt")
        && std::is_x86_feature_detected!("popcnt")
}
