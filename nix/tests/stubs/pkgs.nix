# A stand-in for nixpkgs' package set, for evaluating the flake and the
# modules where nixpkgs cannot be reached. Packages and builds are real
# derivations (so `nix flake check --no-build` accepts them) whose builder
# only fails: nothing here can be built. Files written with writeText land in
# the store through builtins.toFile, so tests can read them back.
{ lib, system }:
let
  inherit (lib) types;
  isDarwin = lib.hasSuffix "-darwin" system;
  drv =
    name: attrs:
    derivation (
      {
        inherit name system;
        builder = "/bin/sh";
        args = [
          "-c"
          "echo 'a stand-in derivation: nothing here can be built' >&2; exit 1"
        ];
      }
      // attrs
    );
  package =
    name: mainProgram:
    drv name { }
    // {
      pname = name;
      meta.mainProgram = mainProgram;
    };

  # nixpkgs' pkgs.formats.json type (pkgs/pkgs-lib/formats.nix).
  jsonValue =
    types.nullOr (
      types.oneOf [
        types.bool
        types.int
        types.float
        types.str
        types.path
        (types.attrsOf jsonValue)
        (types.listOf jsonValue)
      ]
    )
    // {
      description = "JSON value";
    };
  pkgs = {
  inherit lib;
  # Overlays (nix-openclaw's) are not applied: their packages stay absent,
  # and only what a test forces is evaluated.
  extend = _overlay: pkgs;
  stdenv.hostPlatform = {
    inherit system isDarwin;
    isLinux = !isDarwin;
  };
  # A native set: the build machine runs what it builds.
  stdenv.buildPlatform = {
    inherit system;
    canExecute = platform: platform.system == system;
  };

  coreutils = package "coreutils" "coreutils";
  jq = package "jq" "jq";
  curl = package "curl" "curl";
  bash = package "bash" "bash";
  systemd = package "systemd" "systemctl";
  sd-switch = package "sd-switch" "sd-switch";
  nixfmt-tree = package "nixfmt-tree" "treefmt";
  cargo-nextest = package "cargo-nextest" "cargo-nextest";
  # rustc with the LLVM it was built with (the package's profile tools).
  rustc.llvmPackages.llvm = drv "llvm" { };
  buildPackages = pkgs;
  python3Packages.openai = package "python3-openai" "openai";
  emptyDirectory = drv "empty-directory" { };

  formats.json =
    { }:
    {
      type = jsonValue;
      generate = name: value: builtins.toFile name (builtins.toJSON value);
    };
  formats.ini =
    { ... }:
    {
      type = types.attrsOf (types.attrsOf types.anything);
      generate = name: value: builtins.toFile name (lib.generators.toINI { } value);
    };

  # The script is kept (readable with builtins.readFile "${drv.scriptFile}"),
  # and passthru attributes are merged in as nixpkgs does.
  runCommand =
    name: env: script:
    drv name { scriptFile = pkgs.writeText "${name}-script" script; } // (env.passthru or { });
  # builtins.toFile cannot refer to derivations: text that does becomes a
  # derivation attribute instead.
  writeText =
    name: text:
    let
      refersToDerivation = builtins.any (c: c ? outputs || c ? allOutputs) (
        builtins.attrValues (builtins.getContext text)
      );
    in
    if refersToDerivation then drv name { inherit text; } else builtins.toFile name text;
  writeTextFile = { name, text, ... }: pkgs.writeText name text;
  writeShellScript = pkgs.writeText;
  writeScriptBin = name: _text: drv name { };
  symlinkJoin = { name, ... }: drv name { };
  testers.runNixOSTest = test: drv "vm-test-run-${test.name}" { } // { inherit test; };
  };
in
pkgs
