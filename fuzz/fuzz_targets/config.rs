#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

/// The file each input is written to, in a directory of this process's own.
fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sv-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("securityvision.toml")
    })
}

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    securityvision::fuzz_targets::configuration_file(input, file());
});
