use clap::Parser;

fn main() -> std::process::ExitCode {
    securityvision::allocator::return_freed_memory_promptly();
    let cli = securityvision::cli::Cli::parse();
    securityvision::commands::run(cli)
}
