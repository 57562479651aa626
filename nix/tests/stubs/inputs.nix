# Stand-ins for the flake's inputs, built on the real nixpkgs.lib (and
# home-manager's own modules/systemd.nix, modules/launchd and lib when a
# checkout is given): enough to evaluate every output of flake.nix without
# nixpkgs' package set. Used by nix/tests/modules-eval.nix, which calls the
# flake's `outputs` with them, and by nix/tests/run.sh, which wraps them as
# flakes for `nix flake check --no-build --override-input`.
{
  # nixpkgs.lib, as imported from a checkout's lib/.
  lib,
  # Checkouts (paths) or null. nixpkgsTree holds lib/ (nixpkgs or
  # nixpkgs.lib): the stand-in nixpkgs flake's outPath.
  nixpkgsTree ? null,
  homeManager ? null,
  crane ? null,
}:
let
  systems = [
    "x86_64-linux"
    "aarch64-linux"
    "x86_64-darwin"
    "aarch64-darwin"
  ];
  pkgsFor = system: import ./pkgs.nix { inherit lib system; };
  real = homeManager != null;
  # home-manager's lib.hm (dag, types) on top of nixpkgs.lib.
  hmLib = if real then import "${homeManager}/modules/lib/stdlib-extended.nix" lib else lib;

  # What home-manager.lib.homeManagerConfiguration returns, as far as the
  # checks use it: { config, options, ... }.
  homeManagerConfiguration =
    {
      pkgs,
      modules,
      extraSpecialArgs ? { },
      ...
    }:
    hmLib.evalModules {
      class = "homeManager";
      modules =
        modules
        ++ [ (import ./home.nix { inherit real; }) ]
        ++ lib.optionals real [
          "${homeManager}/modules/systemd.nix"
          "${homeManager}/modules/launchd/default.nix"
        ];
      specialArgs = {
        # home-manager passes pkgs as a module argument; so do we.
        inherit pkgs;
      }
      // extraSpecialArgs;
    };

  nixosSystem =
    {
      modules,
      specialArgs ? { },
      ...
    }:
    lib.evalModules {
      class = "nixos";
      modules = modules ++ [ ./nixos.nix ];
      inherit specialArgs;
    };
in
{
  inherit
    systems
    pkgsFor
    hmLib
    homeManagerConfiguration
    ;

  nixpkgs = {
    # Like the nixpkgs flake's lib: nixpkgs.lib plus nixosSystem.
    lib = lib // {
      inherit nixosSystem;
    };
    legacyPackages = lib.genAttrs systems pkgsFor;
  }
  // lib.optionalAttrs (nixpkgsTree != null) { outPath = nixpkgsTree; };

  crane.mkLib = pkgs: import ./crane.nix { inherit pkgs crane; };

  home-manager = lib.optionalAttrs real { outPath = homeManager; } // {
    lib = {
      inherit homeManagerConfiguration;
    };
    nixosModules.home-manager = { };
  };
}
