//! Links the edu driver with its linker script: segments page-aligned, and `.bss` inside
//! `.data` so that every loadable segment has file size equal to memory size (the
//! roottask copies the program from its multiboot module page by page).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    if std::env::var("TARGET")
        .unwrap_or_default()
        .ends_with("-none")
    {
        println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
        println!("cargo:rustc-link-arg-bins=--no-pie");
    }
    println!("cargo:rerun-if-changed=link.ld");
}
