//! Free virtual-address space as a set of gaps, with an exact lowest-fit search (semantics §4.3,
//! R3, R4).
//!
//! # What it is for
//!
//! R3 places every VA at the *exact* lowest fit over all busy VAs, lazy ones included
//! (semantics §4.3; it equals the 4.x search with the cache test made non-strict, §4.4). Instead of
//! walking busy areas the way 4.x does, the engine keeps their complement: the free gaps of
//! `[0, 2^64)`. A gap may end at 2^64, but no area can (a range end is a `u64`), so the last gap
//! always does.
//!
//! # Design
//!
//! A B+tree keyed by gap start, with fat nodes for cache friendliness: a leaf holds up to 16
//! gaps as parallel sorted arrays of `start` and `last` (inclusive, so the whole space
//! fits a `u64`); an inner node holds, per child, the child's smallest gap start (the routing
//! key, kept exact) and the child's largest `last - start` (the augmentation that lets the
//! search skip subtrees without a long-enough gap). Every node but the root is at least half
//! full and all leaves are at the same depth, so the tree is about `log_8(n)` to `log_16(n)`
//! deep: 5 nodes for 100k gaps, where a binary tree would visit 17. Nodes live in an arena
//! (`Vec<Node>`, `u32` links, a free list); no `unsafe`. Neighbouring gaps are always merged,
//! so two gaps are separated by at least one busy byte. Nothing depends on hashing or on the
//! environment: the same calls build the same tree.
//!
//! # Cost (n = number of gaps)
//!
//! - [`FreeGaps::reserve`] and [`FreeGaps::release`]: one root-to-leaf descent that records the
//!   path, then O(log n) work back up. The common cases (a gap shrinks or grows at one end) keep
//!   the key order: they refresh the routing key and maximum along the path and stop at the
//!   first level where nothing changed. Splitting a gap inserts into a leaf, merging two gaps
//!   removes from one, with the usual B+tree split, borrow and merge along the same path.
//! - [`FreeGaps::lowest_fit`]: O(log n) per *candidate*. The candidates are the gap holding
//!   `vstart` and then, in address order, the gaps that start above it and are at least `size`
//!   long (found through the per-child maxima). In each, the one address worth testing is
//!   `ALIGN(max(gap start, vstart), align)` (semantics §4.3); a candidate that is long enough but
//!   too short once aligned is skipped and the next one looked up. With `align <= 4096` and
//!   page-aligned gap boundaries (the normal case, semantics §0) the first candidate above `vstart`
//!   always fits, so the search is O(log n); larger alignments cost O(log n) per skipped gap.
//!   The search never prunes with `size + align - 1`, the 5.2+ shortcut that misses exact
//!   aligned fits (semantics §4.5). It stops as soon as gap starts pass `vend - size`.
//! - [`FreeGaps::len`]: O(1); [`FreeGaps::iter`]: O(n) for all gaps.
//!
//! Capacity: 2^32 - 1 nodes (`u32` links), at least 2^34 gaps. A call that would need a node
//! beyond that is refused with an error and changes nothing; it would take terabytes of nodes,
//! so it never happens in practice.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use std::fmt;

/// Entries (gaps, or children) per node. Sixteen `u64` keys are two cache lines.
const CAP: usize = 16;

/// Least entries in a node other than the root.
const MIN: usize = CAP / 2;

/// Room for any root-to-leaf path: with at most 2^32 nodes, at least half full, the tree is at
/// most 13 levels deep.
const MAX_DEPTH: usize = 16;

/// Why a `reserve` or `release` was refused (the tree is left unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapError {
    /// `start >= end`.
    EmptyRange,
    /// `reserve`: the range is not entirely inside one free gap.
    NotFree,
    /// `release`: part of the range is already free.
    NotBusy,
}

