//! vmalloc-engine (under construction).
