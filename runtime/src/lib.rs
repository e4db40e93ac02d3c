//! berth-runtime: the OCI runtime library and the `berth` binary.
