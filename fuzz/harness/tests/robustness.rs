//! Bad input never crashes anything (design §3.16): random bytes go through the
//! `raw_bytes` driver, which calls the engine's public API with unvalidated arguments
//! (wrapping and non-canonical addresses, any size, alignment, gfp and flag bits, nodes that
//! do not exist, PFNs nobody owns, frees of anything) and the trace parser with arbitrary text.
//! Run in the test profile, integer overflow panics too, so this also checks that the engine
//! does its address arithmetic deliberately (checked or wrapping).
//!
//! `design §N` cites a section of `docs/design.md`.

use vmfuzz::drivers::{raw_bytes, raw_calls};
use vmfuzz::rng::Rng;

#[test]
fn random_bytes_never_panic_the_engine_or_the_parser() {
    let mut rng = Rng::new(3);
    let mut calls = 0;
    let mut ends = std::collections::BTreeMap::new();
    for _ in 0..3000 {
        let n = rng.below(1200) as usize;
        let data = rng.bytes(n);
        let run = raw_calls(&data);
        calls += run.calls;
        if let Some(e) = run.ended {
            *ends.entry(format!("{e:?}")).or_insert(0) += 1;
        }
    }
    eprintln!("sequences ended by: {ends:?}");
    // Sequences must be long enough to build state before a BUG ends them.
    assert!(
        calls > 3000 * 10,
        "only {calls} engine calls in 3000 inputs"
    );
    eprintln!("{calls} raw engine calls");
}

/// Values at the edges of every field, which random bytes rarely produce.
#[test]
fn edge_values_never_panic() {
    let edges: [u64; 12] = [
        0,
        1,
        4095,
        4096,
        u64::MAX,
        u64::MAX - 4095,
        u64::MAX - 8191,
        1 << 63,
        0xffff_c900_0000_0000,
        0xffff_e8ff_ffff_ffff,
        0xffff_ffff_ff00_0000,
        0x0000_8000_0000_0000,
    ];
    for kind in 0u8..20 {
        for &a in &edges {
            for &b in &edges {
                let mut data = vec![0x55, 0x34, 0x12];
                for rep in 0..3u8 {
                    data.push(kind.wrapping_add(rep));
                    data.extend_from_slice(&a.to_le_bytes());
                    data.extend_from_slice(&b.to_le_bytes());
                    data.extend_from_slice(&a.wrapping_add(b).to_le_bytes());
                    data.push(rep * 85);
                }
                let _ = raw_bytes(&data);
            }
        }
    }
}

/// The `page_tables` fuzz target on a 3 TiB `get_vm_area` (805 million pages
/// touched, none mapped) finishes with no finding: its cross-check translates an even sample
/// of the touched pages and every mapped one, not all of them (which took it past 16 GiB).
#[test]
fn the_page_tables_target_samples_a_3_tib_range() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../corpus/regressions/page_tables_target_get_vm_area_of_3_tib.trace"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let trace = vmfuzz::text::parse(&text).unwrap();
    let bytes = vmfuzz::codec::encode(&trace.input);
    assert!(matches!(
        vmfuzz::drivers::page_tables(&bytes),
        vmfuzz::drivers::Verdict::Keep
    ));
}
