fn main() {
    let code = match mcce::cli::parse(std::env::args_os().skip(1)) {
        Ok(cmd) => match mcce::commands::execute(cmd) {
            Ok(()) => mcce::exit::OK,
            Err(f) => {
                eprintln!("mcce: {f}");
                f.code
            }
        },
        Err(f) => {
            eprintln!("mcce: {f}");
            f.code
        }
    };
    std::process::exit(code);
}
