//! A small ordered map for the engine's hot bookkeeping (the busy VAs, the free page extents):
//! a B+tree of fat nodes in an arena, for `Copy` keys and values.
//!
//! Design: each node holds up to [`CAP`] entries as parallel arrays (keys, values, child
//! links), nodes live in a `Vec` with `u32` links and a free list, no `unsafe`. An inner node
//! stores, per child, the child's smallest key exactly, so routing takes the last child whose
//! smallest key is at or below the key searched. Every node but the root is at least half full
//! and all leaves are at the same depth: three levels hold 100k keys, and a map of a few keys
//! is a single leaf. Inside a node the search first tests the last key (the engine's keys
//! mostly arrive above every present one: new VAs at the top of the busy ones), then
//! binary-searches.
//!
//! Costs (n keys): insert, remove and the lookups descend once, O(log n); splits, borrows and
//! merges happen along the same path. Iteration is O(n). Nothing depends on hashing or on the
//! environment: the same calls build the same tree.

/// Entries per node.
const CAP: usize = 32;

/// Least entries in a node other than the root.
const MIN: usize = CAP / 2;

/// Room for any root-to-leaf path: a tree `d` levels deep has at least `2 * MIN^(d - 2)` leaves,
/// and `u32` links allow fewer than 2^32 nodes, so `d <= 9`.
const MAX_DEPTH: usize = 10;

/// A leaf (keys and values) or an inner node (children with their smallest key); slots at
/// and past `len` are junk.
#[derive(Debug, Clone, Copy)]
struct Node<K, V> {
    len: u32,
    leaf: bool,
    /// Leaf: the keys. Inner: the smallest key under each child.
    key: [K; CAP],
    /// Leaf: the values. Unused in an inner node.
    val: [V; CAP],
    /// Inner: child links. Unused in a leaf.
    child: [u32; CAP],
}

impl<K: Ord + Copy + Default, V: Copy + Default> Node<K, V> {
    fn empty(leaf: bool) -> Self {
        Node {
            len: 0,
            leaf,
            key: [K::default(); CAP],
            val: [V::default(); CAP],
            child: [0; CAP],
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.len as usize
    }

    /// How many keys are `<= k`.
    #[inline]
    fn rank(&self, k: &K) -> usize {
        let len = self.len();
        match len.checked_sub(1) {
            None => 0,
            // Most searches land at or above the last key.
            Some(last) if self.key[last] <= *k => len,
            Some(last) => self.key[..last].partition_point(|x| x <= k),
        }
    }

    fn insert(&mut self, pos: usize, k: K, v: V, child: u32) {
        // Plain loops: at these lengths (and mostly none, at the end) they beat a call to
        // memmove.
        let mut j = self.len();
        if self.leaf {
            while j > pos {
                self.key[j] = self.key[j - 1];
                self.val[j] = self.val[j - 1];
                j -= 1;
            }
            self.val[pos] = v;
        } else {
            while j > pos {
                self.key[j] = self.key[j - 1];
                self.child[j] = self.child[j - 1];
                j -= 1;
            }
            self.child[pos] = child;
        }
        self.key[pos] = k;
        self.len += 1;
    }

    fn remove(&mut self, pos: usize) -> (K, V, u32) {
        let len = self.len();
        let out = (self.key[pos], self.val[pos], self.child[pos]);
        if self.leaf {
            for j in pos..len - 1 {
                self.key[j] = self.key[j + 1];
                self.val[j] = self.val[j + 1];
            }
        } else {
            for j in pos..len - 1 {
                self.key[j] = self.key[j + 1];
                self.child[j] = self.child[j + 1];
            }
        }
        self.len -= 1;
        out
    }

    /// Move entries `from..` to the end of `dst`.
    fn move_tail(&mut self, from: usize, dst: &mut Self) {
        let (len, at) = (self.len(), dst.len());
        let n = len - from;
        dst.key[at..at + n].copy_from_slice(&self.key[from..len]);
        if self.leaf {
            dst.val[at..at + n].copy_from_slice(&self.val[from..len]);
        } else {
            dst.child[at..at + n].copy_from_slice(&self.child[from..len]);
        }
        dst.len += n as u32;
        self.len = from as u32;
    }
}

/// [`BpMap::remove_sorted`] rebuilds the map when the batch holds at least 1/`REBUILD_RATIO`
/// of its keys. Measured with cachegrind: a rebuild costs about 100 instructions per key of
/// the map, a removal about 250 per key removed.
const REBUILD_RATIO: usize = 2;

/// `0..n` cut into the fewest ranges of at most [`CAP`], as equal as can be: every range but
/// a lone one holds at least [`MIN`] (with `k = ceil(n / CAP) >= 2` ranges, `n > (k-1) CAP`,
/// so `n / k >= CAP / 2`).
fn even_chunks(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let k = n.div_ceil(CAP);
    let base = n.checked_div(k).unwrap_or(0);
    let extra = n.checked_rem(k).unwrap_or(0);
    (0..k).scan(0, move |at, i| {
        let len = base + usize::from(i < extra);
        let r = *at..*at + len;
        *at += len;
        Some(r)
    })
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

/// An ordered map of `Copy` keys and values (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct BpMap<K, V> {
    nodes: Vec<Node<K, V>>,
    /// Arena slots free for reuse.
    spare: Vec<u32>,
    root: u32,
    /// The last leaf (reached by the last child at every level): the keys above every other
    /// one, where the engine's keys mostly arrive and leave. Kept right by [`BpMap::settle`].
    rightmost: u32,
    count: usize,
}

impl<K: Ord + Copy + Default, V: Copy + Default> Default for BpMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Copy + Default, V: Copy + Default> BpMap<K, V> {
    /// An empty map.
    pub(crate) fn new() -> Self {
        BpMap {
            nodes: vec![Node::empty(true)],
            spare: Vec::new(),
            root: 0,
            rightmost: 0,
            count: 0,
        }
    }

