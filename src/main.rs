//! The `tokenplan` command line: parse, call the library, print.

mod cli;

fn main() {
    std::process::exit(cli::run());
}
