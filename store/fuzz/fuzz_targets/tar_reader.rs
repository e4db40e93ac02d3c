//! The streaming tar reader and entry-name classification on arbitrary bytes: never panic,
//! and no classified path ever starts with `..` or `/`.
#![no_main]

use berth_store::unpack::{path, tar};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = tar::TarReader::new(data);
    let mut buf = [0u8; 4096];
    for _ in 0..10_000 {
        match r.next_entry() {
            Ok(Some(e)) => {
                match path::classify(&e.path) {
                    Ok(path::Target::Path(p)) | Ok(path::Target::Whiteout(p)) | Ok(path::Target::Opaque(p)) => {
                        assert!(!p.is_absolute());
                        assert!(p.components().all(|c| matches!(c, std::path::Component::Normal(_))));
                    }
                    Err(_) => {}
                }
                while let Ok(n) = r.read_data(&mut buf) {
                    if n == 0 {
                        break;
                    }
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
});
