fn main() {
    let result = mcce::cmd::parse(std::env::args_os().skip(1)).and_then(mcce::cmd::execute);
    let unwritten = mcce::output::finish();
    let code = match result {
        // Stopped because stdout's reader went away (`| head`): done.
        Err(_) if mcce::output::reader_gone() => mcce::exit::OK,
        Err(f) => {
            eprintln!("mcce: {f}");
            f.code
        }
        Ok(()) => match unwritten {
            Some(f) => {
                eprintln!("mcce: {f}");
                f.code
            }
            None => mcce::exit::OK,
        },
    };
    std::process::exit(code);
}
