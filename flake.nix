{
  description = "satman: ARTIQ DRTIO satellite firmware for the Kasli-SoC (Zynq-7000)";

  # Same tools as .ci/run installs on Debian: a nightly Rust with rust-src
  # (the firmware builds core and alloc for armv7a-none-eabihf), QEMU >= 8
  # for the two-CPU xilinx-zynq-a9 machine, valgrind for the benchmarks.
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs = { self, nixpkgs, rust-overlay }:
    let
      system = "x86_64-linux";
      pkgs = import nixpkgs {
        inherit system;
        overlays = [ (import rust-overlay) ];
      };
      rust = pkgs.rust-bin.nightly.latest.default.override {
        extensions = [ "rust-src" "clippy" "rustfmt" ];
      };
      rustPlatform = pkgs.makeRustPlatform { cargo = rust; rustc = rust; };

      # The firmware for one board. -Zbuild-std needs the standard library's
      # own dependencies vendored as well, which buildRustPackage does not do
      # for us: hence the extra cargoLock entry pointing at rust-src's lock file.
      firmware = board: rustPlatform.buildRustPackage {
        pname = "satman-${board}";
        version = "0.1.0";
        src = ./.;
        cargoLock = {
          lockFile = ./Cargo.lock;
          extraLockFiles = [ "${rust}/lib/rustlib/src/rust/library/Cargo.lock" ];
        };
        buildPhase = ''
          runHook preBuild
          export SATMAN_SKIP_FIRMWARE=1
          cargo build --release --offline \
            -Zbuild-std=core,alloc --target armv7a-none-eabihf \
            -p satman --features ${board}
          runHook postBuild
        '';
        installPhase = ''
          mkdir -p $out
          cp target/armv7a-none-eabihf/release/satman $out/satman.elf
        '';
        doCheck = false;
      };
    in {
      packages.${system} = {
        satman-qemu = firmware "qemu";
        satman-kasli-soc = firmware "kasli_soc";
        default = self.packages.${system}.satman-kasli-soc;
      };

      devShells.${system}.default = pkgs.mkShell {
        packages = [ rust pkgs.qemu pkgs.valgrind pkgs.git ];
        # build.rs calls `rustup run nightly cargo`; in the Nix shell the one
        # toolchain on PATH is already nightly.
        SATMAN_CARGO = "cargo";
      };
    };
}
