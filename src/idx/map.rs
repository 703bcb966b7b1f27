//! Memory-mapping and gzip caching.
