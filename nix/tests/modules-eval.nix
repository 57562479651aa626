# Evaluates both modules with nixpkgs' real module system (lib.evalModules
# from nixpkgs.lib) against small stand-ins for the options they set; with a
# home-manager checkout, the user unit goes through home-manager's own
# modules/systemd.nix, so its option types and merging apply. No nixpkgs
# package set is needed. Run by nix/tests/run.sh:
#
#   nix-instantiate --read-write-mode --eval --strict --json nix/tests/modules-eval.nix \
#     --arg nixpkgsLib PATH [--arg homeManager PATH]
#
# Returns a list of the checks that ran; throws naming the first that fails.
{
  nixpkgsLib,
  homeManager ? null,
}:
let
  baseLib = import "${nixpkgsLib}/lib";
  lib =
    if homeManager == null then baseLib else import "${homeManager}/modules/lib/stdlib-extended.nix" baseLib;
  inherit (lib) mkOption types;
  fixture = import ./fixture.nix;
  secretsInStore = "${builtins.storeDir}/0000000000000000000000000000000-secrets.env";

  package = {
    type = "derivation";
    name = "clawgate-0.1.0";
    outPath = "${builtins.storeDir}/00000000000000000000000000000000-clawgate-0.1.0";
    meta.mainProgram = "clawgate";
  };

  # Just enough of a package set: files land in the store with
  # builtins.toFile, and a build is its script.
  pkgs = {
    clawgate = package;
    coreutils = "/coreutils";
    systemd = "/systemd";
    sd-switch = package;
    emptyDirectory = "/empty";
    stdenv.hostPlatform = {
      system = "x86_64-linux";
      isLinux = true;
    };
    formats.json = { }: {
      type = types.attrsOf types.anything;
      generate = name: value: builtins.toFile name (builtins.toJSON value);
    };
    formats.ini = { ... }: {
      type = types.attrsOf (types.attrsOf types.anything);
      generate = name: value: builtins.toFile name (lib.generators.toINI { } value);
    };
    runCommand = name: _env: script: builtins.toFile name script;
    writeText = builtins.toFile;
    writeTextFile = { name, text, ... }: builtins.toFile name text;
    symlinkJoin = { name, ... }: "/${name}";
  };

  stubs = {
    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      meta = mkOption {
        type = types.attrsOf types.unspecified;
        default = { };
      };
      home.packages = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      home.homeDirectory = mkOption {
        type = types.str;
        default = "/home/alice";
      };
      home.activation = mkOption {
        type = types.attrsOf types.unspecified;
        default = { };
      };
      xdg.configHome = mkOption {
        type = types.str;
        default = "/home/alice/.config";
      };
      xdg.configFile = mkOption {
        type = types.attrsOf (types.attrsOf types.unspecified);
        default = { };
      };
      xdg.dataFile = mkOption {
        type = types.attrsOf (types.attrsOf types.unspecified);
        default = { };
      };
      environment.etc = mkOption {
        type = types.attrsOf (types.attrsOf types.unspecified);
        default = { };
      };
      environment.systemPackages = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      environment.variables = mkOption {
        type = types.attrsOf types.str;
        default = { };
      };
      networking.firewall.allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
      systemd.services = mkOption {
        type = types.attrsOf (types.attrsOf types.unspecified);
        default = { };
      };
    };
  };
  userSystemdStub.options.systemd.user.services = mkOption {
    type = types.attrsOf (types.attrsOf (types.attrsOf types.unspecified));
    default = { };
  };

  # `userSystemd`: home-manager's modules/systemd.nix when a checkout is
  # given, else a stand-in option.
  evaluate =
    module: userSystemd: extra:
    (lib.evalModules {
      modules = [
        stubs
        module
        userSystemd
        { services.clawgate = fixture.serviceOptions // extra; }
      ];
      specialArgs = { inherit pkgs; };
    }).config;
  realUserSystemd = homeManager != null;
  hmSystemd = if realUserSystemd then "${homeManager}/modules/systemd.nix" else userSystemdStub;

  hmModule = import ../hm-module.nix { defaultPackage = _: package; };
  nixosModule = import ../nixos-module.nix { defaultPackage = _: package; };

  home = evaluate hmModule hmSystemd { environmentFile = "%h/.config/clawgate/secrets.env"; };
  homeInStore = evaluate hmModule hmSystemd { environmentFile = [ "-${secretsInStore}" ]; };
  nixos = evaluate nixosModule userSystemdStub {
    environmentFile = "/run/keys/clawgate.env";
    credentials.OPENROUTER_API_KEY = "/run/keys/openrouter";
    openFirewall = true;
  };

  unit = home.systemd.user.services.clawgate;
  system = nixos.systemd.services.clawgate;
  # The validation build's script, and the JSON it validates.
  buildScript = builtins.readFile home.xdg.configFile."clawgate/config.json".source;
  generated = builtins.fromJSON (
    builtins.readFile (builtins.head (builtins.match ".*--config ([^ \n]+).*" buildScript))
  );
  failedAssertions = config: builtins.filter (a: !a.assertion) config.assertions;

  checks = [
    {
      name = "home-manager: the user unit is Type=notify with reload and watchdog";
      ok =
        unit.Service.Type == "notify"
        && unit.Service.ExecReload == "/coreutils/bin/kill -HUP $MAINPID"
        && unit.Service.WatchdogSec == 30;
    }
    {
      name = "home-manager: ExecStart reads the file it writes";
      # home-manager's own type turns ExecStart into a list.
      ok =
        lib.toList unit.Service.ExecStart
        == [ "${package}/bin/clawgate serve --config /home/alice/.config/clawgate/config.json --log-level info" ];
    }
    {
      name = "home-manager: secrets come from the EnvironmentFile";
      ok = unit.Service.EnvironmentFile == [ "%h/.config/clawgate/secrets.env" ];
    }
    {
      name = "home-manager: WantedBy default.target and restart on config change";
      ok =
        unit.Install.WantedBy == [ "default.target" ]
        && unit.Unit.X-Restart-Triggers == [ "${home.xdg.configFile."clawgate/config.json".source}" ];
    }
    {
      name = "home-manager: clawgate is on the PATH";
      ok = home.home.packages == [ package ];
    }
    {
      name = "home-manager: the config is validated offline at build time";
      ok = builtins.match ".*clawgate config validate --offline --config .*" buildScript != null;
    }
    {
      name = "home-manager: the generated JSON holds the chain and no nulls";
      ok =
        generated.agents.defaults.model.primary == "kimi/kimi-for-coding"
        && generated.agents.defaults.model.fallbacks == [ "openrouter/moonshotai/kimi-k2.6" ]
        && generated.gateway.port == 18700
        && generated.models.providers == { };
    }
    {
      name = "home-manager: no assertion fails for a file outside the store";
      ok = failedAssertions home == [ ];
    }
    {
      name = "home-manager: an environment file in the store is refused";
      ok = builtins.length (failedAssertions homeInStore) == 1;
    }
    {
      name = "nixos: a sandboxed system service";
      ok =
        system.serviceConfig.DynamicUser
        && system.serviceConfig.ProtectSystem == "strict"
        && system.serviceConfig.Type == "notify"
        && system.wantedBy == [ "multi-user.target" ];
    }
    {
      name = "nixos: secrets through EnvironmentFile and LoadCredential";
      ok =
        system.serviceConfig.EnvironmentFile == [ "/run/keys/clawgate.env" ]
        && system.serviceConfig.LoadCredential == [ "OPENROUTER_API_KEY:/run/keys/openrouter" ];
    }
    {
      name = "nixos: config in /etc, CLI on the PATH, firewall opened on request";
      ok =
        nixos.environment.variables.CLAWGATE_CONFIG == "/etc/clawgate/config.json"
        && nixos.environment.systemPackages == [ package ]
        && nixos.networking.firewall.allowedTCPPorts == [ 18700 ]
        && system.restartTriggers == [ nixos.environment.etc."clawgate/config.json".source ];
    }
    {
      name = "both modules share one service definition";
      ok = builtins.all (key: lib.toList unit.Service.${key} == lib.toList system.serviceConfig.${key}) [
        "Type"
        "Restart"
        "WatchdogSec"
        "NoNewPrivileges"
        "SystemCallFilter"
        "RestrictAddressFamilies"
      ];
    }
  ]
  ++ (
    if realUserSystemd then
      let
        rendered = lib.generators.toINI { listsAsDuplicateKeys = true; } (
          lib.mapAttrs (_: lib.filterAttrs (_: value: value != null && value != [ ])) unit
        );
        lines = lib.splitString "\n" rendered;
      in
      [
        {
          name = "home-manager systemd.nix: the unit type-checks and becomes systemd/user/clawgate.service";
          ok = home.xdg.configFile ? "systemd/user/clawgate.service";
        }
        {
          name = "home-manager systemd.nix: the merged unit renders with repeated keys";
          ok = builtins.all (line: builtins.elem line lines) [
            "Type=notify"
            "EnvironmentFile=%h/.config/clawgate/secrets.env"
            "SystemCallFilter=@system-service"
            "SystemCallFilter=~@privileged"
            "WantedBy=default.target"
          ];
        }
      ]
    else
      [ ]
  );
  failed = builtins.filter (check: !check.ok) checks;
in
if failed == [ ] then
  map (check: check.name) checks
else
  throw "modules-eval: failed: ${builtins.concatStringsSep "; " (map (c: c.name) failed)}"
