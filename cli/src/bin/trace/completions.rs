//! `trace completions SHELL`: a completion script for bash, zsh or fish, from the same clap
//! definitions the commands parse with, so it never falls behind them.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Print a shell completion script for trace's commands and options.
///
/// Examples:
///   trace completions bash > ~/.local/share/bash-completion/completions/trace
///   trace completions zsh > ~/.zfunc/_trace        (with fpath+=~/.zfunc before compinit)
///   trace completions fish > ~/.config/fish/completions/trace.fish
///
/// Exit status: 0, or 2 for an unknown shell.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_parser = ["bash", "zsh", "fish"])]
    shell: String,
}

pub(crate) fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let shell = match args.shell.as_str() {
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        _ => Shell::Bash,
    };
    clap_complete::generate(shell, &mut crate::Cli::command(), "trace", &mut std::io::stdout());
    Ok(())
}
