//! The op vocabulary, declared once: every op kind with its trace keyword, its base weight in
//! the generator and its traits. Everything that enumerates op kinds derives from this table:
//! the codec's swarm bits and weights and its decode dispatch, the text parser's keywords, the
//! `page_tables` fuzz target's filter, the minimizer's kind simplification, the behaviour
//! names and the generator-health checks. No module keeps a positional list of kinds.
//!
//! `docs/design.md` §9 ("Adding an op") lists what remains to write by hand for a new kind.

/// Traits of an op kind (a small bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KindTraits(u8);

impl KindTraits {
    /// No trait.
    pub const NONE: KindTraits = KindTraits(0);
    /// Creates a live area by itself (vmalloc family, `module_alloc`, `get_vm_area`, `vmap`):
    /// the swarm keeps at least one such kind enabled, or nothing else could apply.
    pub const ALLOCATES: KindTraits = KindTraits(1);
    /// Maps or unmaps pages (the `page_tables` fuzz target keeps exactly these kinds).
    pub const MAPS: KindTraits = KindTraits(2);
    /// Reads state only (`&self` on both sides): only its result and events are compared.
    pub const QUERY: KindTraits = KindTraits(4);
    /// Has a size: the minimizer may replace it by a plain `vmalloc` of that size.
    pub const SIZED: KindTraits = KindTraits(8);

    /// Both sets.
    pub const fn with(self, other: KindTraits) -> KindTraits {
        KindTraits(self.0 | other.0)
    }

