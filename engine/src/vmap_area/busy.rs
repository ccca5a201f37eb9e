//! The busy areas in address order: the engine's `vmap_area_root` (spec §4.1), as a B+tree of
//! `(va_start, id)` keys.
//!
//! The order is `(start, id)`, so two areas with the same start (only after a planted fault
//! breaks I1) are both kept, the younger slab id last. The queries are the ones the VA code
//! needs: insert, remove, the greatest key at or below an address (`find_vmap_area`'s range
//! lookup), and in-order iteration.
//!
//! Design: fat nodes of [`CAP`] keys as parallel arrays (starts, ids, child links) in an arena
//! (`Vec<Node>`, `u32` links, a free list), no `unsafe`. An inner node stores, per child, the
//! child's smallest key exactly, so routing takes the last child whose smallest key is at or
//! below the key searched. Every node but the root is at least half full and all leaves are at
//! the same depth: 3 levels hold 100k areas. Inside a node the search first tests the last key
//! (new areas mostly land above every busy one, so this settles most descents in one compare),
//! then binary-searches the starts.
//!
//! Costs (n keys): insert, remove and lookup descend once, O(log n); splits, borrows and merges
//! happen along the same path. Iteration is O(n).

/// Keys per node.
const CAP: usize = 32;

/// Least keys in a node other than the root.
const MIN: usize = CAP / 2;

/// Room for any root-to-leaf path (a tree of 2^32 nodes at least half full is shallower).
const MAX_DEPTH: usize = 16;

/// A leaf (area keys) or an inner node (children with their smallest key); slots at and past
/// `len` are junk.
#[derive(Debug, Clone, Copy)]
struct Node {
    len: u32,
    leaf: bool,
    /// Leaf: area starts. Inner: the smallest start under each child.
    start: [u64; CAP],
    /// Leaf: area ids. Inner: the id going with `start` (the child's smallest key).
    id: [u32; CAP],
    /// Inner: child links. Unused in a leaf.
    child: [u32; CAP],
}

impl Node {
    const fn empty(leaf: bool) -> Node {
        Node {
            len: 0,
            leaf,
            start: [0; CAP],
            id: [0; CAP],
            child: [0; CAP],
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.len as usize
    }

    #[inline]
    fn key(&self, i: usize) -> (u64, u32) {
        (self.start[i], self.id[i])
    }

    /// How many keys are `<= (s, id)`.
    #[inline]
    fn rank(&self, s: u64, id: u32) -> usize {
        let len = self.len();
        if len == 0 {
            return 0;
        }
        // Most searches land at or above the last key.
        if self.key(len - 1) <= (s, id) {
            return len;
        }
        let mut r = self.start[..len].partition_point(|&x| x < s);
        while r < len && self.start[r] == s && self.id[r] <= id {
            r += 1;
        }
        r
    }

    fn insert(&mut self, pos: usize, s: u64, id: u32, child: u32) {
        let len = self.len();
        self.start.copy_within(pos..len, pos + 1);
        self.id.copy_within(pos..len, pos + 1);
        if !self.leaf {
            self.child.copy_within(pos..len, pos + 1);
        }
        self.start[pos] = s;
        self.id[pos] = id;
        self.child[pos] = child;
        self.len += 1;
    }

    fn remove(&mut self, pos: usize) -> (u64, u32, u32) {
        let len = self.len();
        let out = (self.start[pos], self.id[pos], self.child[pos]);
        self.start.copy_within(pos + 1..len, pos);
        self.id.copy_within(pos + 1..len, pos);
        if !self.leaf {
            self.child.copy_within(pos + 1..len, pos);
        }
        self.len -= 1;
        out
    }

    /// Move entries `from..` to the end of `dst`.
    fn move_tail(&mut self, from: usize, dst: &mut Node) {
        let (len, at) = (self.len(), dst.len());
        let n = len - from;
        dst.start[at..at + n].copy_from_slice(&self.start[from..len]);
        dst.id[at..at + n].copy_from_slice(&self.id[from..len]);
        dst.child[at..at + n].copy_from_slice(&self.child[from..len]);
        dst.len += n as u32;
        self.len = from as u32;
    }
}

/// A root-to-leaf path: the node at each level and the entry index taken there (at the leaf,
/// the leaf's rank of the key searched).
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

