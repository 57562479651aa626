{
  description = "clawgate: an OpenAI-compatible gateway for Kimi, Kimi Code and OpenRouter with a fallback chain";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    crane.url = "github:ipetkov/crane";
    home-manager = {
      url = "github:nix-community/home-manager";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      crane,
      home-manager,
    }:
    let
      # The nixpkgs flake's own lib: it has nixosSystem (pkgs.lib does not).
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      build =
        pkgs:
        import ./nix/package.nix {
          inherit (pkgs) lib;
          craneLib = crane.mkLib pkgs;
          # The LLVM rustc was built with, for the profile's tools; nixpkgs
          # builds rustc's profiler runtime for Linux only, and the training
          # runs the instrumented gateway, so a cross build is built plainly.
          llvm =
            let
              inherit (pkgs.stdenv) hostPlatform buildPlatform;
            in
            if hostPlatform.isLinux && buildPlatform.canExecute hostPlatform then
              pkgs.buildPackages.rustc.llvmPackages.llvm
            else
              null;
        };
      packageFor = pkgs: self.packages.${pkgs.stdenv.hostPlatform.system}.default;

      # The modules as users import them: the module file, with this flake's
      # package as the default (pkgs.clawgate, from the overlay, otherwise).
      withPackage =
        class: file:
        { lib, pkgs, ... }:
        {
          _class = class;
          # One key: importing homeModules.default and .clawgate (or the old
          # homeManagerModules name) together declares the options once.
          key = "clawgate-flake-${class}-module";
          imports = [ file ];
          services.clawgate.package = lib.mkDefault (packageFor pkgs);
        };
    in
    {
      packages = forAllSystems (
        pkgs:
        let
          built = build pkgs;
        in
        {
          default = built.clawgate;
          inherit (built) clawgate clawgate-mock;
        }
      );

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = lib.getExe (packageFor pkgs);
          meta.description = "Run clawgate (clawgate serve starts the gateway)";
        };
        clawgate-mock = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.clawgate-mock;
          meta.description = "A fake OpenAI-compatible provider with injectable faults, for trying clawgate without keys";
        };
      });

      overlays.default = final: _prev: {
        inherit (build final) clawgate clawgate-mock;
      };

      homeModules = {
        default = self.homeModules.clawgate;
        clawgate = withPackage "homeManager" ./nix/hm-module.nix;
      };
      # The older name, kept for existing configurations.
      homeManagerModules = self.homeModules;

      nixosModules = {
        default = self.nixosModules.clawgate;
        clawgate = withPackage "nixos" ./nix/nixos-module.nix;
      };

      # The cargo checks only: the module checks and VM tests need no shell.
      devShells = forAllSystems (pkgs: {
        default = (crane.mkLib pkgs).devShell {
          checks = (build pkgs).checks;
          packages = [
            pkgs.cargo-nextest
            pkgs.python3Packages.openai
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);

      checks = forAllSystems (
        pkgs:
        (build pkgs).checks
        // import ./nix/checks.nix {
          inherit
            pkgs
            self
            nixpkgs
            home-manager
            ;
        }
      );
    };
}
