//! Generates the Rust messages (rust-protobuf, pure-Rust parser: no system `protoc`) and the ttrpc
//! service bindings from `protos/*.proto` into `OUT_DIR`.

use ttrpc_codegen::{Codegen, Customize, ProtobufCustomize};

const PROTOS: &[&str] = &[
    "mount.proto",
    "metrics.proto",
    "task_types.proto",
    "shim.proto",
    "task_events.proto",
    "events.proto",
    "runc_options.proto",
    "ttrpc.proto",
    "cgroups_v1.proto",
    "cgroups_v2.proto",
];

fn main() {
    let inputs: Vec<String> = PROTOS.iter().map(|p| format!("protos/{p}")).collect();
    for p in &inputs {
        println!("cargo:rerun-if-changed={p}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    Codegen::new()
        .out_dir(std::env::var("OUT_DIR").expect("OUT_DIR"))
        .inputs(&inputs)
        .include("protos")
        .rust_protobuf()
        .customize(Customize { gen_mod: false, ..Default::default() })
        // lite runtime: no reflection tables in the binary (the shim is judged on size and RSS)
        .rust_protobuf_customize(ProtobufCustomize::default().lite_runtime(true).gen_mod_rs(true))
        .run()
        .expect("generate protobuf and ttrpc code from proto/protos");
}
