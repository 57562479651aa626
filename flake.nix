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
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      build = pkgs: import ./nix/package.nix {
        inherit (pkgs) lib;
        craneLib = crane.mkLib pkgs;
      };
      defaultPackage = pkgs: self.packages.${pkgs.stdenv.hostPlatform.system}.default;
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
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };
        clawgate-mock = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.clawgate-mock;
        };
      });

      overlays.default = final: _prev: {
        inherit (build final) clawgate clawgate-mock;
      };

      homeManagerModules = {
        default = self.homeManagerModules.clawgate;
        clawgate = import ./nix/hm-module.nix { inherit defaultPackage; };
      };

      nixosModules = {
        default = self.nixosModules.clawgate;
        clawgate = import ./nix/nixos-module.nix { inherit defaultPackage; };
      };

      devShells = forAllSystems (pkgs: {
        default = (crane.mkLib pkgs).devShell {
          checks = self.checks.${pkgs.stdenv.hostPlatform.system};
          packages = [
            pkgs.cargo-nextest
            pkgs.python3Packages.openai
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt);

      checks = forAllSystems (
        pkgs:
        (build pkgs).checks
        // import ./nix/checks.nix {
          inherit pkgs self home-manager;
        }
      );
    };
}
