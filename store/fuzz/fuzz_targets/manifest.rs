//! Manifest/index/config/reference parsers on arbitrary bytes: never panic; whatever parses
//! re-serialises and parses again to the same value.
#![no_main]

use berth_store::oci::{self, Document};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for announced in ["", oci::media::OCI_MANIFEST, oci::media::DOCKER_LIST] {
        if let Ok(doc) = oci::parse_document(data, announced, "fuzz") {
            let again = match &doc {
                Document::Manifest(m) => serde_json::to_vec(m).unwrap(),
                Document::Index(i) => serde_json::to_vec(i).unwrap(),
            };
            let reparsed = oci::parse_document(&again, "", "fuzz").expect("re-serialised document parses");
            assert_eq!(std::mem::discriminant(&doc), std::mem::discriminant(&reparsed));
        }
    }
    let d = berth_store::Digest::sha256_of(data);
    let _ = oci::parse_config(data, &d);
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(r) = berth_store::Reference::parse(s) {
            let again = berth_store::Reference::parse(&r.to_string()).expect("normalised reference parses");
            assert_eq!(r, again);
        }
        let _ = berth_store::Digest::parse(s);
        let _ = berth_store::Platform::parse(s);
    }
});