/// A leaf (gaps) or an inner node (children); slots at and past `len` are junk. The header
/// comes first and the node is cache-line aligned, so that a descent finds `len`
/// and the keys in the same two lines.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Node {
    len: u32,
    leaf: bool,
    /// Leaf: gap starts. Inner: the smallest gap start under each child.
    key: [u64; CAP],
    /// Leaf: gap lasts (inclusive). Inner: the largest `last - start` under each child.
    val: [u64; CAP],
    /// Inner: child links. Unused in a leaf.
    child: [u32; CAP],
}

impl Node {
    const fn empty(leaf: bool) -> Node {
        Node {
            key: [0; CAP],
            val: [0; CAP],
            child: [0; CAP],
            len: 0,
            leaf,
        }
    }

    fn len(&self) -> usize {
        self.len as usize
    }

    /// How many entries have `key <= k`.
    fn rank(&self, k: u64) -> usize {
        // A plain scan of the sorted keys: on the engine's repeated paths its branches are
        // predicted, and it beat a branch-free count and a binary search (measured).
        let len = self.len();
        let mut i = 0;
        while i < len && self.key[i] <= k {
            i += 1;
        }
        i
    }

    /// Largest `last - start` under entry `i`.
    fn span(&self, i: usize) -> u64 {
        if self.leaf {
            self.val[i] - self.key[i]
        } else {
            self.val[i]
        }
    }

    /// (smallest start, largest span) of the node, for its parent's entry.
    fn summary(&self) -> (u64, u64) {
        // A scalar loop with an early exit: baseline x86-64 has no 64-bit vector compare, and
        // the emulated vector maximum is slower than this at these sizes.
        let mut max = 0;
        for i in 0..CAP {
            if i == self.len() {
                break;
            }
            max = max.max(self.span(i));
        }
        (self.key[0], max)
    }

    fn insert(&mut self, pos: usize, key: u64, val: u64, child: u32) {
        // Plain loops: at these lengths they beat a call to memmove.
        let mut j = self.len();
        while j > pos {
            self.key[j] = self.key[j - 1];
            self.val[j] = self.val[j - 1];
            self.child[j] = self.child[j - 1];
            j -= 1;
        }
        self.key[pos] = key;
        self.val[pos] = val;
        self.child[pos] = child;
        self.len += 1;
    }

    fn remove(&mut self, pos: usize) -> (u64, u64, u32) {
        let len = self.len();
        let out = (self.key[pos], self.val[pos], self.child[pos]);
        for j in pos..len - 1 {
            self.key[j] = self.key[j + 1];
            self.val[j] = self.val[j + 1];
            self.child[j] = self.child[j + 1];
        }
        self.len -= 1;
        out
    }

    /// Move entries `from..` to the end of `dst`.
    fn move_tail(&mut self, from: usize, dst: &mut Node) {
        let (len, at) = (self.len(), dst.len());
        let n = len - from;
        dst.key[at..at + n].copy_from_slice(&self.key[from..len]);
        dst.val[at..at + n].copy_from_slice(&self.val[from..len]);
        dst.child[at..at + n].copy_from_slice(&self.child[from..len]);
        dst.len += n as u32;
        self.len = from as u32;
    }
}

/// A root-to-leaf path: the node at each level and the entry index taken there. At the leaf
/// level the index is the leaf's rank of the key searched (the gap before it is the key's
/// predecessor).
#[derive(Clone, Copy)]
struct Path {
    node: [u32; MAX_DEPTH],
    idx: [u32; MAX_DEPTH],
    len: usize,
}

impl Path {
    const fn new() -> Self {
        Path {
            node: [0; MAX_DEPTH],
            idx: [0; MAX_DEPTH],
            len: 0,
        }
    }

    fn push(&mut self, node: u32, idx: usize) {
        // The bound holds because the tree is balanced (MAX_DEPTH).
        self.node[self.len] = node;
        self.idx[self.len] = idx as u32;
        self.len += 1;
    }

    fn leaf_level(&self) -> usize {
        self.len - 1
    }
}

/// Outcome of testing one gap for a request.
enum Fit {
    /// The request fits at this address.
    At(u64),
    /// Not in this gap; a later gap may still do.
    Next,
    /// Not here and not in any later gap either (the aligned start wraps or passes `vend - size`).
    Never,
}

