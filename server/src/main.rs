use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match rebound::cli::run(rebound::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