    /// Number of keys.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    #[inline]
    fn node(&self, id: u32) -> &Node<K, V> {
        &self.nodes[id as usize]
    }

    /// Descend to the leaf where `k` belongs, recording the path.
    #[inline]
    fn descend(&self, k: &K, path: &mut Path) {
        path.len = 0;
        let mut id = self.root;
        loop {
            let n = self.node(id);
            let r = n.rank(k);
            if n.leaf {
                path.push(id, r);
                return;
            }
            // The last child whose smallest key is <= k, or the first.
            let c = r.saturating_sub(1);
            path.push(id, c);
            id = n.child[c];
        }
    }

    /// Finds the last leaf again after the shape changed (a split, a merge, a borrow, a
    /// rebuild): O(depth), on slow paths only.
    fn settle(&mut self) {
        let mut id = self.root;
        loop {
            let n = self.node(id);
            if n.leaf {
                self.rightmost = id;
                return;
            }
            id = n.child[n.len() - 1];
        }
    }

    /// The last leaf and its largest key, if `k` is at or above that key: such a key belongs
    /// in the last leaf, past or on its last entry, without a descent.
    #[inline]
    fn at_right_end(&self, k: &K) -> Option<(u32, usize)> {
        let id = self.rightmost;
        let n = self.node(id);
        let last = n.len().checked_sub(1)?;
        (n.key[last] <= *k).then_some((id, last))
    }

    /// The leaf where `k` belongs and its rank of `k` there, without recording a path.
    #[inline]
    fn leaf_of(&self, k: &K) -> (u32, usize) {
        let mut id = self.root;
        loop {
            let n = self.node(id);
            let r = n.rank(k);
            if n.leaf {
                return (id, r);
            }
            id = n.child[r.saturating_sub(1)];
        }
    }

    /// The greatest entry with a key `<= k`.
    pub(crate) fn last_at_or_below(&self, k: &K) -> Option<(K, V)> {
        if let Some((id, last)) = self.at_right_end(k) {
            let n = self.node(id);
            return Some((n.key[last], n.val[last]));
        }
        // Routing takes a child whose smallest key is <= k, unless k is below every key: then
        // the leaf's rank is 0.
        let (id, r) = self.leaf_of(k);
        let n = self.node(id);
        r.checked_sub(1).map(|i| (n.key[i], n.val[i]))
    }

