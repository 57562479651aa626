# NixOS module: services.clawgate as a system service with DynamicUser.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.clawgate;
  common = import ./common.nix { inherit lib pkgs; };
  configFile = common.configFile cfg.package cfg.settings;
  configPath = "/etc/clawgate/config.json";
  service = import ./service.nix {
    command = common.command cfg configPath;
    environmentFiles = map toString cfg.environmentFile;
    kill = "${pkgs.coreutils}/bin/kill";
    system = true;
    environment.CLAWGATE_STATE_DIR = "/var/lib/clawgate";
  };
  bind = cfg.settings.gateway.bind;
  loopback =
    builtins.elem bind [
      "localhost"
      "loopback"
      "::1"
      "[::1]"
    ]
    || lib.hasPrefix "127." bind
    || lib.hasPrefix "::ffff:127." bind;
  token = lib.attrByPath [ "gateway" "auth" "token" ] null cfg.settings;
  # A key is required with the token or any client.
  keyed = token != null || lib.attrByPath [ "gateway" "clients" ] { } cfg.settings != { };
  # A ledger outside the state directory must be writable through
  # ProtectSystem=strict.
  ledgerPath = lib.attrByPath [ "ledger" "path" ] null cfg.settings;
  ledgerDirs = lib.optional (
    ledgerPath != null && !(lib.hasPrefix "/var/lib/clawgate/" ledgerPath)
  ) (dirOf ledgerPath);
in
{
  _class = "nixos";

  options.services.clawgate = common.options // {
    credentials = lib.mkOption {
      type = lib.types.attrsOf lib.types.str;
      default = { };
      example = {
        MOONSHOT_API_KEY = "/run/secrets/moonshot";
      };
      description = ''
        Secrets passed with systemd LoadCredential=, by variable name: the
        file's content becomes `''${NAME}` in the config (clawgate reads
        $CREDENTIALS_DIRECTORY). An alternative to environmentFile that keeps
        keys out of the process environment.
      '';
    };
    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Open settings.gateway.port in the firewall. Refused unless the
        gateway binds a non-loopback address and settings.gateway.auth.token
        or settings.gateway.clients is set.
      '';
    };
    openclaw.provider = common.openclawOptions.provider;
  };

  config = lib.mkMerge [
    { services.clawgate.openclaw.provider = (common.openclaw cfg.settings).provider; }

    (lib.mkIf (cfg.enable && cfg.telemetry.enable) {
      services.clawgate.settings.gateway.telemetry = common.telemetrySettings cfg.telemetry;
    })

    (lib.mkIf cfg.enable {
      assertions =
        common.secretAssertions (cfg.environmentFile ++ lib.attrValues cfg.credentials)
        ++ common.extraArgsAssertions cfg.extraArgs
        ++ [
          {
            assertion = !cfg.openFirewall || (!loopback && keyed);
            message = "services.clawgate.openFirewall: the gateway must bind a non-loopback address (settings.gateway.bind = \"${bind}\") and have settings.gateway.auth.token or settings.gateway.clients set before its port is opened";
          }
        ];
      warnings = common.secretWarnings cfg.settings;

      environment.etc."clawgate/config.json".source = configFile;
      environment.systemPackages = [ cfg.package ];
      environment.variables.CLAWGATE_CONFIG = configPath;
      networking.firewall.allowedTCPPorts = lib.optional cfg.openFirewall cfg.settings.gateway.port;

      systemd.services.clawgate = {
        description = service.Unit.Description;
        after = service.Unit.After;
        wants = service.Unit.Wants;
        wantedBy = service.Install.WantedBy;
        # /etc/clawgate/config.json is re-read on SIGHUP: a new config
        # reloads, a new package restarts (ExecStart changes).
        reloadTriggers = [ configFile ];
        unitConfig = { inherit (service.Unit) StartLimitIntervalSec StartLimitBurst; };
        serviceConfig = service.Service // {
          LoadCredential = lib.mapAttrsToList (name: path: "${name}:${path}") cfg.credentials;
          ReadWritePaths = ledgerDirs;
        };
      };
    })
  ];
}
