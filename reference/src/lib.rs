//! vmalloc-reference (under construction).
