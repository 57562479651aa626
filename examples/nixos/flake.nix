# A NixOS machine running clawgate as a system service. The key files are
# provisioned outside the store (by hand, sops-nix, agenix, ...).
#
#   nixos-rebuild switch --flake .#gateway
#   systemctl status clawgate
{
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    clawgate = {
      # Where you get clawgate from: its repository, or a local checkout
      # ("path:/home/alice/src/clawgate").
      url = "github:clawgate/clawgate";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    { nixpkgs, clawgate, ... }:
    {
      nixosConfigurations.gateway = nixpkgs.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [
          clawgate.nixosModules.default
          ./configuration.nix
        ];
      };
    };
}
