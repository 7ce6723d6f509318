//! The board table: one entry per firmware crate, shared by firmware build scripts and the host harness.

/// A firmware crate and the machine it runs on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Board {
    /// Crate (and directory) under `boards/`, e.g. `qemu-mps2-an386`.
    pub krate: &'static str,
    /// QEMU `-machine` name, or the real board's name.
    pub machine: &'static str,
    /// Core, for reports.
    pub core: &'static str,
    /// Target triple (the crate's `.cargo/config.toml` selects it).
    pub target: &'static str,
    /// Flash bytes (memory.x).
    pub flash: usize,
    /// RAM bytes (memory.x).
    pub ram: usize,
    /// Flash kept for code and the runtime (the suite firmware's code is about 95 KiB with its panic and
    /// formatting machinery); the rest is the budget for model data.
    pub code_reserve: usize,
    /// RAM kept for the stack and statics; the rest is the budget for arenas.
    pub stack_reserve: usize,
    /// Instructions per SysTick tick under `-icount shift=0` (1 ns per instruction ÷ core clock period).
    pub insns_per_tick: f64,
    /// Whether the crate also builds the single-layer benchmark firmware (`<crate>-bench`).
    pub bench: bool,
    /// Whether the firmware logs through defmt (real boards: the build script adds `-Tdefmt.x`).
    pub defmt: bool,
    /// probe-rs chip of a real board (its `.cargo/config.toml` runner); `None` for QEMU machines.
    pub probe_chip: Option<&'static str>,
}

impl Board {
    /// Flash bytes available to model data.
    pub fn flash_budget(&self) -> usize {
        self.flash.saturating_sub(self.code_reserve)
    }
    /// RAM bytes available to arenas and scratch.
    pub fn ram_budget(&self) -> usize {
        self.ram.saturating_sub(self.stack_reserve)
    }
}

const KIB: usize = 1024;

/// Every QEMU firmware crate.
pub const QEMU_BOARDS: [Board; 4] = [
    Board {
        krate: "qemu-lm3s6965evb",
        machine: "lm3s6965evb",
        core: "Cortex-M3",
        target: "thumbv7m-none-eabi",
        flash: 256 * KIB,
        ram: 64 * KIB,
        code_reserve: 112 * KIB,
        stack_reserve: 8 * KIB,
        insns_per_tick: 80.0,
        bench: false,
        defmt: false,
        probe_chip: None,
    },
    Board {
        krate: "qemu-mps2-an386",
        machine: "mps2-an386",
        core: "Cortex-M4F",
        target: "thumbv7em-none-eabihf",
        flash: 4096 * KIB,
        ram: 4096 * KIB,
        code_reserve: 64 * KIB,
        stack_reserve: 16 * KIB,
        insns_per_tick: 40.0,
        bench: true,
        defmt: false,
        probe_chip: None,
    },
    Board {
        krate: "qemu-mps2-an505",
        machine: "mps2-an505",
        core: "Cortex-M33",
        target: "thumbv8m.main-none-eabihf",
        flash: 4096 * KIB,
        ram: 2048 * KIB,
        code_reserve: 64 * KIB,
        stack_reserve: 16 * KIB,
        insns_per_tick: 50.0,
        bench: false,
        defmt: false,
        probe_chip: None,
    },
    Board {
        krate: "qemu-microbit",
        machine: "microbit",
        core: "Cortex-M0",
        target: "thumbv6m-none-eabi",
        flash: 256 * KIB,
        ram: 16 * KIB,
        code_reserve: 112 * KIB,
        stack_reserve: 6 * KIB,
        insns_per_tick: 62.5,
        bench: false,
        defmt: false,
        probe_chip: None,
    },
];

/// Real boards: their firmware builds in CI and runs with `probe-rs run` on the hardware. `insns_per_tick`
/// is 1: they count core cycles with DWT CYCCNT (or SysTick on the Cortex-M0+).
pub const REAL_BOARDS: [Board; 3] = [
    Board {
        krate: "nrf52840-dk",
        machine: "nrf52840-dk",
        core: "Cortex-M4F",
        target: "thumbv7em-none-eabihf",
        flash: 1024 * KIB,
        ram: 256 * KIB,
        code_reserve: 128 * KIB,
        stack_reserve: 16 * KIB,
        insns_per_tick: 1.0,
        bench: false,
        defmt: true,
        probe_chip: Some("nRF52840_xxAA"),
    },
    Board {
        krate: "rpi-pico",
        machine: "rpi-pico",
        core: "Cortex-M0+",
        target: "thumbv6m-none-eabi",
        flash: 2048 * KIB - 256,
        ram: 256 * KIB,
        code_reserve: 128 * KIB,
        stack_reserve: 16 * KIB,
        insns_per_tick: 1.0,
        bench: false,
        defmt: true,
        probe_chip: Some("RP2040"),
    },
    Board {
        krate: "nucleo-f411re",
        machine: "nucleo-f411re",
        core: "Cortex-M4F",
        target: "thumbv7em-none-eabihf",
        flash: 512 * KIB,
        ram: 128 * KIB,
        code_reserve: 128 * KIB,
        stack_reserve: 16 * KIB,
        insns_per_tick: 1.0,
        bench: false,
        defmt: true,
        probe_chip: Some("STM32F411RETx"),
    },
];

/// The board of firmware crate `krate` (QEMU or real).
pub fn board(krate: &str) -> Option<&'static Board> {
    QEMU_BOARDS.iter().chain(REAL_BOARDS.iter()).find(|b| b.krate == krate)
}
