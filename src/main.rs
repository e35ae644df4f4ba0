use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = securityvision::cli::Cli::parse();
    securityvision::commands::run(cli)
}
