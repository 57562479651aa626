# The clawgate workspace built with crane: the gateway and the `mock/` crate
# (cargo's default members, so the package holds both binaries, clawgate
# and clawgate-mock), optimised by profile where `llvm` is given (Linux);
# one dependency build is shared by every cargo check. Tests run once, in
# the nextest check.
{
  lib,
  craneLib,
  llvm ? null,
}:
let
  root = ../.;
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (craneLib.fileset.commonCargoSources root)
      # The built-in catalog, compiled in with include_str! (not a Cargo
      # source by crane's rules; the Nix modules read it too).
      ../src/catalog/catalog.json
      ../deny.toml
      # The release build's training run (benches/train.rs is a Cargo source).
      ../benches/pgo.sh
      ../benches/llvm-profdata.sh
      # Test data: the user's reference configs and the example configs.
      ../tests/fixtures
      (lib.fileset.fileFilter (file: file.hasExt "json5") ../examples)
    ];
  };
  # What the tests and clippy's --all-targets read besides: the pages
  # they hold the code to (include_str! of README.md and docs/*.md,
  # ARCHITECTURE.md's layer order) and the golden requests. Kept out of
  # the package's source, so that a change to a page rebuilds no binary.
  testSrc = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (lib.fileset.fromSource src)
      ../README.md
      ../ARCHITECTURE.md
      ../docs
      ../tests/golden
    ];
  };
  commonArgs = {
    inherit src;
    inherit (craneLib.crateNameFromCargoToml { cargoToml = ../Cargo.toml; }) pname version;
    strictDeps = true;
  };
  cargoArtifacts = craneLib.buildDepsOnly commonArgs;

  # Optimised by profile, as `benches/pgo.sh` says: the workspace built
  # instrumented, its gateway sent what its users send, then built with
  # the counts. Every crate is built again with flags of its own, so the
  # shared dependency build has nothing to give it. llvm-profdata is that
  # of the LLVM rustc was built with.
  optimised = lib.optionalAttrs (llvm != null) {
    cargoArtifacts = null;
    preBuild = ''
      export LLVM_PROFDATA=${llvm}/bin/llvm-profdata
      profile=$(bash benches/pgo.sh)
      export RUSTFLAGS="''${RUSTFLAGS:-} -Cprofile-use=$profile"
    '';
  };

  clawgate = craneLib.buildPackage (
    commonArgs
    // { inherit cargoArtifacts; }
    // optimised
    // {
      doCheck = false;
      meta = {
        description = "OpenAI-compatible gateway for Kimi, Kimi Code and OpenRouter with a fallback chain";
        license = with lib.licenses; [ mit asl20 ];
        mainProgram = "clawgate";
        platforms = lib.platforms.unix;
      };
    }
  );
in
{
  inherit clawgate;
  # The same build; only the program `nix run` starts differs.
  clawgate-mock = clawgate.overrideAttrs (old: {
    meta = old.meta // { mainProgram = "clawgate-mock"; };
  });

  checks = {
    clawgate-clippy = craneLib.cargoClippy (
      commonArgs
      // {
        inherit cargoArtifacts;
        src = testSrc;
        cargoClippyExtraArgs = "--all-targets -- --deny warnings";
      }
    );
    clawgate-fmt = craneLib.cargoFmt { inherit src; };
    clawgate-nextest = craneLib.cargoNextest (
      commonArgs
      // {
        inherit cargoArtifacts;
        src = testSrc;
        partitions = 1;
        partitionType = "count";
      }
    );
    clawgate-doc = craneLib.cargoDoc (commonArgs // { inherit cargoArtifacts; });
    # Licenses, bans and sources; advisories need a database from the network.
    clawgate-deny = craneLib.cargoDeny { inherit src; };
  };
}
