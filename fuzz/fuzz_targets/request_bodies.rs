//! The request-body readers of the front ends on arbitrary bytes; the
//! first byte picks the front end.
#![no_main]

use bytes::Bytes;
use clawgate::wire::anthropic::MessagesRequest;
use clawgate::wire::openai::ChatRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 2 {
        0 => {
            if let Ok(request) = ChatRequest::parse(Bytes::copy_from_slice(body)) {
                let _ = request.model();
            }
        }
        // The Responses API front end (its own branch) becomes `2` here.
        _ => {
            let _ = MessagesRequest::parse(body);
        }
    }
});