    /// The value at `k`.
    #[cfg(test)]
    pub(crate) fn get(&self, k: &K) -> Option<V> {
        self.last_at_or_below(k)
            .and_then(|(key, v)| (key == *k).then_some(v))
    }

    /// The smallest entry with a key `> k`.
    pub(crate) fn first_above(&self, k: &K) -> Option<(K, V)> {
        let (id, r) = self.leaf_of(k);
        let n = self.node(id);
        if r < n.len() {
            return Some((n.key[r], n.val[r]));
        }
        // Past the end of this leaf: the first key of the next one, if any.
        let mut path = Path::new();
        self.descend(k, &mut path);
        if !self.next_leaf(&mut path) {
            return None;
        }
        let n = self.node(path.node[path.leaf_level()]);
        Some((n.key[0], n.val[0]))
    }

    /// The greatest entry with a key `<= k` and the smallest with a key `> k`, in one
    /// descent (two when they lie in different leaves).
    pub(crate) fn around(&self, k: &K) -> Around<K, V> {
        let (id, r) = self.leaf_of(k);
        let n = self.node(id);
        let below = r.checked_sub(1).map(|i| (n.key[i], n.val[i]));
        let above = if r < n.len() {
            Some((n.key[r], n.val[r]))
        } else {
            self.first_above(k)
        };
        (below, above)
    }

    /// The smallest entry with a key `> k`, as an [`Entry`] that can change or remove it
    /// without another descent in the common cases.
    pub(crate) fn first_above_entry(&mut self, k: &K) -> Option<Entry<'_, K, V>> {
        let (id, r) = self.leaf_of(k);
        if r < self.node(id).len() {
            return Some(Entry {
                map: self,
                leaf: id,
                pos: r,
            });
        }
        let mut path = Path::new();
        self.descend(k, &mut path);
        if !self.next_leaf(&mut path) {
            return None;
        }
        let leaf = path.node[path.leaf_level()];
        Some(Entry {
            map: self,
            leaf,
            pos: 0,
        })
    }

    /// The smallest entry with a key `> k`, its value mutable in place.
    pub(crate) fn first_above_mut(&mut self, k: &K) -> Option<(K, &mut V)> {
        let (id, r) = self.leaf_of(k);
        if r < self.node(id).len() {
            let n = &mut self.nodes[id as usize];
            return Some((n.key[r], &mut n.val[r]));
        }
        // Past the end of this leaf: the first entry of the next one, if any.
        let mut path = Path::new();
        self.descend(k, &mut path);
        let lv = path.leaf_level();
        if path.idx[lv] as usize == self.node(path.node[lv]).len() && !self.next_leaf(&mut path) {
            return None;
        }
        let n = &mut self.nodes[path.node[lv] as usize];
        let i = path.idx[lv] as usize;
        Some((n.key[i], &mut n.val[i]))
    }

