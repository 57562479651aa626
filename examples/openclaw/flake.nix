# OpenClaw and clawgate together, from home-manager: OpenClaw (nix-openclaw)
# talks to one provider, `clawgate`, which sends each request along Kimi
# Coding -> OpenRouter. `services.clawgate.openclaw.enable` is the one line
# that writes that provider into OpenClaw's config, makes it OpenClaw's
# default model and starts OpenClaw's user service after clawgate's.
#
# Secrets live in files outside the Nix store (chmod 600):
#
#   ~/.config/clawgate/secrets.env   KIMI_API_KEY=sk-kimi-...
#                                    OPENROUTER_API_KEY=sk-or-...
#   ~/.config/clawgate/token.env     CLAWGATE_TOKEN=<a long random string>
#
# clawgate reads both; OpenClaw reads token.env, because its provider entry
# says apiKey = "${CLAWGATE_TOKEN}".
#
#   home-manager switch --flake .#alice
#   systemctl --user status clawgate openclaw-gateway
{
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    home-manager = {
      url = "github:nix-community/home-manager";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    nix-openclaw = {
      url = "github:openclaw/nix-openclaw";
      inputs.nixpkgs.follows = "nixpkgs";
      inputs.home-manager.follows = "home-manager";
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
    {
      nixpkgs,
      home-manager,
      nix-openclaw,
      clawgate,
      ...
    }:
    let
      # aarch64-darwin on a Mac (and home.homeDirectory = "/Users/alice").
      system = "x86_64-linux";
    in
    {
      homeConfigurations.alice = home-manager.lib.homeManagerConfiguration {
        pkgs = nixpkgs.legacyPackages.${system}.extend nix-openclaw.overlays.default;
        modules = [
          nix-openclaw.homeManagerModules.openclaw
          clawgate.homeModules.default
          {
            home.username = "alice";
            home.homeDirectory = "/home/alice";
            home.stateVersion = "26.05";

            services.clawgate = {
              enable = true;
              environmentFile = [
                "%h/.config/clawgate/secrets.env"
                "%h/.config/clawgate/token.env"
              ];
              settings = {
                gateway.auth.token = "\${CLAWGATE_TOKEN}";
                agents.defaults.model = {
                  primary = "kimi/kimi-for-coding";
                  fallbacks = [ "openrouter/moonshotai/kimi-k2.6" ];
                };
                agents.defaults.thinkingDefault = "low";
              };
              # The one line: the `clawgate` provider in OpenClaw's config,
              # OpenClaw's default model clawgate/kimi/kimi-for-coding, and
              # openclaw-gateway.service after clawgate.service.
              openclaw.enable = true;
            };

            programs.openclaw = {
              enable = true;
              # CLAWGATE_TOKEN for the provider's apiKey: nix-openclaw reads
              # a file given here at start (NAME=value or the bare value).
              environment.CLAWGATE_TOKEN = "/home/alice/.config/clawgate/token.env";
            };
          }
        ];
      };
    };
}
