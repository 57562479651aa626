# Flake checks beyond cargo's: the modules evaluated with real nixpkgs and
# home-manager (NixOS from the nixpkgs flake's lib.nixosSystem), the examples
# validated, and NixOS VM tests (Linux only). The evaluation suite
# (nix/tests/modules-eval.nix) reads back files it writes, which pure
# evaluation forbids; nix/tests/run.sh runs it.
{
  pkgs,
  self,
  nixpkgs,
  home-manager,
}:
let
  # The nixpkgs flake's lib (nixosSystem lives there, not in pkgs.lib).
  inherit (nixpkgs) lib;
  inherit (pkgs.stdenv.hostPlatform) system isLinux isDarwin;
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

  # Fails the build unless jq finds `filter` true of the JSON file.
  expectJq =
    name: file: filter:
    pkgs.runCommand name { nativeBuildInputs = [ pkgs.jq ]; } ''
      jq -e ${lib.escapeShellArg filter} ${file}
      touch $out
    '';

  # The generated config holds the fixture's chain and no null left over
  # from unset options.
  chainFilter = ''
    .agents.defaults.model.primary == "kimi/kimi-for-coding"
    and .agents.defaults.model.fallbacks == ["openrouter/moonshotai/kimi-k2.6"]
    and ([.. | select(. == null)] | length == 0)
  '';

  # A NixOS system with these services.clawgate options.
  nixosWith =
    clawgate:
    lib.nixosSystem {
      modules = [
        self.nixosModules.default
        {
          nixpkgs.hostPlatform = system;
          services.clawgate = fixture.serviceOptions // clawgate;
          boot.loader.grub.enable = false;
          fileSystems."/".device = "none";
          system.stateVersion = "26.05";
        }
      ];
    };

  nixos = nixosWith {
    environmentFile = "/run/keys/clawgate.env";
    credentials.OPENROUTER_API_KEY = "/run/keys/openrouter";
  };

  # Two clients, their keys from the environment file, and the ledger in a
  # local PostgreSQL (database.createLocally).
  nixosDatabase = nixosWith {
    environmentFile = "/run/keys/clawgate.env";
    database.createLocally = true;
    settings = fixture.serviceOptions.settings // {
      gateway.clients = {
        alice.key = "\${ALICE_KEY}";
        ci.key = "sha256:34b089c4832360d95d0e0a0e4ddfc0ecee99618b66504ef9cb11c6f1fbdcb6c1";
      };
    };
  };

  home = home-manager.lib.homeManagerConfiguration {
    inherit pkgs;
    modules = [
      self.homeModules.default
      {
        home.username = "alice";
        home.homeDirectory = if isDarwin then "/Users/alice" else "/home/alice";
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
  module-home-manager-config = expectJq "clawgate-module-home-manager-config" homeFiles."clawgate/config.json".source chainFilter;

  # Every example config validates.
  examples = pkgs.runCommand "clawgate-examples" { nativeBuildInputs = [ clawgate ]; } ''
    for file in ${../examples}/*.json5; do
      clawgate config validate --offline --config "$file"
    done
    touch $out
  '';
}
// lib.optionalAttrs isLinux {
  module-nixos =
    expectLines "clawgate-module-nixos"
      (pkgs.writeText "clawgate.service" nixos.config.systemd.units."clawgate.service".text)
      [
        "Type=notify"
        "DynamicUser=true"
        "StateDirectory=clawgate"
        "EnvironmentFile=/run/keys/clawgate.env"
        "LoadCredential=OPENROUTER_API_KEY:/run/keys/openrouter"
        "ExecReload=${pkgs.coreutils}/bin/kill -HUP $MAINPID"
        "WatchdogSec=30"
        "ProtectSystem=strict"
        "X-Reload-Triggers=${nixos.config.environment.etc."clawgate/config.json".source}"
      ];

  # NixOS renders `after` and `wants` as one line each.
  module-nixos-database =
    expectLines "clawgate-module-nixos-database"
      (pkgs.writeText "clawgate.service" nixosDatabase.config.systemd.units."clawgate.service".text)
      [
        "After=network-online.target postgresql.service postgresql.target"
        "Wants=network-online.target postgresql.service postgresql.target"
        "User=clawgate"
        "DynamicUser=false"
        "EnvironmentFile=/run/keys/clawgate.env"
      ];

  module-nixos-database-config =
    expectJq "clawgate-module-nixos-database-config"
      nixosDatabase.config.environment.etc."clawgate/config.json".source
      ''
        .ledger.store == "postgresql://clawgate@/clawgate?host=/run/postgresql"
        and (.gateway.clients | keys) == ["alice", "ci"]
        and .gateway.clients.alice.key == "''${ALICE_KEY}"
        and ([.. | strings | select(test("password"; "i"))] | length == 0)
      '';

  module-nixos-config = expectJq "clawgate-module-nixos-config" nixos.config.environment.etc."clawgate/config.json".source chainFilter;

  module-home-manager = expectLines "clawgate-module-home-manager" homeFiles."systemd/user/clawgate.service".source [
    "Type=notify"
    "ExecStart=${lib.getExe clawgate} serve --config /home/alice/.config/clawgate/config.json --log-level info --env-file %h/.config/clawgate/secrets.env"
    "EnvironmentFile=%h/.config/clawgate/secrets.env"
    "WantedBy=default.target"
    "NoNewPrivileges=true"
    "X-Reload-Triggers=${homeFiles."clawgate/config.json".source}"
  ];

  vm-system = import ./tests/vm-system.nix { inherit pkgs self; };
  vm-database = import ./tests/vm-database.nix { inherit pkgs self; };
  vm-home-manager = import ./tests/vm-home-manager.nix { inherit pkgs self home-manager; };
}
// lib.optionalAttrs isDarwin {
  # The launchd agent: clawgate itself reads the env file, logs go to
  # ~/Library/Logs.
  module-home-manager-launchd = expectJq "clawgate-module-home-manager-launchd" (pkgs.writeText "clawgate-agent.json" (
    builtins.toJSON home.config.launchd.agents.clawgate.config
  )) ''
    .ProgramArguments == ["${lib.getExe clawgate}", "serve", "--config", "/Users/alice/.config/clawgate/config.json",
      "--log-level", "info", "--env-file", "/Users/alice/.config/clawgate/secrets.env"]
    and .StandardOutPath == "/Users/alice/Library/Logs/clawgate.log"
    and .KeepAlive.SuccessfulExit == false
  '';
}
