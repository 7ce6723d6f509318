//! Reading firmware ELF files with the `object` crate (no binutils needed).

use crate::Error;
use object::{Object, ObjectSection, ObjectSymbol, SectionFlags};
use std::path::Path;

/// Sizes in the sense of Berkeley `size`: `text` = allocated read-only sections (code, vector table,
/// constants), `data` = allocated writable sections with contents (initial values, stored in flash and
/// copied to RAM), `bss` = allocated zero-initialized sections (RAM only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sizes {
    /// Read-only bytes in flash.
    pub text: u64,
    /// Initialized RAM bytes (also in flash).
    pub data: u64,
    /// Zero-initialized RAM bytes.
    pub bss: u64,
}

impl Sizes {
    /// Flash bytes: `text + data`.
    pub fn flash(&self) -> u64 {
        self.text + self.data
    }
    /// Static RAM bytes: `data + bss`.
    pub fn ram(&self) -> u64 {
        self.data + self.bss
    }
}

const SHF_ALLOC: u64 = 0x2;
const SHF_WRITE: u64 = 0x1;
const SHT_NOBITS: u32 = 8;

/// text/data/bss of an ELF file.
pub fn sizes(path: &Path) -> Result<Sizes, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let file = object::File::parse(&*bytes).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let mut s = Sizes::default();
    for section in file.sections() {
        let SectionFlags::Elf { sh_flags, sh_type } = section.flags() else { continue };
        let (sh_flags, sh_type) = (sh_flags.0, sh_type.0);
        if sh_flags & SHF_ALLOC == 0 || section.size() == 0 {
            continue;
        }
        let nobits = sh_type == SHT_NOBITS;
        if nobits {
            s.bss += section.size();
        } else if sh_flags & SHF_WRITE != 0 {
            s.data += section.size();
        } else {
            s.text += section.size();
        }
    }
    Ok(s)
}

/// Address of symbol `name` (Thumb bit cleared).
pub fn symbol_address(path: &Path, name: &str) -> Result<u64, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let file = object::File::parse(&*bytes).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    file.symbols()
        .find(|s| s.name() == Ok(name))
        .map(|s| s.address() & !1)
        .ok_or_else(|| Error::Io(format!("{}: no symbol `{name}`", path.display())))
}

/// Every symbol name of an ELF file (as stored: mangled).
pub fn symbol_names(path: &Path) -> Result<Vec<String>, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let file = object::File::parse(&*bytes).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    Ok(file.symbols().filter_map(|s| s.name().ok().map(str::to_string)).collect())
}

/// Size of the section called `name` (0 when there is none).
pub fn section_size(path: &Path, name: &str) -> Result<u64, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let file = object::File::parse(&*bytes).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    Ok(file.section_by_name(name).map_or(0, |s| s.size()))
}

/// The symbols of the Rust panic machinery in a list of (mangled) symbol names: the panic entry points of
/// `core` (`core::panicking::*`: `panic_fmt`, `panic_bounds_check`, `panic_const_*`, …), the slice-index,
/// `unwrap` and `expect` failures, and the panic handler (`rust_begin_unwind`), which the linker keeps only
/// when something can call it. An inference path without any of them cannot panic.
pub fn panic_symbols(names: &[String]) -> Vec<String> {
    const MARKS: [&str; 9] = [
        "panicking",
        "panic_fmt",
        "panic_bounds_check",
        "slice_index",
        "slice_end_index",
        "slice_start_index",
        "unwrap_failed",
        "expect_failed",
        "rust_begin_unwind",
    ];
    let mut found: Vec<String> = names.iter().filter(|n| MARKS.iter().any(|m| n.contains(m))).cloned().collect();
    found.sort();
    found.dedup();
    found
}
