//! Any text as a zoo.cfg: parsing ends in a config or a located error, never a panic.
//! (Address resolution is left out: it would send the fuzzer to DNS.)

#![no_main]

use libfuzzer_sys::fuzz_target;
use paddock::zoo_cfg::ZooCfg;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match ZooCfg::parse("fuzz.cfg", text) {
        Ok(cfg) => {
            let (min, max) = cfg.session_timeouts();
            assert!(min <= max);
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