    /// The entries with a key `>= k`, ascending.
    pub(crate) fn iter_from(&self, k: &K) -> Iter<'_, K, V> {
        let mut path = Path::new();
        self.descend(k, &mut path);
        let lv = path.leaf_level();
        let n = self.node(path.node[lv]);
        // The leaf's rank counts keys <= k; step back over an equal one.
        let i = path.idx[lv] as usize;
        if i > 0 && n.key[i - 1] == *k {
            path.idx[lv] -= 1;
        }
        Iter { map: self, path }
    }

    /// Every entry, ascending.
    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
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
        Iter { map: self, path }
    }

    /// Adds `k -> v`. False (and no change) if `k` is already there.
    pub(crate) fn insert(&mut self, k: K, v: V) -> bool {
        // Fast path: room in the leaf, and no ancestor to update (not a new smallest key, or
        // the leaf is the root). A key above all others goes to the end of the last leaf.
        let (id, pos) = match self.at_right_end(&k) {
            Some((id, last)) => (id, last + 1),
            None => self.leaf_of(&k),
        };
        let root = id == self.root;
        let n = &mut self.nodes[id as usize];
        if pos > 0 && n.key[pos - 1] == k {
            return false;
        }
        if (pos > 0 || root) && n.len() < CAP {
            n.insert(pos, k, v, 0);
            self.count += 1;
            return true;
        }
        let mut path = Path::new();
        self.descend(&k, &mut path);
        let lv = path.leaf_level();
        let pos = path.idx[lv] as usize;
        if pos > 0 && self.node(path.node[lv]).key[pos - 1] == k {
            return false;
        }
        if pos == 0 {
            // A new smallest key of the whole map (routing reaches position 0 of a leaf only
            // through the first child at every level): every ancestor's first key.
            for l in 0..lv {
                self.nodes[path.node[l] as usize].key[0] = k;
            }
        }
        self.count += 1;
        self.insert_entry(&mut path, lv, pos, k, v, 0);
        self.settle();
        true
    }

    /// Insert an entry at `pos` of the node at `level` of `path`, splitting full nodes upwards.
    /// The smallest keys above are already right (see [`BpMap::insert`]).
    fn insert_entry(&mut self, path: &mut Path, level: usize, pos: usize, k: K, v: V, child: u32) {
        let id = path.node[level] as usize;
        if self.nodes[id].len() < CAP {
            self.nodes[id].insert(pos, k, v, child);
            return;
        }
        // Split: the upper half goes to a new right sibling, then the entry goes to its side.
        let mut right = Node::empty(self.nodes[id].leaf);
        self.nodes[id].move_tail(MIN, &mut right);
        if pos <= MIN {
            self.nodes[id].insert(pos, k, v, child);
        } else {
            right.insert(pos - MIN, k, v, child);
        }
        let rkey = right.key[0];
        let rid = self.new_node(right);
        if level == 0 {
            let mut root = Node::empty(false);
            root.insert(0, self.nodes[id].key[0], V::default(), id as u32);
            root.insert(1, rkey, V::default(), rid);
            self.root = self.new_node(root);
            return;
        }
        let c = path.idx[level - 1] as usize;
        self.insert_entry(path, level - 1, c + 1, rkey, V::default(), rid);
    }

    fn new_node(&mut self, node: Node<K, V>) -> u32 {
        if let Some(id) = self.spare.pop() {
            self.nodes[id as usize] = node;
            return id;
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(node);
        id
    }

    /// Removes `k`, returning its value.
    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        // Fast path: the leaf is the root, or it stays at least half full and keeps its first
        // key (no ancestor to update).
        let (id, r) = match self.at_right_end(k) {
            Some((id, last)) => (id, last + 1),
            None => self.leaf_of(k),
        };
        let pos = r.checked_sub(1)?;
        let root = id == self.root;
        let n = &mut self.nodes[id as usize];
        if n.key[pos] != *k {
            return None;
        }
        if root || (pos > 0 && n.len() > MIN) {
            let (_, v, _) = n.remove(pos);
            self.count -= 1;
            return Some(v);
        }
        let mut path = Path::new();
        self.descend(k, &mut path);
        let lv = path.leaf_level();
        let pos = (path.idx[lv] as usize).checked_sub(1)?;
        let n = self.node(path.node[lv]);
        if n.key[pos] != *k {
            return None;
        }
        let v = n.val[pos];
        self.count -= 1;
        self.remove_entry(&mut path, lv, pos);
        self.settle();
        Some(v)
    }

    /// Removes every key of `batch` (ascending; absent keys are ignored). A batch that is a
    /// good part of the map is removed by rebuilding the map from the keys that stay, in one
    /// pass, instead of one descent per key; the map holds the same entries either way.
    pub(crate) fn remove_sorted(&mut self, batch: &[K]) {
        if batch.len().saturating_mul(REBUILD_RATIO) < self.count {
            // Highest first: each key then leaves from the right end of its leaf, without
            // shifting the others.
            for k in batch.iter().rev() {
                self.remove(k);
            }
            return;
        }
        let mut keep = Vec::with_capacity(self.count.saturating_sub(batch.len()));
        let mut j = 0;
        for (k, v) in self.iter() {
            while j < batch.len() && batch[j] < k {
                j += 1;
            }
            if j < batch.len() && batch[j] == k {
                j += 1;
            } else {
                keep.push((k, v));
            }
        }
        self.rebuild(&keep);
    }

    /// Replaces the contents with `entries` (ascending, distinct keys), built bottom-up with
    /// the entries spread evenly over the fewest nodes of each level.
    fn rebuild(&mut self, entries: &[(K, V)]) {
        self.nodes.clear();
        self.spare.clear();
        self.count = entries.len();
        let mut level: Vec<(K, u32)> = Vec::with_capacity(entries.len().div_ceil(CAP));
        for chunk in even_chunks(entries.len()) {
            let mut n = Node::empty(true);
            for (i, &(k, v)) in entries[chunk.clone()].iter().enumerate() {
                (n.key[i], n.val[i]) = (k, v);
            }
            n.len = chunk.len() as u32;
            level.push((n.key[0], self.nodes.len() as u32));
            self.nodes.push(n);
        }
        if level.is_empty() {
            self.nodes.push(Node::empty(true));
            self.root = 0;
            self.rightmost = 0;
            return;
        }
        while level.len() > 1 {
            let mut up = Vec::with_capacity(level.len().div_ceil(CAP));
            for chunk in even_chunks(level.len()) {
                let mut n = Node::empty(false);
                for (i, &(k, c)) in level[chunk.clone()].iter().enumerate() {
                    (n.key[i], n.child[i]) = (k, c);
                }
                n.len = chunk.len() as u32;
                up.push((n.key[0], self.nodes.len() as u32));
                self.nodes.push(n);
            }
            level = up;
        }
        self.root = level[0].1;
        self.settle();
    }

    /// After the node at `level` of `path` changed its first key, store that key in its
    /// parent, and so on up while the node is its parent's first child.
    fn fix_min(&mut self, path: &Path, level: usize) {
        let mut l = level;
        while l > 0 {
            let k = self.node(path.node[l]).key[0];
            let c = path.idx[l - 1] as usize;
            let p = &mut self.nodes[path.node[l - 1] as usize];
            if p.key[c] == k {
                return;
            }
            p.key[c] = k;
            if c != 0 {
                return;
            }
            l -= 1;
        }
    }

    /// Remove entry `pos` of the node at `level` of `path`, borrowing from or merging with a
    /// sibling when the node falls below half full.
    fn remove_entry(&mut self, path: &mut Path, level: usize, pos: usize) {
        let id = path.node[level] as usize;
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
            self.nodes[parent].key[li] = self.nodes[l].key[0];
            // The parent's first key may have changed (li == 0); then its entry `ri` goes.
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
        self.nodes[parent].key[li] = self.nodes[l].key[0];
        self.nodes[parent].key[ri] = self.nodes[r].key[0];
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

    /// Checks every structural invariant: key order, exact smallest keys in inner nodes,
    /// fill, equal leaf depth, the count, the cached last leaf, and every arena slot either
    /// in use or spare, once. O(n); never panics, whatever the arena holds.
    pub(crate) fn check(&self) -> Result<(), String>
    where
        K: std::fmt::Debug,
    {
        let mut seen = vec![false; self.nodes.len()];
        let mut leaf_depth = None;
        let mut keys = 0usize;
        self.check_node(self.root, 0, &mut leaf_depth, &mut seen, &mut keys)?;
        if keys != self.count {
            return Err(format!("count {} but {keys} keys", self.count));
        }
        let mut id = self.root;
        while !self.node(id).leaf {
            let n = self.node(id);
            id = n.child[n.len() - 1];
        }
        if id != self.rightmost {
            return Err(format!("last leaf {id}, cached {}", self.rightmost));
        }
        for &s in &self.spare {
            match seen.get_mut(s as usize) {
                Some(slot) if !*slot => *slot = true,
                _ => {
                    return Err(format!(
                        "spare slot {s} out of bounds, in use or listed twice"
                    ))
                }
            }
        }
        if let Some(lost) = seen.iter().position(|&s| !s) {
            return Err(format!("slot {lost} neither spare nor in use"));
        }
        Ok(())
    }

    /// (smallest key, largest key) of the subtree, after checking it.
    fn check_node(
        &self,
        id: u32,
        depth: usize,
        leaf_depth: &mut Option<usize>,
        seen: &mut [bool],
        keys: &mut usize,
    ) -> Result<Option<(K, K)>, String>
    where
        K: std::fmt::Debug,
    {
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
        let least = match (depth, n.leaf) {
            (0, true) => 0,
            (0, false) => 2,
            _ => MIN,
        };
        if n.len() < least || n.len() > CAP {
            return Err(format!("node {id} at depth {depth} holds {}", n.len()));
        }
        let mut prev: Option<K> = None;
        let mut first = None;
        for i in 0..n.len() {
            let (lo, hi) = if n.leaf {
                *keys += 1;
                (n.key[i], n.key[i])
            } else {
                let Some((lo, hi)) =
                    self.check_node(n.child[i], depth + 1, leaf_depth, seen, keys)?
                else {
                    return Err(format!("node {id}: empty child {i}"));
                };
                if n.key[i] != lo {
                    return Err(format!(
                        "node {id} entry {i}: key {:?}, child's first {lo:?}",
                        n.key[i]
                    ));
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

/// What [`BpMap::around`] finds: the entry at or below a key, and the one above it.
pub(crate) type Around<K, V> = (Option<(K, V)>, Option<(K, V)>);

/// One entry of a [`BpMap`], found by [`BpMap::first_above_entry`].
pub(crate) struct Entry<'a, K, V> {
    map: &'a mut BpMap<K, V>,
    leaf: u32,
    pos: usize,
}

impl<K: Ord + Copy + Default, V: Copy + Default> Entry<'_, K, V> {
    /// The entry's key.
    pub(crate) fn key(&self) -> K {
        self.map.node(self.leaf).key[self.pos]
    }

    /// The entry's value.
    pub(crate) fn value(&self) -> V {
        self.map.node(self.leaf).val[self.pos]
    }

    /// Replaces the entry's value.
    pub(crate) fn set_value(&mut self, v: V) {
        self.map.nodes[self.leaf as usize].val[self.pos] = v;
    }

    /// Removes the entry: in place when no ancestor changes (the leaf is the root, or it
    /// keeps its first key and stays at least half full), else through [`BpMap::remove`].
    pub(crate) fn remove(self) {
        let root = self.leaf == self.map.root;
        let n = &mut self.map.nodes[self.leaf as usize];
        if root || (self.pos > 0 && n.len() > MIN) {
            n.remove(self.pos);
            self.map.count -= 1;
        } else {
            let k = n.key[self.pos];
            self.map.remove(&k);
        }
    }
}

/// In-order iterator over the entries, leaf by leaf along a path.
pub(crate) struct Iter<'a, K, V> {
    map: &'a BpMap<K, V>,
    path: Path,
}

impl<K: Ord + Copy + Default, V: Copy + Default> Iterator for Iter<'_, K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        let lv = self.path.leaf_level();
        loop {
            let leaf = self.map.node(self.path.node[lv]);
            let i = self.path.idx[lv] as usize;
            if i < leaf.len() {
                self.path.idx[lv] += 1;
                return Some((leaf.key[i], leaf.val[i]));
            }
            if !self.map.next_leaf(&mut self.path) {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::ops::Bound::{Excluded, Unbounded};

    use super::BpMap;

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

    fn same(m: &BpMap<(u64, u32), u64>, reference: &BTreeMap<(u64, u32), u64>) {
        m.check().unwrap();
        assert_eq!(m.len(), reference.len());
        assert!(m.iter().eq(reference.iter().map(|(&k, &v)| (k, v))));
    }

    #[test]
    fn matches_a_btreemap_under_random_operations() {
        for (seed, spread) in [(1u64, 64u64), (2, 4096), (3, 1 << 40), (4, 8)] {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut m = BpMap::new();
            let mut reference = BTreeMap::new();
            for step in 0..40_000u64 {
                let k = (rng.next() % spread, (rng.next() % 4) as u32);
                // Grow for a while, then shrink, then mix, so merges and root changes happen.
                let insert = match step / 10_000 {
                    0 => !rng.next().is_multiple_of(4),
                    1 => rng.next().is_multiple_of(4),
                    _ => rng.next().is_multiple_of(2),
                };
                if insert {
                    let fresh = !reference.contains_key(&k);
                    assert_eq!(m.insert(k, step), fresh);
                    reference.entry(k).or_insert(step);
                } else {
                    let victim = if rng.next().is_multiple_of(2) {
                        reference.range(k..).next().map(|(&k, _)| k)
                    } else {
                        Some(k)
                    };
                    if let Some(v) = victim {
                        assert_eq!(m.remove(&v), reference.remove(&v));
                    }
                }
                let q = (rng.next() % spread, (rng.next() % 4) as u32);
                let below = reference.range(..=q).next_back().map(|(&k, &v)| (k, v));
                assert_eq!(m.last_at_or_below(&q), below);
                assert_eq!(m.get(&q), reference.get(&q).copied());
                assert!(m
                    .iter_from(&q)
                    .take(3)
                    .eq(reference.range(q..).take(3).map(|(&k, &v)| (k, v))));
                let above = reference.range((Excluded(q), Unbounded)).next();
                let above = above.map(|(&k, &v)| (k, v));
                assert_eq!(m.first_above(&q), above);
                assert_eq!(m.around(&q), (below, above));
                if step % 5 == 0 {
                    // Through an Entry: bump the value, or remove it.
                    if let Some(mut e) = m.first_above_entry(&q) {
                        let (k, v) = (e.key(), e.value());
                        if step % 10 == 0 {
                            e.remove();
                            reference.remove(&k);
                        } else {
                            e.set_value(v + 7);
                            *reference.get_mut(&k).unwrap() += 7;
                        }
                    }
                }
                let above = reference.range((Excluded(q), Unbounded)).next();
                let above = above.map(|(&k, &v)| (k, v));
                let got = m.first_above_mut(&q).map(|(k, v)| {
                    *v += 1;
                    (k, *v - 1)
                });
                assert_eq!(got, above);
                if let Some((k, _)) = above {
                    *reference.get_mut(&k).unwrap() += 1;
                }
                if step % 997 == 0 {
                    same(&m, &reference);
                }
            }
            same(&m, &reference);
            let all: Vec<_> = reference.keys().copied().collect();
            for k in all {
                assert_eq!(m.remove(&k), reference.remove(&k));
            }
            same(&m, &reference);
            assert_eq!(m.last_at_or_below(&(u64::MAX, u32::MAX)), None);
            assert!(m.first_above_mut(&(0, 0)).is_none());
        }
    }

    #[test]
    fn batch_removal_by_rebuild_or_one_by_one() {
        let mut rng = Rng(77);
        for n in [0usize, 1, 31, 32, 33, 64, 65, 1000, 20_000] {
            for frac in [1usize, 2, 7, 9, 50] {
                let mut m = BpMap::new();
                let mut reference = BTreeMap::new();
                for i in 0..n as u64 {
                    m.insert((i * 3, 0u32), i);
                    reference.insert((i * 3, 0u32), i);
                }
                // Every `frac`-th key, plus some absent ones.
                let mut batch: Vec<(u64, u32)> = Vec::new();
                for i in 0..n as u64 {
                    if (i as usize).is_multiple_of(frac) || rng.next().is_multiple_of(3) {
                        batch.push((i * 3 + rng.next() % 2, 0));
                    }
                }
                for k in &batch {
                    reference.remove(k);
                }
                m.remove_sorted(&batch);
                same(&m, &reference);
                // The map keeps working after a rebuild.
                for i in 0..200u64 {
                    let k = (i * 7 + 1, 1);
                    assert_eq!(m.insert(k, i), reference.insert(k, i).is_none());
                }
                same(&m, &reference);
            }
        }
    }

    #[test]
    fn ascending_and_descending_runs() {
        let mut m = BpMap::new();
        let mut reference = BTreeMap::new();
        for round in 0..3u64 {
            for i in 0..5_000u64 {
                let k = (0xffff_c900_0000_0000 + (round * 5_000 + i) * 8192, i as u32);
                assert!(m.insert(k, i));
                reference.insert(k, i);
            }
            same(&m, &reference);
            for i in (0..4_000u64).rev() {
                let k = (0xffff_c900_0000_0000 + (round * 5_000 + i) * 8192, i as u32);
                assert_eq!(m.remove(&k), Some(i));
                reference.remove(&k);
            }
            same(&m, &reference);
        }
    }
}
