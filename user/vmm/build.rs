//! Links the VMM with its linker script: segments page-aligned, and `.bss` inside
//! `.data` so that every loadable segment has file size equal to memory size (the
//! roottask's ELF checks, the same as the kernel's for the roottask, require it).

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
