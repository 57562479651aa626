# Flake checks beyond cargo's: the modules evaluated with real nixpkgs and
# home-manager, the examples validated, and NixOS VM tests (Linux only).
{
  pkgs,
  self,
  home-manager,
}:
let
  inherit (pkgs) lib;
  system = pkgs.stdenv.hostPlatform.system;
  clawgate = self.packages.${system}.default;
  fixture = import ./tests/fixture.nix;

  # Fails the build unless every line of `expected` is a line of the file.
  expectLines =
    name: file: expected:
    pkgs.runCommand name { } ''
      while IFS= read -r line; do
        grep -qxF -- "$line" ${file} || { echo "missing: $line"; cat ${file}; exit 1; }
      done < ${pkgs.writeText "${name}-expected" (lib.concatLines expected)}
      touch $out
    '';

  # The generated config holds the fixture's chain and no null left over
  # from unset options.
  expectJson =
    name: file:
    pkgs.runCommand name { nativeBuildInputs = [ pkgs.jq ]; } ''
      jq -e '.agents.defaults.model.primary == "kimi/kimi-for-coding"
        and .agents.defaults.model.fallbacks == ["openrouter/moonshotai/kimi-k2.6"]
        and ([.. | select(. == null)] | length == 0)' ${file}
      touch $out
    '';

  nixos = lib.nixosSystem {
    inherit system;
    modules = [
      self.nixosModules.default
      {
        services.clawgate = fixture.serviceOptions // {
          environmentFile = "/run/keys/clawgate.env";
          credentials.OPENROUTER_API_KEY = "/run/keys/openrouter";
        };
        boot.loader.grub.enable = false;
        fileSystems."/".device = "none";
        system.stateVersion = "26.05";
      }
    ];
  };

  home = home-manager.lib.homeManagerConfiguration {
    inherit pkgs;
    modules = [
      self.homeManagerModules.default
      {
        home.username = "alice";
        home.homeDirectory = "/home/alice";
        home.stateVersion = "26.05";
        services.clawgate = fixture.serviceOptions // {
          environmentFile = "%h/.config/clawgate/secrets.env";
        };
      }
    ];
  };
  homeFiles = home.config.xdg.configFile;
in
{
  module-nixos = expectLines "clawgate-module-nixos" (pkgs.writeText "clawgate.service"
    nixos.config.systemd.units."clawgate.service".text) [
    "Type=notify"
    "DynamicUser=true"
    "StateDirectory=clawgate"
    "EnvironmentFile=/run/keys/clawgate.env"
    "LoadCredential=OPENROUTER_API_KEY:/run/keys/openrouter"
    "ExecReload=${pkgs.coreutils}/bin/kill -HUP $MAINPID"
    "WatchdogSec=30"
    "ProtectSystem=strict"
  ];

  module-nixos-config = expectJson "clawgate-module-nixos-config"
    nixos.config.environment.etc."clawgate/config.json".source;

  module-home-manager = expectLines "clawgate-module-home-manager"
    homeFiles."systemd/user/clawgate.service".source [
    "Type=notify"
    "ExecStart=${lib.getExe clawgate} serve --config /home/alice/.config/clawgate/config.json --log-level info"
    "EnvironmentFile=%h/.config/clawgate/secrets.env"
    "WantedBy=default.target"
    "NoNewPrivileges=true"
  ];

  module-home-manager-config = expectJson "clawgate-module-home-manager-config"
    homeFiles."clawgate/config.json".source;

  # Every example config validates.
  examples = pkgs.runCommand "clawgate-examples" { nativeBuildInputs = [ clawgate ]; } ''
    for file in ${../examples}/*.json5; do
      clawgate config validate --offline --config "$file"
    done
    touch $out
  '';
}
// lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux {
  vm-system = import ./tests/vm-system.nix { inherit pkgs self; };
  vm-home-manager = import ./tests/vm-home-manager.nix { inherit pkgs self home-manager; };
}
