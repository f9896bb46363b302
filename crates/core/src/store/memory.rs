//! The embedded in-memory backend (being written).

/// A store in this process's memory.
pub struct MemoryStore;