    #[inline]
    fn push(&mut self, node: u32, idx: usize) {
        self.node[self.len] = node;
        self.idx[self.len] = idx as u32;
        self.len += 1;
    }

    #[inline]
    fn leaf_level(&self) -> usize {
        self.len - 1
    }
}

/// The busy areas as `(start, id)` keys in ascending order (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct BusyIndex {
    nodes: Vec<Node>,
    /// Arena slots free for reuse.
    spare: Vec<u32>,
    root: u32,
    count: usize,
}

impl Default for BusyIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl BusyIndex {
    /// An empty index.
    pub(crate) fn new() -> Self {
        BusyIndex {
            nodes: vec![Node::empty(true)],
            spare: Vec::new(),
            root: 0,
            count: 0,
        }
    }

    /// Number of keys.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    #[inline]
    fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize]
    }

    /// Descend to the leaf where `(s, id)` belongs, recording the path.
    #[inline]
    fn descend(&self, s: u64, id: u32, path: &mut Path) {
        path.len = 0;
        let mut n_id = self.root;
        loop {
            let n = self.node(n_id);
            let r = n.rank(s, id);
            if n.leaf {
                path.push(n_id, r);
                return;
            }
            // The last child whose smallest key is <= the key, or the first.
            let c = r.saturating_sub(1);
            path.push(n_id, c);
            n_id = n.child[c];
        }
    }

    /// The greatest key `<= (addr, u32::MAX)`: the area with the highest start at or below
    /// `addr` (the youngest id among equal starts).
    pub(crate) fn last_at_or_below(&self, addr: u64) -> Option<(u64, u32)> {
        let mut n_id = self.root;
        loop {
            let n = self.node(n_id);
            let r = n.rank(addr, u32::MAX);
            if n.leaf {
                // Routing took a child whose smallest key is <= the key, unless the key is
                // below every key (then r == 0 here).
                return r.checked_sub(1).map(|i| n.key(i));
            }
            n_id = n.child[r.saturating_sub(1)];
        }
    }

    /// Adds `(s, id)`. False (and no change) if it is already there.
    pub(crate) fn insert(&mut self, s: u64, id: u32) -> bool {
        let mut path = Path::new();
        self.descend(s, id, &mut path);
        let lv = path.leaf_level();
        let leaf = self.node(path.node[lv]);
        let pos = path.idx[lv] as usize;
        if pos > 0 && leaf.key(pos - 1) == (s, id) {
            return false;
        }
        if pos == 0 {
            // A new smallest key of the whole tree (routing only reaches position 0 of a leaf
            // through the first child at every level): it becomes every ancestor's first key.
            for l in 0..lv {
                let n = &mut self.nodes[path.node[l] as usize];
                (n.start[0], n.id[0]) = (s, id);
            }
        }
        self.count += 1;
        self.insert_entry(&mut path, lv, pos, s, id, 0);
        true
    }

    /// Insert an entry at `pos` of the node at `level` of `path`, splitting full nodes upwards.
    /// The smallest keys above are already right (see [`BusyIndex::insert`]).
    fn insert_entry(
        &mut self,
        path: &mut Path,
        level: usize,
        pos: usize,
        s: u64,
        id: u32,
        child: u32,
    ) {
        let n_id = path.node[level] as usize;
        if self.nodes[n_id].len() < CAP {
            self.nodes[n_id].insert(pos, s, id, child);
            return;
        }
        // Split: the upper half goes to a new right sibling, then the entry goes to its side.
        let mut right = Node::empty(self.nodes[n_id].leaf);
        self.nodes[n_id].move_tail(MIN, &mut right);
        if pos <= MIN {
            self.nodes[n_id].insert(pos, s, id, child);
        } else {
            right.insert(pos - MIN, s, id, child);
        }
        let (rs, rid) = right.key(0);
        let r_node = self.new_node(right);
        if level == 0 {
            let (ls, lid) = self.nodes[n_id].key(0);
            let mut root = Node::empty(false);
            root.insert(0, ls, lid, n_id as u32);
            root.insert(1, rs, rid, r_node);
            self.root = self.new_node(root);
            return;
        }
        let c = path.idx[level - 1] as usize;
        self.insert_entry(path, level - 1, c + 1, rs, rid, r_node);
    }

    fn new_node(&mut self, node: Node) -> u32 {
        if let Some(id) = self.spare.pop() {
            self.nodes[id as usize] = node;
            return id;
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(node);
        id
    }

    /// Removes `(s, id)`. False (and no change) if it is not there.
    pub(crate) fn remove(&mut self, s: u64, id: u32) -> bool {
        let mut path = Path::new();
        self.descend(s, id, &mut path);
        let lv = path.leaf_level();
        let pos = path.idx[lv] as usize;
        if pos == 0 || self.node(path.node[lv]).key(pos - 1) != (s, id) {
            return false;
        }
        self.count -= 1;
        self.remove_entry(&mut path, lv, pos - 1);
        true
    }

    /// After the node at `level` of `path` changed its first key, store that key in its
    /// parent, and so on up while the node is its parent's first child.
    fn fix_min(&mut self, path: &Path, level: usize) {
        let mut l = level;
        while l > 0 {
            let key = self.node(path.node[l]).key(0);
            let c = path.idx[l - 1] as usize;
            let p = &mut self.nodes[path.node[l - 1] as usize];
            if p.key(c) == key {
                return;
            }
            (p.start[c], p.id[c]) = key;
            if c != 0 {
                return;
            }
            l -= 1;
        }
    }

    /// Remove entry `pos` of the node at `level` of `path`, borrowing from or merging with a
    /// sibling when the node falls below half full.
    fn remove_entry(&mut self, path: &mut Path, level: usize, pos: usize) {
        let n_id = path.node[level] as usize;
        self.nodes[n_id].remove(pos);
        if level == 0 {
            let n = &self.nodes[n_id];
            if !n.leaf && n.len() == 1 {
                self.root = n.child[0];
                self.spare.push(n_id as u32);
            }
            return;
        }
        if self.nodes[n_id].len() >= MIN {
            if pos == 0 {
                self.fix_min(path, level);
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
            let key = self.nodes[l].key(0);
            let pn = &mut self.nodes[parent];
            (pn.start[li], pn.id[li]) = key;
            // The parent's first key may have changed (li == 0); its entry `ri` goes.
            if li == 0 {
                self.fix_min(path, level - 1);
            }
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
        let (lk, rk) = (self.nodes[l].key(0), self.nodes[r].key(0));
        let pn = &mut self.nodes[parent];
        (pn.start[li], pn.id[li]) = lk;
        (pn.start[ri], pn.id[ri]) = rk;
        if li == 0 {
            self.fix_min(path, level - 1);
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

    /// The keys in ascending order.
    pub(crate) fn iter(&self) -> Iter<'_> {
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
        Iter { index: self, path }
    }

    /// Checks every structural invariant (tests only): key order, exact smallest keys in
    /// inner nodes, fill, equal leaf depth, the count.
    #[cfg(test)]
    pub(crate) fn check(&self) -> Result<(), String> {
        let mut seen = vec![false; self.nodes.len()];
        let mut leaf_depth = None;
        let mut keys = 0usize;
        self.check_node(self.root, 0, &mut leaf_depth, &mut seen, &mut keys)?;
        if keys != self.count {
            return Err(format!("count {} but {keys} keys", self.count));
        }
        Ok(())
    }

    /// (smallest key, largest key) of the subtree, after checking it.
    #[cfg(test)]
    #[allow(clippy::type_complexity)]
    fn check_node(
        &self,
        id: u32,
        depth: usize,
        leaf_depth: &mut Option<usize>,
        seen: &mut [bool],
        keys: &mut usize,
    ) -> Result<Option<((u64, u32), (u64, u32))>, String> {
        if std::mem::replace(&mut seen[id as usize], true) {
            return Err(format!("node {id} reached twice"));
        }
        let n = self.node(id);
        let least = match (depth, n.leaf) {
            (0, true) => 0,
            (0, false) => 2,
            _ => MIN,
        };
        if n.len() < least || n.len() > CAP {
            return Err(format!("node {id} at depth {depth} holds {}", n.len()));
        }
        let mut prev: Option<(u64, u32)> = None;
        let mut first = None;
        for i in 0..n.len() {
            let (lo, hi) = if n.leaf {
                *keys += 1;
                (n.key(i), n.key(i))
            } else {
                let Some((lo, hi)) =
                    self.check_node(n.child[i], depth + 1, leaf_depth, seen, keys)?
                else {
                    return Err(format!("node {id}: empty child {i}"));
                };
                if n.key(i) != lo {
                    return Err(format!("node {id} entry {i}: key is not the child's first"));
                }
                (lo, hi)
            };
            if prev.is_some_and(|p| p >= lo) {
                return Err(format!("node {id}: keys out of order at {i}"));
            }
            first.get_or_insert(lo);
            prev = Some(hi);
        }
        if n.leaf {
            match *leaf_depth {
                None => *leaf_depth = Some(depth),
                Some(d) if d != depth => return Err(format!("leaves at depths {d} and {depth}")),
                Some(_) => {}
            }
        }
        Ok(first.zip(prev))
    }
}

/// In-order iterator over the keys, leaf by leaf along a path.
pub(crate) struct Iter<'a> {
    index: &'a BusyIndex,
    path: Path,
}

impl Iterator for Iter<'_> {
    type Item = (u64, u32);

    fn next(&mut self) -> Option<(u64, u32)> {
        let lv = self.path.leaf_level();
        loop {
            let leaf = self.index.node(self.path.node[lv]);
            let i = self.path.idx[lv] as usize;
            if i < leaf.len() {
                self.path.idx[lv] += 1;
                return Some(leaf.key(i));
            }
            if !self.index.next_leaf(&mut self.path) {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::BusyIndex;

    /// A small deterministic generator (xorshift64*), so the test needs no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    fn same(ix: &BusyIndex, reference: &BTreeSet<(u64, u32)>) {
        ix.check().unwrap();
        assert_eq!(ix.len(), reference.len());
        assert!(ix.iter().eq(reference.iter().copied()));
    }

    #[test]
    fn matches_a_btreeset_under_random_operations() {
        for (seed, spread) in [(1u64, 64u64), (2, 4096), (3, 1 << 40), (4, 8)] {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut ix = BusyIndex::new();
            let mut reference = BTreeSet::new();
            for step in 0..40_000u32 {
                let s = rng.next() % spread;
                let id = (rng.next() % 4) as u32;
                // Grow for a while, then shrink, then mix, so merges and root changes happen.
                let insert = match step / 10_000 {
                    0 => !rng.next().is_multiple_of(4),
                    1 => rng.next().is_multiple_of(4),
                    _ => rng.next().is_multiple_of(2),
                };
                if insert {
                    assert_eq!(ix.insert(s, id), reference.insert((s, id)));
                } else {
                    let victim = if rng.next().is_multiple_of(2) {
                        reference.range((s, 0)..).next().copied()
                    } else {
                        Some((s, id))
                    };
                    if let Some((vs, vid)) = victim {
                        assert_eq!(ix.remove(vs, vid), reference.remove(&(vs, vid)));
                    }
                }
                let q = rng.next() % spread;
                assert_eq!(
                    ix.last_at_or_below(q),
                    reference.range(..=(q, u32::MAX)).next_back().copied()
                );
                if step % 997 == 0 {
                    same(&ix, &reference);
                }
            }
            same(&ix, &reference);
            let all: Vec<_> = reference.iter().copied().collect();
            for (s, id) in all {
                assert!(ix.remove(s, id));
            }
            same(&ix, &BTreeSet::new());
            assert_eq!(ix.last_at_or_below(u64::MAX), None);
        }
    }

    #[test]
    fn ascending_and_descending_runs() {
        let mut ix = BusyIndex::new();
        let mut reference = BTreeSet::new();
        for round in 0..3u64 {
            for i in 0..5_000u64 {
                let s = 0xffff_c900_0000_0000 + (round * 5_000 + i) * 8192;
                assert!(ix.insert(s, i as u32));
                reference.insert((s, i as u32));
            }
            same(&ix, &reference);
            for i in (0..4_000u64).rev() {
                let s = 0xffff_c900_0000_0000 + (round * 5_000 + i) * 8192;
                assert!(ix.remove(s, i as u32));
                reference.remove(&(s, i as u32));
            }
            same(&ix, &reference);
        }
    }
}
