# A stand-in for the parts of home-manager the clawgate module (and
# nix-openclaw's module) touch, declaring just those options. With a
# home-manager checkout, its real modules/systemd.nix and modules/launchd
# are evaluated beside this; without one, `systemd.user.services` and
# `launchd.agents` are declared here as loose attribute sets.
{ real }:
{
  lib,
  config,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  loose = mkOption {
    type = types.attrsOf types.unspecified;
    default = { };
  };
  looseList = mkOption {
    type = types.listOf types.unspecified;
    default = [ ];
  };
  fileType = types.attrsOf (
    types.submodule {
      freeformType = types.attrsOf types.unspecified;
      options.onChange = mkOption {
        type = types.lines;
        default = "";
      };
    }
  );
in
{
  options =
    {
      assertions = looseList;
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      meta = loose;
      home.username = mkOption {
        type = types.str;
        default = "alice";
      };
      home.homeDirectory = mkOption {
        type = types.str;
        default = "/home/alice";
      };
      home.stateVersion = mkOption {
        type = types.str;
        default = "26.05";
      };
      home.packages = looseList;
      home.activation = loose;
      home.extraBuilderCommands = mkOption {
        type = types.lines;
        default = "";
      };
      home.file = mkOption {
        type = fileType;
        default = { };
      };
      xdg.configHome = mkOption {
        type = types.str;
        default = "${config.home.homeDirectory}/.config";
      };
      xdg.configFile = mkOption {
        type = fileType;
        default = { };
      };
      xdg.dataFile = mkOption {
        type = fileType;
        default = { };
      };
      programs.git.enable = mkOption {
        type = types.bool;
        default = false;
      };
    }
    // lib.optionalAttrs (!real) {
      systemd.user.services = mkOption {
        type = types.attrsOf (types.attrsOf (types.attrsOf types.unspecified));
        default = { };
      };
      launchd.agents = mkOption {
        type = types.attrsOf (
          types.submodule (
            { name, ... }:
            {
              options.enable = mkOption {
                type = types.bool;
                default = false;
              };
              options.config = mkOption {
                type = types.submodule {
                  freeformType = types.attrsOf types.unspecified;
                  options.Label = mkOption {
                    type = types.str;
                    default = "org.nix-community.home.${name}";
                  };
                };
                default = { };
              };
            }
          )
        );
        default = { };
      };
    };

  # Without home-manager's systemd.nix: units rendered by nix/unit-file.nix.
  config = lib.optionalAttrs (!real) {
    xdg.configFile = lib.mapAttrs' (
      name: unit:
      lib.nameValuePair "systemd/user/${name}.service" {
        source = pkgs.writeText "${name}.service" (import ../../unit-file.nix unit);
      }
    ) config.systemd.user.services;
  };
}
