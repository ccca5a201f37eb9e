//! x86-64 `module_alloc` (semantics §2, §12): the modules window from MODULES_VADDR + load offset,
//! align 4096, PAGE_KERNEL_EXEC, NULL at once above MODULES_LEN.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

mod common;
use common::*;
use vmalloc_engine::Event;

#[test]
fn module_alloc_honours_the_load_offset() {
    // KASLR offset of 5 pages: the search starts at 0xffffffffa0005000.
    let mut k = kernel_with(|c| c.module_load_offset = 5 * 4096);
    assert_eq!(ok(k.module_alloc(4096, 1)), MODULES + 0x5000);
    // The leaf is PAGE_KERNEL_EXEC (0x163) for the first pool page; the PTE table 0x101 hangs
    // off PMD slot 256 of the boot table at PFN 3.
    assert_eq!(
        walk4(&k, MODULES + 0x5000),
        [0x2067, 0x3063, 0x101067, 0x100163]
    );
    assert!(!k.is_vmalloc_addr(MODULES + 0x5000));
}

#[test]
fn module_alloc_above_modules_len_is_null_without_warning() {
    let mut k = kernel();
    // MODULES_LEN = 0xffffffffff000000 - 0xffffffffa0000000 = 0x5f000000.
    assert_eq!(k.module_alloc(0x5f00_0001, 1), Ok(None));
    assert_eq!(events(&mut k), vec![]);
    assert_eq!(k.fault_attempts(), [0; 5]);
    // A size whose PAGE_ALIGN wraps to 0 passes that test and fails R1 with warning 1.
    assert_eq!(k.module_alloc(u64::MAX, 1), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![Event::AllocFailure { bytes: u64::MAX }]
    );
}

#[test]
fn module_and_vmalloc_share_one_busy_set_and_lazy_list() {
    let mut k = kernel();
    let m = ok(k.module_alloc(2 * P, 1));
    let v = ok(k.vmalloc(4096, 2));
    k.vfree(m, Default::default()).unwrap();
    k.vfree(v, Default::default()).unwrap();
    // lazy_nr = 3 (module VA) + 2 (vmalloc VA); one purge flushes [V, MODULES + 0x3000).
    assert_eq!(k.lazy_nr(), 5);
    k.vm_unmap_aliases();
    assert_eq!(
        events(&mut k),
        vec![Event::TlbFlush {
            start: V,
            end: MODULES + 0x3000
        }]
    );
}
