# A stand-in for the parts of NixOS the clawgate module touches, with
# `nixpkgs.hostPlatform` choosing the stand-in package set, and
# `systemd.units.<name>.text` rendered from systemd.services (their
# serviceConfig, unitConfig, after, wants and requires) by
# nix/unit-file.nix (not NixOS's renderer: the lines NixOS writes are only
# checked by the flake's own module-nixos check on a machine with nixpkgs).
{ lib, config, ... }:
let
  inherit (lib) mkOption types;
  loose = mkOption {
    type = types.attrsOf types.unspecified;
    default = { };
  };
  strings = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
in
{
  options = {
    nixpkgs.hostPlatform = mkOption {
      type = types.str;
      default = "x86_64-linux";
    };
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
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
      type = types.attrsOf (
        types.submodule {
          freeformType = types.attrsOf types.unspecified;
          options.reloadTriggers = mkOption {
            type = types.listOf types.unspecified;
            default = [ ];
          };
          options.restartTriggers = mkOption {
            type = types.listOf types.unspecified;
            default = [ ];
          };
          options.after = strings;
          options.wants = strings;
          options.requires = strings;
          options.serviceConfig = loose;
          options.unitConfig = loose;
        }
      );
      default = { };
    };
    systemd.tmpfiles.rules = strings;
    systemd.units = mkOption {
      type = types.attrsOf (types.attrsOf types.unspecified);
      default = { };
    };
    boot.loader.grub.enable = mkOption {
      type = types.bool;
      default = true;
    };
    fileSystems = loose;
    # nixpkgs' services.postgresql, the options clawgate's module sets.
    services.postgresql = {
      enable = mkOption {
        type = types.bool;
        default = false;
      };
      ensureDatabases = strings;
      ensureUsers = mkOption {
        type = types.listOf (types.attrsOf types.unspecified);
        default = [ ];
      };
      authentication = mkOption {
        type = types.lines;
        default = "";
      };
    };
    system.stateVersion = mkOption {
      type = types.str;
      default = "26.05";
    };
    users = loose;
  };

  config = {
    _module.args.pkgs = import ./pkgs.nix {
      inherit lib;
      system = config.nixpkgs.hostPlatform;
    };
    systemd.units = lib.mapAttrs' (
      name: service:
      lib.nameValuePair "${name}.service" {
        text = import ../../unit-file.nix {
          Unit =
            service.unitConfig
            // {
              After = service.after;
              Wants = service.wants;
              Requires = service.requires;
            }
            // lib.optionalAttrs (service.reloadTriggers != [ ]) {
              X-Reload-Triggers = map toString service.reloadTriggers;
            }
            // lib.optionalAttrs (service.restartTriggers != [ ]) {
              X-Restart-Triggers = map toString service.restartTriggers;
            };
          Service = lib.filterAttrs (_: value: value != [ ]) service.serviceConfig;
        };
      }
    ) config.systemd.services;
  };
}
