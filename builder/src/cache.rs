//! Step cache keys.
