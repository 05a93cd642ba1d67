fn main() {
    std::process::exit(mcce::cmd::main());
}
