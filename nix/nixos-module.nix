# NixOS module: services.clawgate as a system service with DynamicUser.
{ defaultPackage ? null }:
{ config, lib, pkgs, ... }:
let
  cfg = config.services.clawgate;
  common = import ./common.nix { inherit lib pkgs defaultPackage; };
  configFile = common.configFile cfg.package cfg.settings;
  configPath = "/etc/clawgate/config.json";
  service = import ./service.nix {
    command = common.command cfg configPath;
    environmentFiles = map toString cfg.environmentFile;
    kill = "${pkgs.coreutils}/bin/kill";
    system = true;
    environment.CLAWGATE_STATE_DIR = "/var/lib/clawgate";
  };
in
{
  options.services.clawgate = common.options // {
    credentials = lib.mkOption {
      type = lib.types.attrsOf lib.types.str;
      default = { };
      example = { MOONSHOT_API_KEY = "/run/secrets/moonshot"; };
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
      description = "Open settings.gateway.port in the firewall (needs a non-loopback bind and a token).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = common.secretAssertions (cfg.environmentFile ++ lib.attrValues cfg.credentials);

    environment.etc."clawgate/config.json".source = configFile;
    environment.systemPackages = [ cfg.package ];
    environment.variables.CLAWGATE_CONFIG = configPath;
    networking.firewall.allowedTCPPorts = lib.optional cfg.openFirewall cfg.settings.gateway.port;

    systemd.services.clawgate = {
      description = service.Unit.Description;
      after = service.Unit.After;
      wants = service.Unit.Wants;
      wantedBy = service.Install.WantedBy;
      restartTriggers = [ configFile ];
      unitConfig = { inherit (service.Unit) StartLimitIntervalSec StartLimitBurst; };
      serviceConfig = service.Service // {
        LoadCredential = lib.mapAttrsToList (name: path: "${name}:${path}") cfg.credentials;
      };
    };
  };
}