/// The free part of `[0, 2^64)`: the complement of the busy areas, as a B+tree of gaps with
/// per-subtree maxima (see the module documentation).
#[derive(Clone)]
pub struct FreeGaps {
    /// Arena of nodes.
    nodes: Vec<Node>,
    /// Arena slots free for reuse.
    spare: Vec<u32>,
    root: u32,
    /// Number of gaps.
    count: usize,
}

impl Default for FreeGaps {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for FreeGaps {
    /// The gaps in address order, as `start..end` in hex: a dump a person can diff.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Gap(u64, u128);
        impl fmt::Debug for Gap {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}..{:#x}", self.0, self.1)
            }
        }
        f.debug_list()
            .entries(self.iter().map(|(s, e)| Gap(s, e)))
            .finish()
    }
}

impl FreeGaps {
    /// All of `[0, 2^64)` free.
    pub fn new() -> Self {
        let mut root = Node::empty(true);
        root.insert(0, 0, u64::MAX, 0);
        FreeGaps {
            nodes: vec![root],
            spare: Vec::new(),
            root: 0,
            count: 1,
        }
    }

    /// Number of free gaps.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if there is no free gap at all. Never the case in practice: no range can cover
    /// the last byte, so the gap ending at 2^64 always exists.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The gaps in ascending order, as `(start, end)` with `end` exclusive (up to 2^64).
    pub fn iter(&self) -> impl Iterator<Item = (u64, u128)> + '_ {
        let mut path = Path::new();
        let mut id = self.root;
        loop {
            path.push(id, 0);
            let n = self.node(id);
            if n.leaf {
                break;
            }
            id = n.child[0];
        }
        Iter { gaps: self, path }
    }

    /// Mark `[start, end)` busy. It must lie inside one free gap.
    pub fn reserve(&mut self, start: u64, end: u64) -> Result<(), GapError> {
        if start >= end {
            return Err(GapError::EmptyRange);
        }
        let mut path = Path::new();
        self.descend(start, &mut path);
        let lv = path.leaf_level();
        // The gap holding `start`, if any, is the leaf's last one starting at or below it.
        let i = (path.idx[lv] as usize)
            .checked_sub(1)
            .ok_or(GapError::NotFree)?;
        if end - 1 > self.node(path.node[lv]).val[i] {
            return Err(GapError::NotFree);
        }
        self.reserve_in(&mut path, i, start, end)
    }

    /// [`lowest_fit`](Self::lowest_fit) and [`reserve`](Self::reserve) of the result in one
    /// call (R3): the range is carved out of the gap the search found, without a second
    /// descent. Returns the address, or `None` (nothing changed) when nothing fits.
    pub fn take_lowest_fit(
        &mut self,
        size: u64,
        align: u64,
        vstart: u64,
        vend: u64,
    ) -> Option<u64> {
        let mut path = Path::new();
        let (a, i) = self.search(size, align, vstart, vend, &mut path)?;
        // `search` checked that `[a, a + size)` lies in gap `i` and below vend.
        self.reserve_in(&mut path, i, a, a + size).ok()?;
        Some(a)
    }

    /// Mark `[start, end)` free again, merging with neighbouring gaps. It must be entirely busy.
    pub fn release(&mut self, start: u64, end: u64) -> Result<(), GapError> {
        if start >= end {
            return Err(GapError::EmptyRange);
        }
        let last = end - 1;
        let mut path = Path::new();
        self.descend(start, &mut path);
        let lv = path.leaf_level();
        let leaf = path.node[lv] as usize;
        let p = path.idx[lv] as usize;
        let n = &self.nodes[leaf];
        // Predecessor: the leaf's gap before rank `p`. Successor: the gap at `p`, or the first
        // of the next leaf (then with its own path).
        let pred = p.checked_sub(1).map(|i| (n.key[i], n.val[i]));
        let mut next_path = None;
        let succ = if p < n.len() {
            Some((n.key[p], n.val[p]))
        } else {
            let mut np = path;
            if self.next_leaf(&mut np) {
                let first = self.node(np.node[lv]);
                next_path = Some(np);
                Some((first.key[0], first.val[0]))
            } else {
                None
            }
        };
        if pred.is_some_and(|(_, pl)| pl >= start) || succ.is_some_and(|(ss, _)| ss <= last) {
            return Err(GapError::NotBusy);
        }
        // `pred last < start` and `succ start > last`: neither test below can overflow.
        let pred = pred.filter(|&(_, pl)| pl + 1 == start);
        let succ = succ.filter(|&(ss, _)| ss == end);
        match (pred, succ, next_path) {
            (Some((ps, pl)), Some((_, sl)), None) => {
                // Two entries change: grow the one below, then remove the one above.
                self.nodes[leaf].val[p - 1] = sl;
                self.refresh_gap(&path, pl - ps, sl - ps);
                self.remove_entry(&mut path, lv, p);
            }
            (Some((ps, pl)), Some((_, sl)), Some(mut np)) => {
                self.nodes[leaf].val[p - 1] = sl;
                self.refresh_gap(&path, pl - ps, sl - ps);
                self.remove_entry(&mut np, lv, 0);
            }
            (Some((ps, pl)), None, _) => {
                self.nodes[leaf].val[p - 1] = last;
                self.refresh_gap(&path, pl - ps, last - ps);
            }
            (None, Some((ss, sl)), None) => {
                self.nodes[leaf].key[p] = start;
                self.refresh_gap(&path, sl - ss, sl - start);
            }
            (None, Some((ss, sl)), Some(np)) => {
                self.nodes[np.node[lv] as usize].key[0] = start;
                self.refresh_gap(&np, sl - ss, sl - start);
            }
            (None, None, _) => {
                if !self.can_split(&path) {
                    return Err(GapError::NotBusy);
                }
                self.insert_entry(&mut path, lv, p, start, last, 0);
            }
        }
        Ok(())
    }

    /// Exact lowest fit (R3, R4): the smallest `a` with `a % align == 0`, `a >= vstart`,
    /// `ALIGN` computed without wrap-around, `a + size` not wrapping, `a + size <= vend`, and
    /// `[a, a + size)` free. `align` must be a power of two; `size` must be nonzero.
    ///
    /// The only address worth testing in a gap is `ALIGN(max(gap start, vstart), align)` (spec
    /// semantics §4.3's candidates); a gap is skipped only after that exact test, never on a length
    /// bound that includes the alignment (semantics §4.5). Wrap-around of `ALIGN` is "no fit"
    /// (R4 default).
    pub fn lowest_fit(&self, size: u64, align: u64, vstart: u64, vend: u64) -> Option<u64> {
        self.search(size, align, vstart, vend, &mut Path::new())
            .map(|(a, _)| a)
    }

    /// The lowest fit, and the index of its gap in the leaf where `path` is left.
    fn search(
        &self,
        size: u64,
        align: u64,
        vstart: u64,
        vend: u64,
        path: &mut Path,
    ) -> Option<(u64, usize)> {
        if size == 0 || !align.is_power_of_two() || vstart > vend {
            return None;
        }
        // The highest acceptable start.
        let limit = vend.checked_sub(size)?;
        if limit < vstart {
            return None;
        }
        let need = size - 1;
        let mask = align - 1;
        let test = |start: u64, last: u64| -> Fit {
            let Some(bumped) = start.max(vstart).checked_add(mask) else {
                return Fit::Never;
            };
            let a = bumped & !mask;
            if a > limit {
                return Fit::Never;
            }
            // a + need <= limit + size - 1 = vend - 1: no overflow.
            if a + need <= last {
                Fit::At(a)
            } else {
                Fit::Next
            }
        };
        // Gaps starting at or below `x` are done; `x` only grows.
        let mut x = vstart;
        loop {
            self.descend(x, path);
            let lv = path.leaf_level();
            let leaf = self.node(path.node[lv]);
            let p = path.idx[lv] as usize;
            if let Some(i) = p.checked_sub(1) {
                // The gap holding `x`, if any.
                if leaf.val[i] >= x {
                    match test(leaf.key[i], leaf.val[i]) {
                        Fit::At(a) => return Some((a, i)),
                        Fit::Never => return None,
                        Fit::Next => {}
                    }
                }
            }
            let i = self.next_candidate(path, need, limit)?;
            let leaf = self.node(path.node[lv]);
            match test(leaf.key[i], leaf.val[i]) {
                Fit::At(a) => return Some((a, i)),
                Fit::Never => return None,
                Fit::Next => x = leaf.key[i],
            }
        }
    }

    /// Counts one gap too many without changing the tree (the planted `GapCountDrift`).
    #[cfg(feature = "planted-bugs")]
    pub(crate) fn planted_count_one_more(&mut self) {
        self.count += 1;
    }

    /// Check the internal invariants: key order, routing keys and maxima equal to what is
    /// below, node fill and equal leaf depth (the balance), no two gaps adjacent (a release
    /// always merges), the last gap ending at 2^64, the gap count and the arena's free list.
    /// Meant for tests and fuzzers; O(n).
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut seen = vec![false; self.nodes.len()];
        let mut leaf_depth = None;
        let mut gaps = 0usize;
        if self.count > 0 || !self.node(self.root).leaf {
            self.check_node(self.root, 0, &mut leaf_depth, &mut seen, &mut gaps)?;
        }
        if gaps != self.count {
            return Err(format!(
                "count {} but {} gaps in the tree",
                self.count, gaps
            ));
        }
        if self.count > 0 && self.iter().last().map(|(_, e)| e) != Some(1u128 << 64) {
            return Err("the last gap does not end at 2^64".into());
        }
        for &s in &self.spare {
            let slot = seen
                .get_mut(s as usize)
                .ok_or_else(|| format!("spare slot {s} out of bounds"))?;
            if *slot {
                return Err(format!("slot {s} both spare and in use"));
            }
            *slot = true;
        }
        if let Some(lost) = seen.iter().position(|&s| !s) {
            return Err(format!("slot {lost} neither spare nor in use"));
        }
        Ok(())
    }

    /// Recursive part of `check_invariants`: returns (smallest start, largest span, last byte).
    fn check_node(
        &self,
        id: u32,
        depth: usize,
        leaf_depth: &mut Option<usize>,
        seen: &mut [bool],
        gaps: &mut usize,
    ) -> Result<(u64, u64, u64), String> {
        let slot = seen
            .get_mut(id as usize)
            .ok_or_else(|| format!("node {id} out of bounds"))?;
        if std::mem::replace(slot, true) {
            return Err(format!("node {id} reached twice"));
        }
        if depth >= MAX_DEPTH {
            return Err("tree deeper than MAX_DEPTH".into());
        }
        let n = self.node(id);
        let len = n.len();
        let least = match (depth, n.leaf) {
            (0, true) => 1,
            (0, false) => 2,
            _ => MIN,
        };
        if len < least || len > CAP {
            return Err(format!("node {id} at depth {depth} holds {len} entries"));
        }
        let mut max = 0u64;
        let mut prev_last: Option<u64> = None;
        for i in 0..len {
            let (first, span, last) = if n.leaf {
                if n.val[i] < n.key[i] {
                    return Err(format!("node {id}: gap {i} ends before it starts"));
                }
                *gaps += 1;
                (n.key[i], n.val[i] - n.key[i], n.val[i])
            } else {
                let (cmin, cmax, clast) =
                    self.check_node(n.child[i], depth + 1, leaf_depth, seen, gaps)?;
                if (n.key[i], n.val[i]) != (cmin, cmax) {
                    return Err(format!(
                        "node {id} entry {i}: stored ({:#x}, {:#x}), child has ({cmin:#x}, {cmax:#x})",
                        n.key[i], n.val[i]
                    ));
                }
                (cmin, cmax, clast)
            };
            if let Some(pl) = prev_last {
                // At least one busy byte between two gaps.
                if pl >= first || pl + 1 == first {
                    return Err(format!(
                        "node {id}: gap ending at {pl:#x} touches or overlaps the next at {first:#x}"
                    ));
                }
            }
            prev_last = Some(last);
            max = max.max(span);
        }
        if n.leaf {
            match *leaf_depth {
                None => *leaf_depth = Some(depth),
                Some(d) if d != depth => {
                    return Err(format!("leaf {id} at depth {depth}, another at {d}"));
                }
                Some(_) => {}
            }
        }
        Ok((n.key[0], max, prev_last.unwrap_or(0)))
    }

    fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize]
    }

    /// Descend to the leaf where `key` belongs, recording the path.
    fn descend(&self, key: u64, path: &mut Path) {
        path.len = 0;
        let mut id = self.root;
        loop {
            let n = self.node(id);
            let r = n.rank(key);
            if n.leaf {
                path.push(id, r);
                return;
            }
            // The last child whose smallest start is <= key, or the first.
            let c = r.saturating_sub(1);
            path.push(id, c);
            id = n.child[c];
        }
    }

    /// Move `path` to the next leaf in key order (its index there set to 0); false at the end.
    fn next_leaf(&self, path: &mut Path) -> bool {
        let lv = path.leaf_level();
        for l in (0..lv).rev() {
            let n = self.node(path.node[l]);
            let c = path.idx[l] as usize + 1;
            if c < n.len() {
                path.idx[l] = c as u32;
                let mut id = n.child[c];
                for below in l + 1..=lv {
                    path.node[below] = id;
                    path.idx[below] = 0;
                    id = self.node(id).child[0];
                }
                return true;
            }
        }
        false
    }

    /// The lowest gap after the leaf position of `path` that is at least `need + 1` long and
    /// starts at or below `limit`: `path` is moved to its leaf and its index there returned.
    fn next_candidate(&self, path: &mut Path, need: u64, limit: u64) -> Option<usize> {
        let lv = path.leaf_level();
        let leaf = self.node(path.node[lv]);
        for i in path.idx[lv] as usize..leaf.len() {
            if leaf.key[i] > limit {
                return None;
            }
            if leaf.val[i] - leaf.key[i] >= need {
                return Some(i);
            }
        }
        for l in (0..lv).rev() {
            let n = self.node(path.node[l]);
            for c in path.idx[l] as usize + 1..n.len() {
                if n.key[c] > limit {
                    return None;
                }
                if n.val[c] >= need {
                    // Somewhere under child `c`: take the first child (then gap) long enough
                    // at each level below.
                    path.idx[l] = c as u32;
                    let mut id = n.child[c];
                    for below in l + 1..=lv {
                        let m = self.node(id);
                        let j = (0..m.len()).find(|&j| m.span(j) >= need)?;
                        if m.key[j] > limit {
                            return None;
                        }
                        path.node[below] = id;
                        path.idx[below] = j as u32;
                        id = m.child[j];
                    }
                    return Some(path.idx[lv] as usize);
                }
            }
        }
        None
    }

    /// After the node at `level` of `path` changed (but kept its place), bring the routing keys
    /// and maxima above it up to date.
    fn refresh(&mut self, path: &Path, level: usize) {
        let summary = self.node(path.node[level]).summary();
        self.propagate(path, level, summary);
    }

    /// `refresh` after one gap of the leaf of `path` changed its span from `old` to `new`
    /// without moving.
    fn refresh_gap(&mut self, path: &Path, old: u64, new: u64) {
        self.refresh_one(path, path.leaf_level(), old, new);
    }

    /// `refresh` after one entry of the node at `level` went from span `old` to `new` (0 for
    /// an entry added or removed): the node's maximum follows from its old one and the change.
    fn refresh_one(&mut self, path: &Path, level: usize, old: u64, new: u64) {
        let n = self.node(path.node[level]);
        let max = match level.checked_sub(1) {
            Some(up) => {
                let was = self.node(path.node[up]).val[path.idx[up] as usize];
                Self::new_max(was, old, new, || n.summary().1)
            }
            None => return, // the root: nobody stores its summary
        };
        let summary = (n.key[0], max);
        self.propagate(path, level, summary);
    }

    /// The maximum of a node whose maximum was `was`, after one entry under it went from
    /// `old` to `new`; `recompute` only when the old maximum may have been that entry's.
    fn new_max(was: u64, old: u64, new: u64, recompute: impl FnOnce() -> u64) -> u64 {
        if new >= was {
            new
        } else if old < was {
            was
        } else {
            recompute()
        }
    }

    /// Store `summary`, the new (smallest start, largest span) of the node at `level`, in its
    /// parent, and so on up, stopping at the first level where nothing changed. Each level's
    /// maximum is derived from its old one (`new_max`).
    fn propagate(&mut self, path: &Path, level: usize, mut summary: (u64, u64)) {
        for l in (0..level).rev() {
            let c = path.idx[l] as usize;
            let n = &mut self.nodes[path.node[l] as usize];
            let old = n.val[c];
            if (n.key[c], old) == summary {
                return;
            }
            (n.key[c], n.val[c]) = summary;
            let Some(up) = l.checked_sub(1) else {
                return;
            };
            let was = self.node(path.node[up]).val[path.idx[up] as usize];
            let n = self.node(path.node[l]);
            summary = (
                n.key[0],
                Self::new_max(was, old, summary.1, || n.summary().1),
            );
        }
    }

    /// Carve `[start, end)` out of gap `i` of the leaf of `path`, which holds it.
    fn reserve_in(
        &mut self,
        path: &mut Path,
        i: usize,
        start: u64,
        end: u64,
    ) -> Result<(), GapError> {
        let lv = path.leaf_level();
        let leaf = path.node[lv] as usize;
        let (gs, gl) = (self.nodes[leaf].key[i], self.nodes[leaf].val[i]);
        let last = end - 1;
        match (gs == start, gl == last) {
            (true, true) => self.remove_entry(path, lv, i),
            // The gap keeps its place between its neighbours: no key order changes.
            (true, false) => {
                self.nodes[leaf].key[i] = end;
                self.refresh_gap(path, gl - gs, gl - end);
            }
            (false, true) => {
                self.nodes[leaf].val[i] = start - 1;
                self.refresh_gap(path, gl - gs, start - 1 - gs);
            }
            (false, false) => {
                if !self.can_split(path) {
                    return Err(GapError::NotFree);
                }
                self.nodes[leaf].val[i] = start - 1;
                self.refresh_gap(path, gl - gs, start - 1 - gs);
                self.insert_entry(path, lv, i + 1, end, gl, 0);
            }
        }
        Ok(())
    }

    /// Whether the arena can take the nodes that one insertion may need (a split per level and
    /// a new root).
    fn can_split(&self, path: &Path) -> bool {
        let room = (u32::MAX as usize).saturating_sub(self.nodes.len()) + self.spare.len();
        room > path.len
    }

    fn new_node(&mut self, node: Node) -> u32 {
        if let Some(id) = self.spare.pop() {
            self.nodes[id as usize] = node;
            return id;
        }
        // `can_split` was checked before the tree changed.
        let id = self.nodes.len() as u32;
        self.nodes.push(node);
        id
    }

    /// Insert an entry at `pos` of the node at `level` of `path`, splitting full nodes upwards.
    fn insert_entry(
        &mut self,
        path: &mut Path,
        level: usize,
        pos: usize,
        key: u64,
        val: u64,
        child: u32,
    ) {
        let id = path.node[level] as usize;
        if level == path.leaf_level() {
            self.count += 1;
        }
        if self.nodes[id].len() < CAP {
            self.nodes[id].insert(pos, key, val, child);
            if level == path.leaf_level() {
                // The callers change one gap per leaf call, so one step suffices.
                let added = self.nodes[id].span(pos);
                self.refresh_one(path, level, 0, added);
            } else {
                // From a split below: this node also had the split child's entry changed.
                self.refresh(path, level);
            }
            return;
        }
        // Split: the upper half goes to a new right sibling, then the entry goes to its side.
        let mut right = Node::empty(self.nodes[id].leaf);
        self.nodes[id].move_tail(MIN, &mut right);
        if pos <= MIN {
            self.nodes[id].insert(pos, key, val, child);
        } else {
            right.insert(pos - MIN, key, val, child);
        }
        let (rkey, rval) = right.summary();
        let rid = self.new_node(right);
        let (lkey, lval) = self.nodes[id].summary();
        if level == 0 {
            let mut root = Node::empty(false);
            root.insert(0, lkey, lval, id as u32);
            root.insert(1, rkey, rval, rid);
            self.root = self.new_node(root);
            return;
        }
        let parent = path.node[level - 1] as usize;
        let c = path.idx[level - 1] as usize;
        (self.nodes[parent].key[c], self.nodes[parent].val[c]) = (lkey, lval);
        self.insert_entry(path, level - 1, c + 1, rkey, rval, rid);
    }

    /// Remove entry `pos` of the node at `level` of `path`, borrowing from or merging with a
    /// sibling when the node falls below half full.
    fn remove_entry(&mut self, path: &mut Path, level: usize, pos: usize) {
        let id = path.node[level] as usize;
        if level == path.leaf_level() {
            self.count -= 1;
        }
        let removed = self.nodes[id].span(pos);
        self.nodes[id].remove(pos);
        if level == 0 {
            let n = &self.nodes[id];
            if !n.leaf && n.len() == 1 {
                self.root = n.child[0];
                self.spare.push(id as u32);
            }
            return;
        }
        if self.nodes[id].len() >= MIN {
            if level == path.leaf_level() {
                self.refresh_one(path, level, removed, 0);
            } else {
                // From a merge below: the merged child's entry changed too.
                self.refresh(path, level);
            }
            return;
        }
        let parent = path.node[level - 1] as usize;
        let c = path.idx[level - 1] as usize;
        // A non-root inner node has at least two children; the root too.
        let (li, ri) = if c + 1 < self.nodes[parent].len() {
            (c, c + 1)
        } else {
            (c - 1, c)
        };
        let (l, r) = (
            self.nodes[parent].child[li] as usize,
            self.nodes[parent].child[ri] as usize,
        );
        let (llen, rlen) = (self.nodes[l].len(), self.nodes[r].len());
        if llen + rlen <= CAP {
            let mut right = self.nodes[r];
            right.move_tail(0, &mut self.nodes[l]);
            self.spare.push(r as u32);
            let summary = self.nodes[l].summary();
            (self.nodes[parent].key[li], self.nodes[parent].val[li]) = summary;
            self.remove_entry(path, level - 1, ri);
            return;
        }
        if llen < rlen {
            let (k, v, ch) = self.nodes[r].remove(0);
            self.nodes[l].insert(llen, k, v, ch);
        } else {
            let (k, v, ch) = self.nodes[l].remove(llen - 1);
            self.nodes[r].insert(0, k, v, ch);
        }
        let (ls, rs) = (self.nodes[l].summary(), self.nodes[r].summary());
        let pn = &mut self.nodes[parent];
        (pn.key[li], pn.val[li]) = ls;
        (pn.key[ri], pn.val[ri]) = rs;
        self.refresh(path, level - 1);
    }
}

/// In-order iterator over the gaps, leaf by leaf along a path.
struct Iter<'a> {
    gaps: &'a FreeGaps,
    path: Path,
}

impl Iterator for Iter<'_> {
    type Item = (u64, u128);

    fn next(&mut self) -> Option<(u64, u128)> {
        let lv = self.path.leaf_level();
        loop {
            let leaf = self.gaps.node(self.path.node[lv]);
            let i = self.path.idx[lv] as usize;
            if i < leaf.len() {
                self.path.idx[lv] += 1;
                return Some((leaf.key[i], leaf.val[i] as u128 + 1));
            }
            if !self.gaps.next_leaf(&mut self.path) {
                return None;
            }
        }
    }
}

#[cfg(test)]
#[path = "free_gaps_tests.rs"]
mod tests;
