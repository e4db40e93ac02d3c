//! berth-proto: containerd task v2 protobuf definitions and ttrpc bindings.
