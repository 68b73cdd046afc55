#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailslotfs_fuzz::name_service(data));
