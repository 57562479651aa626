# A home-manager configuration running clawgate as a user service (a
# systemd user unit on Linux, a launchd agent on macOS): Kimi Coding first,
# OpenRouter as the fallback. Keys live in ~/.config/clawgate/secrets.env
# (chmod 600), outside the Nix store.
#
#   home-manager switch --flake .#alice
#   systemctl --user status clawgate            # Linux
#   launchctl print gui/$UID/org.nix-community.home.clawgate   # macOS
{
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    home-manager = {
      url = "github:nix-community/home-manager";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    clawgate = {
      # Where you get clawgate from: its repository, or a local checkout
      # ("path:/home/alice/src/clawgate").
      url = "github:clawgate/clawgate";
      inputs.nixpkgs.follows = "nixpkgs";
      inputs.home-manager.follows = "home-manager";
    };
  };

  outputs =
    { nixpkgs, home-manager, clawgate, ... }:
    {
      homeConfigurations.alice = home-manager.lib.homeManagerConfiguration {
        # aarch64-darwin on a Mac (and home.homeDirectory = "/Users/alice").
        pkgs = nixpkgs.legacyPackages.x86_64-linux;
        modules = [
          clawgate.homeModules.default
          {
            home.username = "alice";
            home.homeDirectory = "/home/alice";
            home.stateVersion = "26.05";

            services.clawgate = {
              enable = true;
              environmentFile = "%h/.config/clawgate/secrets.env";
              settings = {
                agents.defaults.model = {
                  primary = "kimi/kimi-for-coding";
                  fallbacks = [ "openrouter/moonshotai/kimi-k2.6" ];
                };
                agents.defaults.models."kimi/kimi-for-coding".alias = "kimi";
              };
            };
          }
        ];
      };
    };
}
