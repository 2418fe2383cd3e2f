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

      # The same set-up as scripts/setup-debian: rustup with stable (host
      # harness) and nightly + rust-src (firmware, kernels; build.rs and
      # kernels/build.sh call `rustup run nightly ...`).
      devShells.${system}.default = pkgs.mkShell {
        packages = [ pkgs.rustup pkgs.qemu pkgs.valgrind pkgs.git ];
        shellHook = ''
          rustup toolchain install stable --profile minimal >/dev/null
          rustup toolchain install nightly --profile minimal --component rust-src >/dev/null
        '';
      };
    };
}
