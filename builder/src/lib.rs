//! berth-build: Dockerfiles to OCI images.
