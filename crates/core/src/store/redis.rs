//! The Redis backend (being written).

/// A store on Redis.
pub struct RedisStore;
