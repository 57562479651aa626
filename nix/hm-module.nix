# home-manager module: services.clawgate as a user service.
{ defaultPackage ? null }:
{ config, lib, pkgs, ... }:
let
  cfg = config.services.clawgate;
  common = import ./common.nix { inherit lib pkgs; };
  configFile = common.configFile cfg.package cfg.settings;
  configPath = "${config.xdg.configHome}/clawgate/config.json";
in
{
  options.services.clawgate = common.options // {
    package = lib.mkOption {
      type = lib.types.package;
      default = if defaultPackage == null then pkgs.clawgate else defaultPackage pkgs;
      defaultText = lib.literalExpression "the clawgate flake's package";
      description = "The clawgate package.";
    };
  };

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
