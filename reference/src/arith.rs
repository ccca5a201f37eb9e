//! Integer helpers of semantics §0, each with the kernel's modulo-2^64 behaviour spelled out.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.
//!
//! `semantics §N` cites sections of `docs/semantics.md`.

/// `PAGE_SIZE` on x86-64 (semantics §0).
pub const PAGE_SIZE: u64 = 4096;
/// `PAGE_SHIFT` on x86-64 (semantics §0).
pub const PAGE_SHIFT: u32 = 12;

/// `PAGE_ALIGN(x)` (semantics §0): round up to a multiple of 4096, modulo 2^64.
///
/// Every `x` above 2^64 − 4096 wraps to exactly 0, as does `x = 0`; callers rely on the
/// wrap (R1 and semantics §3.2 treat 0 as failure).
pub(crate) fn page_align(x: u64) -> u64 {
    x.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// `ALIGN(x, a)` for a power-of-two `a` (semantics §0), or `None` when the true result is 2^64 or
/// more.
///
/// The kernel computes the value modulo 2^64, so it "wraps to 0"; R4's default (the 5.1 fix)
/// treats such a candidate as no fit, so the model reports the wrap instead of a value.
/// `x + a − 1` overflows exactly when the smallest multiple of `a` at or above `x` is ≥ 2^64,
/// because 2^64 is itself a multiple of `a`.
pub(crate) fn align_up(x: u64, a: u64) -> Option<u64> {
    debug_assert!(a.is_power_of_two());
    x.checked_add(a - 1).map(|v| v & !(a - 1))
}

/// `fls(x)`: the 1-based index of the most significant set bit, 0 for 0.
pub(crate) fn fls(x: u32) -> u32 {
    u32::BITS - x.leading_zeros()
}

/// `fls_long(x)`: the 1-based index of the most significant set bit of a 64-bit value, 0 for
/// 0 (floor(log2(x)) + 1; semantics §3.2, the 4.1–4.8 ioremap rule).
pub(crate) fn fls_long(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}

/// `get_count_order_long(x)` for `x > 0`: ceil(log2(x)) (semantics §3.2, 4.9+ ioremap rule).
pub(crate) fn ceil_log2(x: u64) -> u32 {
    debug_assert!(x > 0);
    if x.is_power_of_two() {
        x.trailing_zeros()
    } else {
        u64::BITS - x.leading_zeros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_align_wraps_exactly_as_section_0_says() {
        // semantics §0: PAGE_ALIGN rounds up; 0 stays 0; anything above 2^64 − 4096 wraps to 0.
        assert_eq!(page_align(0), 0);
        assert_eq!(page_align(1), 4096);
        assert_eq!(page_align(4096), 4096);
        assert_eq!(page_align(4097), 8192);
        assert_eq!(page_align(u64::MAX - 4095), u64::MAX - 4095); // = 2^64 − 4096, aligned
        assert_eq!(page_align(u64::MAX - 4094), 0); // 2^64 − 4095 → 2^64 ≡ 0
        assert_eq!(page_align(u64::MAX), 0);
    }

    #[test]
    fn align_up_reports_the_wrap() {
        // ALIGN(0xffffc90000000000, 2^45): the next multiple of 0x200000000000 is
        // 0xffffe00000000000 (semantics §12 R4 says 2^45 "still gives 0xffffe00000000000").
        assert_eq!(
            align_up(0xffff_c900_0000_0000, 1 << 45),
            Some(0xffff_e000_0000_0000)
        );
        // With 2^46 the next multiple is 2^64: a wrap (R4: align ≥ 2^46 from VMALLOC_START).
        assert_eq!(align_up(0xffff_c900_0000_0000, 1 << 46), None);
        // An aligned value never wraps, even at the top: 2^64 − 4096 stays.
        assert_eq!(align_up(u64::MAX - 4095, 4096), Some(u64::MAX - 4095));
        assert_eq!(align_up(5, 1), Some(5));
    }

    #[test]
    fn fls_and_ceil_log2() {
        // semantics §5.4 table: fls(1)=1, fls(2)=fls(3)=2, fls(4..7)=3, fls(64)=7.
        assert_eq!(
            (fls(0), fls(1), fls(3), fls(4), fls(7), fls(64)),
            (0, 1, 2, 3, 3, 7)
        );
        // semantics §3.2: get_count_order_long is ceil(log2): 64 KiB → 16, 64 KiB + 4 KiB → 17.
        assert_eq!(ceil_log2(0x10000), 16);
        assert_eq!(ceil_log2(0x11000), 17);
        assert_eq!(ceil_log2(4096), 12);
        assert_eq!(ceil_log2(u64::MAX), 64);
        // fls_long is floor(log2) + 1: 64 KiB → 17 (bug 8's doubling), 4 GiB → 33.
        assert_eq!(
            (fls_long(0), fls_long(0x10000), fls_long(1 << 32)),
            (0, 17, 33)
        );
    }
}
