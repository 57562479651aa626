//! A fake OpenAI-compatible provider with fault injection; see
//! the library `clawgate_mock`. Prints `listening on http://ADDR` once bound.

use std::net::SocketAddr;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "clawgate-mock",
    version,
    about = "A fake OpenAI-compatible provider for tests and demos"
)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    #[command(flatten)]
    options: clawgate_mock::MockOptions,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    clawgate_mock::serve(listener, cli.options).await
}
