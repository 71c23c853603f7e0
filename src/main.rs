fn main() -> std::process::ExitCode {
    kabar::cli::main()
}
