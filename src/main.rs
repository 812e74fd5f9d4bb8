fn main() {
    eprintln!("tflm: CLI coming up");
    std::process::exit(2);
}