    /// Does this set hold every trait of `other`?
    pub const fn has(self, other: KindTraits) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Declares [`OpKind`]: one line per kind, `Variant = "keyword", weight, TRAIT | TRAIT;`.
macro_rules! op_kinds {
    ($( $(#[doc = $doc:literal])* $v:ident = $name:literal, $w:literal, $($t:ident)|+ ; )+) => {
        /// An op kind: the unit of the generator's swarm, of behaviours and of trace keywords.
        /// Declared once, in `ops/kind.rs`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OpKind {
            $( $(#[doc = $doc])* $v, )+
        }

        impl OpKind {
            /// Every kind, in swarm-bit order.
            pub const ALL: [OpKind; [$($name),+].len()] = [$(OpKind::$v),+];
            /// How many kinds there are.
            pub const COUNT: usize = Self::ALL.len();

            /// The trace keyword (also the behaviour name).
            pub const fn name(self) -> &'static str {
                match self { $(OpKind::$v => $name,)+ }
            }

            /// The generator's base weight (the swarm multiplies it by 1, 2, 4 or 8).
            pub const fn weight(self) -> u32 {
                match self { $(OpKind::$v => $w,)+ }
            }

            /// The kind's traits.
            pub const fn traits(self) -> KindTraits {
                match self { $(OpKind::$v => KindTraits::NONE$(.with(KindTraits::$t))+,)+ }
            }
        }
    };
}

op_kinds! {
    /// `vmalloc(size)`.
    Vmalloc = "vmalloc", 8, ALLOCATES | MAPS | SIZED;
    /// `vzalloc(size)`.
    Vzalloc = "vzalloc", 3, ALLOCATES | MAPS | SIZED;
    /// `vmalloc_user(size)`.
    VmallocUser = "vmalloc_user", 2, ALLOCATES | MAPS | SIZED;
    /// `vmalloc_exec(size)`.
    VmallocExec = "vmalloc_exec", 2, ALLOCATES | MAPS | SIZED;
    /// `vmalloc_32(size)`.
    Vmalloc32 = "vmalloc_32", 2, ALLOCATES | MAPS | SIZED;
    /// `vmalloc_32_user(size)`.
    Vmalloc32User = "vmalloc_32_user", 2, ALLOCATES | MAPS | SIZED;
    /// `vmalloc_node(size, node)`.
    VmallocNode = "vmalloc_node", 3, ALLOCATES | MAPS | SIZED;
    /// `vzalloc_node(size, node)`.
    VzallocNode = "vzalloc_node", 2, ALLOCATES | MAPS | SIZED;
    /// `__vmalloc(size, gfp, prot)`.
    VmallocGfp = "__vmalloc", 4, ALLOCATES | MAPS | SIZED;
    /// `__vmalloc_node_range(size, align, start, end, gfp, prot, vm_flags, node)`.
    VmallocRange = "__vmalloc_node_range", 6, ALLOCATES | MAPS | SIZED;
    /// x86-64 `module_alloc(size)`.
    ModuleAlloc = "module_alloc", 3, ALLOCATES | MAPS | SIZED;
    /// `get_vm_area(size, flags)`.
    GetVmArea = "get_vm_area", 3, ALLOCATES | SIZED;
    /// `__get_vm_area(size, flags, start, end)`.
    GetVmAreaRange = "__get_vm_area", 3, ALLOCATES | SIZED;
    /// `free_vm_area` of a live area.
    FreeVmArea = "free_vm_area", 3, NONE;
    /// `alloc_pages_node(node, gfp, 0)`: a caller-owned page.
    AllocPage = "alloc_page", 4, MAPS;
    /// `__free_page` of a caller page.
    FreePage = "free_page", 2, NONE;
    /// `vmap` of caller pages.
    Vmap = "vmap", 4, ALLOCATES | MAPS;
    /// `vunmap(addr)`.
    Vunmap = "vunmap", 3, MAPS;
    /// `vfree(addr)` in process context.
    Vfree = "vfree", 10, MAPS;
    /// `vfree(addr)` in interrupt context (deferred).
    VfreeIrq = "vfree_irq", 2, NONE;
    /// `vfree_atomic(addr)` (deferred).
    VfreeAtomic = "vfree_atomic", 2, NONE;
    /// Run CPU 0's deferred frees.
    RunDeferred = "run_deferred", 2, NONE;
    /// `vm_unmap_aliases()` (a purge).
    VmUnmapAliases = "vm_unmap_aliases", 2, MAPS;
    /// `find_vm_area(addr)`.
    FindVmArea = "find_vm_area", 2, QUERY;
    /// `vmalloc_to_pfn(addr)`.
    VmallocToPfn = "vmalloc_to_pfn", 2, QUERY;
    /// `is_vmalloc_addr(addr)`.
    IsVmallocAddr = "is_vmalloc_addr", 1, QUERY;
    /// Read `/proc/vmallocinfo`.
    Vmallocinfo = "vmallocinfo", 1, QUERY;
    /// Write bytes through a live mapping.
    Write = "write", 3, NONE;
    /// Read bytes through a live mapping.
    Read = "read", 3, QUERY;
    /// An allocation sized from the state (a gap, the largest gap, the lazy room, the free
    /// pages, the array limit, the window), by `vmalloc`, `module_alloc` or `get_vm_area`.
    Fit = "fit", 5, ALLOCATES | MAPS;
    /// `__vmalloc_node_range` with its size and window edges taken from the state.
    RangeFit = "range_fit", 3, ALLOCATES | MAPS;
}

impl OpKind {
    /// The kind with this trace keyword.
    pub fn from_name(name: &str) -> Option<OpKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Its position in [`OpKind::ALL`] (its swarm bit).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Does the kind have `t`?
    pub const fn is(self, t: KindTraits) -> bool {
        self.traits().has(t)
    }
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        assert_eq!(OpKind::COUNT, 31);
        for (i, k) in OpKind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i);
            assert_eq!(OpKind::from_name(k.name()), Some(k));
            assert!(k.weight() > 0);
        }
        // Swarm bits are a u32 mask: the table must fit.
        const { assert!(OpKind::COUNT <= 32) };
        assert!(OpKind::Vmalloc.is(KindTraits::ALLOCATES.with(KindTraits::SIZED)));
        assert!(!OpKind::Read.is(KindTraits::ALLOCATES));
        assert!(OpKind::Read.is(KindTraits::QUERY));
    }
}
