//! Receives SanitizerCoverage's inline 8-bit counters: the one module of vmfuzz's fuzzing code
//! with `unsafe` in it (`docs/design.md` §5.4).
//!
//! When `vmfuzz fuzz` builds its instrumented copy (`target/vmfuzz-cov/`), the engine and the
//! model are compiled with `-Cpasses=sancov-module` and inline 8-bit counters: every edge of
//! their code increments one byte of a section `__sancov_cntrs`, and a constructor of each
//! instrumented module calls [`__sanitizer_cov_8bit_counters_init`] with the section's bounds
//! before `main`. This module records those bounds and hands the counters to the safe code of
//! `vmfuzz::coverage` as `&'static [AtomicU8]`. In a binary that is not instrumented nothing
//! calls it and [`counters`] returns `None`.
//!
//! The callback lives in this binary, not in the `vmfuzz` library, so that the libFuzzer fuzz
//! targets, which link libFuzzer's own definition of the same symbol, never link this one
//! (even when cargo unifies the library's features across a workspace build).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

/// Most counter regions recorded. A statically linked binary has one (the linker merges every
/// module's `__sancov_cntrs` section into one); each shared library would add one.
const MAX_REGIONS: usize = 16;

static STARTS: [AtomicPtr<u8>; MAX_REGIONS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_REGIONS];
static LENS: [AtomicUsize; MAX_REGIONS] = [const { AtomicUsize::new(0) }; MAX_REGIONS];
static REGIONS: AtomicUsize = AtomicUsize::new(0);

/// Called by the constructor of every instrumented module, before `main`, with the bounds of
/// the counters section (the same bounds from every module of one linked object). Records each
/// distinct non-empty region once. It only compares and stores the pointers; it never
/// dereferences them.
// SAFETY: the symbol is the one SanitizerCoverage's instrumented code calls
// (`void __sanitizer_cov_8bit_counters_init(char *start, char *end)`); no other definition is
// linked into this binary (the fuzz targets, which link libFuzzer's, do not depend on it).
#[unsafe(no_mangle)]
pub extern "C" fn __sanitizer_cov_8bit_counters_init(start: *mut u8, stop: *mut u8) {
    let len = (stop as usize).saturating_sub(start as usize);
    if start.is_null() || len == 0 {
        return;
    }
    let n = REGIONS.load(Ordering::Acquire);
    let known = (0..n).any(|i| STARTS[i].load(Ordering::Relaxed) == start);
    if known || n == MAX_REGIONS {
        return;
    }
    STARTS[n].store(start, Ordering::Relaxed);
    LENS[n].store(len, Ordering::Relaxed);
    REGIONS.store(n + 1, Ordering::Release);
}

/// The counters of this process, or `None` in a binary without instrumentation.
pub fn counters() -> Option<vmfuzz::coverage::Counters> {
    let n = REGIONS.load(Ordering::Acquire);
    let regions = (0..n)
        .map(|i| {
            let start = STARTS[i].load(Ordering::Relaxed);
            let len = LENS[i].load(Ordering::Relaxed);
            // SAFETY: `start..start + len` is a counters section of this executable, as
            // reported by its own instrumentation: static storage, valid for the whole run,
            // never freed, `len` bytes long. `AtomicU8` has the size and alignment of `u8`.
            // The instrumented code writes these bytes with plain stores; vmfuzz reads and
            // zeroes them only on the thread that ran that code, between inputs (a campaign
            // with coverage has one worker per process), so no access races with another.
            let slice: &'static [AtomicU8] =
                unsafe { std::slice::from_raw_parts(start as *const AtomicU8, len) };
            slice
        })
        .collect();
    vmfuzz::coverage::Counters::new(regions)
}
