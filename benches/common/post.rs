//! A request as the benchmarks' clients send it: a JSON body posted to a
//! front end, its answer read to the end.

use futures_util::StreamExt;

/// Posts `body` to `url` and reads the answer whole: its status and bytes.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
) -> Result<(reqwest::StatusCode, Vec<u8>), String> {
    let response = (client.post(url))
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let mut chunks = response.bytes_stream();
    let mut answer = Vec::new();
    while let Some(chunk) = chunks.next().await {
        answer.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
    }
    Ok((status, answer))
}
