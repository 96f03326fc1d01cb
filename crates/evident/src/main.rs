fn main() {
    std::process::exit(evident::main_with_args(std::env::args_os()));
}
