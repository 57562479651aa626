//! The config reader on arbitrary text: size and depth bounds, JSON5
//! parsing, validation. It must return, never panic or overflow the stack.
#![no_main]

use clawgate::config::{Environment, Secrets, load_str};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Environment::from_pairs([("MOONSHOT_API_KEY", "sk-fuzz-moonshot-0123456789")]);
    if let Ok(loaded) = load_str(text, &env, Secrets::Offline) {
        let _ = loaded.config.redacted();
        let _ = loaded.config.chain(None);
    }
});
