fn main() {
    std::process::exit(mcce::main());
}
