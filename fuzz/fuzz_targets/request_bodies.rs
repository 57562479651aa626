//! The request-body readers of the front ends on arbitrary bytes; the
//! first byte picks the front end.
#![no_main]

use bytes::Bytes;
use clawgate::wire::anthropic::MessagesRequest;
use clawgate::translate::responses_client;
use clawgate::wire::openai::ChatRequest;
use clawgate::wire::responses::ResponsesRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            if let Ok(request) = ChatRequest::parse(Bytes::copy_from_slice(body)) {
                let _ = request.model();
            }
        }
        1 => {
            let _ = MessagesRequest::parse(body);
        }
        _ => {
            if let Ok(request) = ResponsesRequest::parse(body) {
                if let Ok((chat, _)) = responses_client::request(&request, None) {
                    let _ = ChatRequest::parse(chat);
                }
            }
        }
    }
});
