//! One link flag for the kabar binary, where the platform supports it.
//!
//! `-z pack-relative-relocs` stores the binary's relative relocations (pointers in its
//! tables that the loader fixes up to where the binary was placed in memory) in a packed
//! form: 1.8 MB of relocations become 30 kB, and the loader no longer reads the 1.8 MB
//! into memory at every start: the cold ingest's peak resident memory fell from 46.0 to
//! 43.3 MiB (README, performance). It needs glibc 2.36 or later to run (the linker
//! records that requirement), so it is used only when building for this machine's own
//! glibc and that glibc is new enough; a linker that does not know the flag ignores it.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let native = var("TARGET") == var("HOST");
    if native && var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" && glibc_at_least(2, 36)
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether this machine's glibc (`getconf GNU_LIBC_VERSION`: "glibc 2.36") is at least `major.minor`.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else { return false };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.trim().trim_start_matches("glibc ").split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}
