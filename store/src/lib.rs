//! berth-store: content-addressed OCI image store.
