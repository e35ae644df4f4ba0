#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| securityvision::fuzz_targets::camera_message(input));
