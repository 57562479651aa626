# home-manager module: services.clawgate as a user service.
{ defaultPackage ? null }:
{ config, lib, pkgs, ... }:
let
  cfg = config.services.clawgate;
  common = import ./common.nix { inherit lib pkgs defaultPackage; };
  configFile = common.configFile cfg.package cfg.settings;
  configPath = "${config.xdg.configHome}/clawgate/config.json";
in
{
  options.services.clawgate = common.options;

  config = lib.mkIf cfg.enable {
    assertions = common.secretAssertions cfg.environmentFile;

    # `clawgate models list` and friends read the same file by default.
    home.packages = [ cfg.package ];
    xdg.configFile."clawgate/config.json".source = configFile;

    systemd.user.services.clawgate = import ./service.nix {
      command = common.command cfg configPath;
      environmentFiles = map toString cfg.environmentFile;
      kill = "${pkgs.coreutils}/bin/kill";
      restartTriggers = [ "${configFile}" ];
    };
  };
}
